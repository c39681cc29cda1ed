"""The remote-update endpoints (docs/update.md): the service's set-up (admin), packages (admin, station), and
the chain's server steps (any key of the issuer: the client software carries a terminal key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import JSONResponse

from . import updates
from .models import (
    CARD_ID,
    AckIn,
    AckOut,
    Challenge,
    Delivery,
    DeviceAuthIn,
    DeviceAuthOut,
    IssuerCheckIn,
    IssuerCheckOut,
    Unprocessable,
    UpdatePackage,
    UpdatePackageIn,
    UpdateService,
    UpdateServiceIn,
)
from .routes import ERRORS, Admin, Anyone, Reader, _tx

router = APIRouter(tags=["updates"])
INVALID = {**ERRORS, 422: {"model": Unprocessable}}
Session = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post("/v1/updates/service/key", response_model=UpdateService, responses=ERRORS)
def service_key(request: Request, who: Admin) -> dict:
    """The update service's public key, made on the first call: certify it offline with role service
    (`cardsmith issuer certify --role service`), then PUT the certificate."""
    return _tx(request, lambda conn: updates.service_key(conn, who))


@router.put("/v1/updates/service", response_model=UpdateService, responses=INVALID)
def put_service(request: Request, body: UpdateServiceIn, who: Admin) -> dict:
    """Stores the issuer's certificate of the service key and the issuer's root key (both checked)."""
    return _tx(request, lambda conn: updates.put_certificate(conn, who, body.certificate, body.issuer_key))


@router.get("/v1/updates/service", response_model=UpdateService, responses=ERRORS)
def get_service(request: Request, who: Anyone) -> dict:
    """The service's key and certificate: the client seals the card's certificate to this key."""
    return _tx(request, lambda conn: updates.service_info(conn, who))


@router.post("/v1/updates/packages", response_model=UpdatePackage, status_code=201,
             responses={200: {"model": UpdatePackage, "description": "Stored already: nothing changed"},
                        **INVALID})
def post_package(request: Request, body: UpdatePackageIn, who: Reader) -> Any:
    """Stores a package the issuer signed offline (encrypted to its card: the server cannot read it)."""
    entry, created = _tx(request, lambda conn: updates.upload(conn, who, bytes.fromhex(body.package)))
    return JSONResponse(entry, status_code=201 if created else 200)


@router.get("/v1/updates/packages", response_model=list[UpdatePackage], responses=ERRORS)
def list_packages(request: Request, who: Reader, card_id: Annotated[str | None, Query(pattern=CARD_ID)] = None,
                  state: Literal["pending", "delivered", "refused"] | None = None,
                  limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                  after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> list[dict]:
    """Packages and their delivery state, by id (`after`: the last id seen)."""
    return _tx(request, lambda conn: updates.packages(conn, who, card_id, state, limit, after))


@router.post("/v1/updates/issuer-check", response_model=IssuerCheckOut, responses=INVALID)
def issuer_check(request: Request, body: IssuerCheckIn, who: Anyone) -> dict:
    """Step 3 (issuer server check): opens the sealed update certificate and checks the issuer's signature."""
    return _tx(request, lambda conn: updates.issuer_check(conn, who, body.sealed_certificate))


@router.post("/v1/updates/sessions/{session}/challenge", response_model=Challenge, responses=ERRORS)
def challenge(request: Request, session: Session, who: Anyone) -> dict:
    """Step 4a: the server's nonce for INTERNAL AUTHENTICATE (once per session)."""
    return _tx(request, lambda conn: updates.challenge(conn, who, session))


@router.post("/v1/updates/sessions/{session}/authenticate", response_model=DeviceAuthOut, responses=INVALID)
def authenticate(request: Request, session: Session, body: DeviceAuthIn, who: Anyone) -> dict:
    """Step 4b (device authentication): the card's signature over its nonce and the server's. The challenge
    is used up first, in its own transaction: a wrong answer ends the session."""
    _tx(request, lambda conn: updates.consume_challenge(conn, who, session))
    return _tx(request, lambda conn: updates.authenticate(conn, who, session, body.card_nonce, body.signature))


@router.post("/v1/updates/sessions/{session}/delivery", response_model=Delivery, responses=ERRORS)
def delivery(request: Request, session: Session, who: Anyone,
             after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> dict:
    """Step 5: the next pending package after id `after`, with the service's signature binding it to this
    session; `done` when there is none."""
    return _tx(request, lambda conn: updates.delivery(conn, who, session, after))


@router.post("/v1/updates/sessions/{session}/ack", response_model=AckOut, responses=INVALID)
def acknowledge(request: Request, session: Session, body: AckIn, who: Anyone) -> dict:
    """The card's signed acknowledgement (the package is delivered, once), or the reason the card refused it."""
    return _tx(request, lambda conn: updates.acknowledge(conn, who, session, body.package_id, body.ack,
                                                         body.refused))
