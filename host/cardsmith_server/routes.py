"""The HTTP resources. Each endpoint checks the caller's role, opens one transaction and calls one function of
catalogue.py / issuance.py / auth.py; every query is scoped to the caller's issuer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from . import auth, catalogue, deny, issuance, usage
from .db import current_revision, head_revision
from .errors import ApiError, Conflict, Forbidden
from .models import (
    CARD_ID,
    DIGEST,
    BackupEntry,
    BatchIn,
    BatchView,
    CardSummary,
    Chain,
    DenyEntry,
    DenyIn,
    DenyList,
    Health,
    KeyIn,
    KeyOut,
    LogEntry,
    Problem,
    Ready,
    ReportIn,
    ReportOut,
    Reservation,
    ReserveIn,
    Unprocessable,
    UsageBatchIn,
    UsageCard,
    UsageCardView,
    UsageRecord,
    UsageUploadOut,
    WhoAmI,
)

T = TypeVar("T")
router = APIRouter()
bearer = HTTPBearer(auto_error=False, description="A key `csk_...` from `cardsmith server key add` or POST /v1/keys")
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": Problem} for s in (401, 403, 404, 409, 413, 503)}


class Unauthenticated(ApiError):
    status = 401


def _engine(request: Request) -> sa.Engine:
    return request.app.state.engine


def _tx(request: Request, work: Callable[[sa.Connection], T]) -> T:
    """``work`` in one transaction; a unique-constraint race with another process is run once more (it then
    sees the other's row and answers as for a repeat) and otherwise becomes a 409."""
    for attempt in range(2):
        try:
            with _engine(request).begin() as conn:
                return work(conn)
        except sa.exc.IntegrityError as exc:
            if attempt:
                raise Conflict("another request changed the same thing at the same moment; nothing was changed "
                               "by this one: send it again") from exc
    raise AssertionError("unreachable")


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> auth.Principal:
    if credentials is None:
        raise Unauthenticated("no credential: send `Authorization: Bearer csk_...` (a key the issuer granted)")
    with _engine(request).connect() as conn:
        who = auth.authenticate(conn, credentials.credentials)
    if who is None:
        raise Unauthenticated("the key is unknown, revoked or malformed: ask the issuer's admin for a key")
    request.state.key_id = who.key_id
    return who


def role(*allowed: str) -> Callable[..., auth.Principal]:
    def check(who: Annotated[auth.Principal, Depends(caller)]) -> auth.Principal:
        if who.role not in allowed:
            raise Forbidden(f"a {who.role} key cannot do this (it needs: {', '.join(allowed)})")
        return who

    return check


Admin = Annotated[auth.Principal, Depends(role("admin"))]
Station = Annotated[auth.Principal, Depends(role("station"))]
Reader = Annotated[auth.Principal, Depends(role("admin", "station"))]
Terminal = Annotated[auth.Principal, Depends(role("terminal"))]
Anyone = Annotated[auth.Principal, Depends(role("admin", "station", "terminal"))]
Digest = Annotated[str, Path(pattern=DIGEST, description="SHA-256 of the backup file, hex")]
CardId = Annotated[str, Path(pattern=CARD_ID)]


# ---------------------------------------------------------------- health


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz() -> dict:
    """The process answers (liveness)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={503: {"model": Problem}}, tags=["health"])
def readyz(request: Request) -> Any:
    """The database answers and its schema is this server's (readiness)."""
    engine = _engine(request)
    revision = current_revision(engine)
    if revision != head_revision():
        return JSONResponse({"detail": f"database schema {revision} is not {head_revision()}: restart the server "
                             "to migrate it"}, status_code=503)
    return {"status": "ready", "database": engine.dialect.name, "schema_revision": revision}


@router.get("/v1/whoami", response_model=WhoAmI, responses=ERRORS, tags=["keys"])
def whoami(who: Anyone) -> dict:
    return {"key_id": who.key_id, "issuer": who.issuer, "role": who.role, "name": who.name}


# ---------------------------------------------------------------- keys


@router.post("/v1/keys", response_model=KeyOut, status_code=201, responses=ERRORS, tags=["keys"])
def add_key(request: Request, body: KeyIn, who: Admin) -> dict:
    """A new key for a station, terminal or admin of the caller's issuer (the key is in this answer only)."""
    def work(conn: sa.Connection) -> dict:
        new, text = auth.create_key(conn, who.issuer, body.role, body.name)
        row = next(k for k in auth.list_keys(conn, who.issuer) if k["key_id"] == new.key_id)
        return {**row, "key": text}

    return _tx(request, work)


@router.get("/v1/keys", response_model=list[KeyOut], responses=ERRORS, tags=["keys"])
def list_keys(request: Request, who: Admin) -> list[dict]:
    return _tx(request, lambda conn: auth.list_keys(conn, who.issuer))


@router.delete("/v1/keys/{key_id}", status_code=204, responses=ERRORS, tags=["keys"])
def revoke_key(request: Request, key_id: Annotated[str, Path(max_length=32)], who: Admin) -> Response:
    from .errors import NotFound

    if key_id == who.key_id:
        raise Conflict("an admin key cannot revoke itself (it would lock its holder out): revoke it with another "
                       "admin key (`cardsmith server key add --role admin` grants one on the server machine)")
    if not _tx(request, lambda conn: auth.revoke(conn, who.issuer, key_id)):
        raise NotFound(f"no key {key_id} in issuer {who.issuer}")
    return Response(status_code=204)


# ---------------------------------------------------------------- backups

UPLOAD = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}


@router.put("/v1/backups/{digest}", response_model=BackupEntry, status_code=201, tags=["backups"],
            responses={200: {"model": BackupEntry, "description": "Already catalogued: nothing changed"},
                       400: {"model": Problem}, 422: {"model": Unprocessable}, **ERRORS}, openapi_extra=UPLOAD)
async def put_backup(request: Request, digest: Digest, who: Station) -> Any:
    """Uploads one encrypted backup file under its SHA-256. Idempotent; never overwrites a catalogued backup."""
    data = await request.body()
    entry, created = await run_in_threadpool(_tx, request, lambda conn: catalogue.upload(conn, who, digest, data))
    return JSONResponse(entry, status_code=201 if created else 200)


@router.get("/v1/backups", response_model=list[BackupEntry], responses=ERRORS, tags=["backups"])
def list_backups(request: Request, who: Reader, card_id: Annotated[str | None, Query(pattern=CARD_ID)] = None,
                 limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                 after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> list[dict]:
    return _tx(request, lambda conn: catalogue.entries(conn, who, card_id, limit, after))


@router.get("/v1/backups/{digest}", tags=["backups"], responses={
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}, **ERRORS})
def get_backup(request: Request, digest: Digest, who: Reader) -> Response:
    """The backup file itself (still encrypted by the card)."""
    return Response(_tx(request, lambda conn: catalogue.file(conn, who, digest)),
                    media_type="application/octet-stream")


@router.get("/v1/cards", response_model=list[CardSummary], responses=ERRORS, tags=["backups"])
def list_cards(request: Request, who: Reader) -> list[dict]:
    return _tx(request, lambda conn: catalogue.cards(conn, who))


@router.get("/v1/cards/{card_id}/chain", response_model=Chain, responses=ERRORS, tags=["backups"])
def card_chain(request: Request, card_id: CardId, who: Reader) -> dict:
    """The card's newest backup and its chain, full backup first."""
    return _tx(request, lambda conn: catalogue.chain(conn, who, card_id))


# ---------------------------------------------------------------- issuance


@router.post("/v1/batches", response_model=BatchView, status_code=201, tags=["issuance"],
             responses={200: {"model": BatchView, "description": "The same batch was stored already"}, **ERRORS})
def post_batch(request: Request, body: BatchIn, who: Reader) -> Any:
    """Stores a prepared batch; its records become free for reservation."""
    view, created = _tx(request, lambda conn: issuance.create_batch(conn, who, body.model_dump(mode="json")))
    return JSONResponse(view, status_code=201 if created else 200)


@router.get("/v1/batches", response_model=list[BatchView], responses=ERRORS, tags=["issuance"])
def get_batches(request: Request, who: Reader) -> list[dict]:
    return _tx(request, lambda conn: issuance.list_batches(conn, who))


BatchId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/v1/batches/{batch_id}", response_model=BatchView, responses=ERRORS, tags=["issuance"])
def get_batch(request: Request, batch_id: BatchId, who: Reader) -> dict:
    return _tx(request, lambda conn: issuance.get_batch(conn, who, batch_id))


@router.post("/v1/batches/{batch_id}/reservations", response_model=Reservation, responses=ERRORS,
             tags=["issuance"])
def post_reservation(request: Request, batch_id: BatchId, body: ReserveIn, who: Station) -> dict:
    """Reserves one record for the calling station: the named one, its own open one, or the next free one."""
    return _tx(request, lambda conn: issuance.reserve(conn, who, batch_id, body.record_id))


@router.post("/v1/reservations/{reservation}", response_model=ReportOut, responses=ERRORS, tags=["issuance"])
def post_report(request: Request, reservation: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], body: ReportIn,
                who: Station) -> dict:
    """The outcome of a reservation: issued (final), rejected (the record is free again), interrupted."""
    return _tx(request, lambda conn: issuance.report(conn, who, reservation, body.card_id, body.result,
                                                     body.detail))


@router.get("/v1/batches/{batch_id}/log", response_model=list[LogEntry], responses=ERRORS, tags=["issuance"])
def get_log(request: Request, batch_id: BatchId, who: Reader) -> list[dict]:
    return _tx(request, lambda conn: issuance.log(conn, who, batch_id))


# ---------------------------------------------------------------- usage records


@router.post("/v1/usage", response_model=UsageUploadOut, responses={**ERRORS, 422: {"model": Unprocessable}},
             tags=["usage"])
def post_usage(request: Request, body: UsageBatchIn, who: Terminal) -> dict:
    """Uploads a batch of usage records. Safe to repeat: a record stored already is counted `repeated`; a
    different record under a stored (card, counter) is listed in `refused` and the stored one stays."""
    records = [r.model_dump() for r in body.records]
    return _tx(request, lambda conn: usage.upload(conn, who, records, request.app.state.usage_verifier))


@router.get("/v1/usage", response_model=list[UsageRecord], responses=ERRORS, tags=["usage"])
def list_usage(request: Request, who: Reader, card_id: Annotated[str | None, Query(pattern=CARD_ID)] = None,
               limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
               after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> list[dict]:
    """Usage records in the order received; `after` is the last `id` seen."""
    return _tx(request, lambda conn: usage.entries(conn, who, card_id, limit, after))


@router.get("/v1/usage/cards", response_model=list[UsageCard], responses=ERRORS, tags=["usage"])
def list_usage_cards(request: Request, who: Reader, limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                     after: Annotated[str, Query(pattern=r"^[0-9A-Fa-f]{0,16}$")] = "") -> list[dict]:
    """One line per card with usage records: counts and missing counters (`after` is the last card id seen)."""
    return _tx(request, lambda conn: usage.cards(conn, who, limit, after))


@router.get("/v1/usage/cards/{card_id}", response_model=UsageCardView, responses=ERRORS, tags=["usage"])
def usage_card(request: Request, card_id: CardId, who: Reader) -> dict:
    """One card's usage summary and the gaps in its counter."""
    return _tx(request, lambda conn: usage.card(conn, who, card_id))


# ---------------------------------------------------------------- deny list

DenyKind = Annotated[Literal["card", "cert"], Path(description="card: a card number; cert: a certificate serial")]
DenyValue = Annotated[str, Path(pattern=r"^[0-9A-Fa-f]{1,40}$", description="Hex: 16 digits for a card")]


@router.put("/v1/deny/{kind}/{value}", response_model=DenyEntry, status_code=201, tags=["deny list"],
            responses={200: {"model": DenyEntry, "description": "Already on the list with this reason"},
                       422: {"model": Unprocessable}, **ERRORS})
def put_deny(request: Request, kind: DenyKind, value: DenyValue, body: DenyIn, who: Admin) -> Any:
    """Puts a card number or certificate serial on the deny list (or changes its reason)."""
    entry, changed = _tx(request, lambda conn: deny.put(conn, who, kind, value, body.reason))
    return JSONResponse(entry, status_code=201 if changed else 200)


@router.delete("/v1/deny/{kind}/{value}", response_model=DenyEntry, responses={422: {"model": Unprocessable}, **ERRORS},
               tags=["deny list"])
def delete_deny(request: Request, kind: DenyKind, value: DenyValue, who: Admin) -> dict:
    """Takes an entry off the deny list (terminals learn it as `removed`)."""
    return _tx(request, lambda conn: deny.remove(conn, who, kind, value))


@router.get("/v1/deny", response_model=DenyList, tags=["deny list"],
            responses={304: {"description": "Nothing changed since the version in If-None-Match"}, **ERRORS})
def get_deny(request: Request, who: Anyone, since: Annotated[int | None, Query(ge=0, le=2**62)] = None,
             if_none_match: Annotated[str | None, Header(max_length=64)] = None) -> Any:
    """The deny list, or its changes after version `since`. The ETag is the version: with If-None-Match a
    terminal that is current gets 304 and no body."""
    answer = _tx(request, lambda conn: deny.listing(conn, who, since))
    etag = f'"{answer["version"]}"'
    if if_none_match is not None and etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(answer, headers={"ETag": etag})
