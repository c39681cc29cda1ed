"""Remote update on the server (docs/update.md): the service key and its certificate, packages per card, and
the chain's server steps (issuer check, challenge, device authentication, delivery, acknowledgement).

State is all in the database, so any server process continues a chain another began (a restart between
device authentication and delivery continues the same session until it expires):

- ``update_service``: per issuer, the service's key pair (generated here, the private key never leaves the
  database), the issuer's certificate of it (role service) and the issuer's root key;
- ``update_packages``: the issuer's signed packages, encrypted to each card's decryption key by the offline
  issuer tool (the server cannot read or forge one): ``pending`` until the card's signed acknowledgement is
  verified (``delivered``), or ``refused`` when the card refused it (the reason kept);
- ``update_sessions``: one per chain, ``checked`` (issuer check passed) -> ``challenged`` (a server nonce)
  -> ``answering`` (the nonce used up, committed before the answer is checked) -> ``authenticated`` (the
  card signed it), each step one conditional UPDATE, so a nonce is used once even with two processes
  racing and a wrong answer ends the session; sessions expire (challenge 5 minutes, deliveries 15).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Connection

from cardsmith.core.crypto import ecdsa_sign, ecdsa_verify_der, point_of
from cardsmith.core.errors import BadDataError, NotGenuineError
from cardsmith.protocol.codes import CERT_ROLE_SERVICE
from cardsmith.trust.certificate import Certificate, day_number
from cardsmith.update.package import (
    Ack,
    Package,
    UpdateCertificate,
    auth_message,
    delivery_message,
    open_for_service,
)

from .auth import Principal
from .db import update_packages, update_service, update_sessions
from .errors import Conflict, Invalid, NotFound

CHALLENGE_TTL = dt.timedelta(minutes=5)
SESSION_TTL = dt.timedelta(minutes=15)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds")


class ServiceNotReady(Conflict):
    """The issuer's update service has no certified key yet (409)."""


# ---------------------------------------------------------------- the service key

def _service(conn: Connection, issuer: str) -> Any:
    return conn.execute(sa.select(update_service).where(update_service.c.issuer == issuer)).first()


def service_key(conn: Connection, who: Principal) -> dict:
    """The service's public key, generated on first call (the admin certifies it offline, role service)."""
    row = _service(conn, who.issuer)
    if row is None:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        conn.execute(update_service.insert().values(issuer=who.issuer, private_key=pem,
                                                    public_key=point_of(key.public_key()).hex(),
                                                    created=_stamp(_now())))
        row = _service(conn, who.issuer)
    return _service_view(row)


def _service_view(row: Any) -> dict:
    return {"public_key": row.public_key, "certificate": row.certificate, "issuer_key": row.issuer_key,
            "ready": row.certificate is not None}


def put_certificate(conn: Connection, who: Principal, certificate_hex: str, issuer_key_hex: str) -> dict:
    """Stores the issuer's certificate of the service key, checked: role service, this key, the issuer's signature."""
    row = _service(conn, who.issuer)
    if row is None:
        raise NotFound("the update service has no key yet: POST /v1/updates/service/key first")
    try:
        certificate = Certificate.parse(bytes.fromhex(certificate_hex))
        issuer_key = bytes.fromhex(issuer_key_hex)
        certificate.verify(issuer_key, dt.date.today())
    except (ValueError, BadDataError) as exc:
        raise Invalid(f"the service certificate does not check: {exc}") from None
    if certificate.role != CERT_ROLE_SERVICE:
        raise Invalid(f"the certificate is a {certificate.role_name}'s; the update service needs role service")
    if certificate.public_key.hex() != row.public_key:
        raise Invalid("the certificate is of another key than this service's (POST /v1/updates/service/key shows it)")
    conn.execute(update_service.update().where(update_service.c.issuer == who.issuer)
                 .values(certificate=certificate.encode().hex(), issuer_key=issuer_key.hex()))
    return _service_view(_service(conn, who.issuer))


def service_info(conn: Connection, who: Principal) -> dict:
    row = _service(conn, who.issuer)
    if row is None:
        raise NotFound("this issuer has no update service yet (an admin sets it up: docs/update.md)")
    return _service_view(row)


def _ready(conn: Connection, issuer: str) -> tuple[Any, ec.EllipticCurvePrivateKey]:
    row = _service(conn, issuer)
    if row is None or row.certificate is None:
        raise ServiceNotReady("the update service is not set up: its key has no issuer certificate yet "
                              "(docs/update.md, \"Setting up the service\")")
    key = serialization.load_pem_private_key(row.private_key.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return row, key


# ---------------------------------------------------------------- packages

def _package_view(row: Any) -> dict:
    return {"id": row.id, "card_id": row.card_id, "record": row.record, "version": row.version, "op": row.op,
            "mode": row.mode, "payload_bytes": row.payload_bytes, "expiry": row.expiry, "sha256": row.digest,
            "state": row.state, "detail": row.detail, "created": row.created, "delivered": row.delivered,
            "attempts": row.attempts}


def upload(conn: Connection, who: Principal, data: bytes) -> tuple[dict, bool]:
    """Stores a signed package (checked against the issuer key; its payload stays encrypted to the card).
    The same package again: (its entry, False). Another under the same card, record and version: 409."""
    row, _ = _ready(conn, who.issuer)
    try:
        pkg = Package.parse(data)
        pkg.verify(bytes.fromhex(row.issuer_key))
    except (BadDataError, ValueError) as exc:
        raise Invalid(f"not an update package of this issuer: {exc}") from None
    digest = pkg.digest.hex()
    found = conn.execute(sa.select(update_packages).where(update_packages.c.issuer == who.issuer,
                                                          update_packages.c.digest == digest)).first()
    if found is not None:
        return _package_view(found), False
    card_id = pkg.card_id.hex().upper()
    clash = conn.execute(sa.select(update_packages.c.id).where(
        update_packages.c.issuer == who.issuer, update_packages.c.card_id == card_id,
        update_packages.c.record == pkg.record, update_packages.c.version == pkg.version)).first()
    if clash is not None:
        raise Conflict(f"card {card_id} record {pkg.record} has another package of version {pkg.version} "
                       f"(id {clash.id}); sign the new one with a higher version")
    new_id = conn.execute(update_packages.insert().values(
        issuer=who.issuer, card_id=card_id, record=pkg.record, version=pkg.version, op=pkg.op_name,
        mode=pkg.mode_name, payload_bytes=pkg.payload_length, expiry=pkg.expiry.isoformat(), digest=digest,
        data=data, state="pending", uploaded_by=who.key_id, created=_stamp(_now()), attempts=0)).inserted_primary_key[0]
    return _package_view(conn.execute(sa.select(update_packages).where(update_packages.c.id == new_id)).one()), True


def packages(conn: Connection, who: Principal, card_id: str | None, state: str | None, limit: int,
             after: int) -> list[dict]:
    q = sa.select(update_packages).where(update_packages.c.issuer == who.issuer, update_packages.c.id > after)
    if card_id:
        q = q.where(update_packages.c.card_id == card_id.upper())
    if state:
        q = q.where(update_packages.c.state == state)
    return [_package_view(r) for r in conn.execute(q.order_by(update_packages.c.id).limit(limit))]


def _pending(conn: Connection, issuer: str, card_id: str) -> list[Any]:
    return list(conn.execute(sa.select(update_packages).where(
        update_packages.c.issuer == issuer, update_packages.c.card_id == card_id,
        update_packages.c.state == "pending").order_by(update_packages.c.record, update_packages.c.version)))


# ---------------------------------------------------------------- the chain

def issuer_check(conn: Connection, who: Principal, sealed_hex: str) -> dict:
    """Step 3: the card's update certificate, sealed to the service key by the client, must be the issuer's."""
    row, key = _ready(conn, who.issuer)
    try:
        certificate = open_for_service(key, bytes.fromhex(sealed_hex))
        certificate.verify(bytes.fromhex(row.issuer_key))
    except NotGenuineError as exc:
        raise Invalid(f"issuer check failed: {exc}") from None
    except (BadDataError, ValueError) as exc:
        raise Invalid(f"the sealed update certificate does not open with this service's key: {exc}") from None
    session = secrets.token_hex(16)
    now = _now()
    # sessions that expired a day ago or more are of no use to anyone: the table stays small
    conn.execute(update_sessions.delete().where(update_sessions.c.issuer == who.issuer,
                                                update_sessions.c.expires < _stamp(now - dt.timedelta(days=1))))
    card_id = certificate.card_id.hex().upper()
    conn.execute(update_sessions.insert().values(
        id=session, issuer=who.issuer, card_id=card_id, certificate=certificate.encode().hex(), state="checked",
        client=who.key_id, created=_stamp(now), expires=_stamp(now + CHALLENGE_TTL)))
    return {"session": session}  # what is pending for the card is told only after it authenticated


def _session(conn: Connection, who: Principal, session: str) -> Any:
    row = conn.execute(sa.select(update_sessions).where(update_sessions.c.id == session,
                                                        update_sessions.c.issuer == who.issuer)).first()
    if row is None:
        raise NotFound("no such update session: start again with the issuer check")
    if row.expires < _stamp(_now()):
        raise Conflict("the update session expired: start again with the issuer check")
    return row


def challenge(conn: Connection, who: Principal, session: str) -> dict:
    """Step 4a: a fresh server nonce, once per session."""
    _session(conn, who, session)
    nonce = secrets.token_bytes(32)
    done = conn.execute(update_sessions.update().where(update_sessions.c.id == session,
                                                       update_sessions.c.state == "checked")
                        .values(state="challenged", server_nonce=nonce.hex())).rowcount
    if done != 1:
        raise Conflict("this session has had its challenge: start again with the issuer check")
    return {"nonce": nonce.hex()}


def consume_challenge(conn: Connection, who: Principal, session: str) -> None:
    """Step 4b, first transaction: the challenge is used up before the answer is even looked at, so a wrong
    answer ends the session (committed on its own: a refusal rolls its own transaction back)."""
    row = _session(conn, who, session)
    done = conn.execute(update_sessions.update().where(update_sessions.c.id == row.id,
                                                       update_sessions.c.state == "challenged")
                        .values(state="answering")).rowcount
    if done != 1:
        raise Conflict("this session is not waiting for device authentication (a challenge is answered once): "
                       "start again with the issuer check")


def authenticate(conn: Connection, who: Principal, session: str, card_nonce_hex: str, signature_hex: str) -> dict:
    """Step 4b: the card's signature over its nonce and ours, by the certified device-authentication key
    (after consume_challenge)."""
    row = _session(conn, who, session)
    if row.state != "answering":
        raise Conflict("this session is not waiting for device authentication: start again with the issuer check")
    certificate = UpdateCertificate.parse(bytes.fromhex(row.certificate))
    card_nonce, signature = bytes.fromhex(card_nonce_hex), bytes.fromhex(signature_hex)
    message = auth_message(certificate.card_id, card_nonce, bytes.fromhex(row.server_nonce))
    if len(card_nonce) != 16 or not ecdsa_verify_der(certificate.auth_key, message, signature):
        raise Invalid(f"device authentication failed: the answer is not card {row.card_id}'s signature over "
                      "this challenge; the session is over")
    conn.execute(update_sessions.update().where(update_sessions.c.id == session,
                                                update_sessions.c.state == "answering")
                 .values(state="authenticated", card_nonce=card_nonce.hex(), expires=_stamp(_now() + SESSION_TTL)))
    return {"card_id": row.card_id, "pending": [_package_view(p) for p in _pending(conn, who.issuer, row.card_id)]}


def _authenticated(conn: Connection, who: Principal, session: str) -> Any:
    row = _session(conn, who, session)
    if row.state != "authenticated":
        raise Conflict("the card has not authenticated in this session: run the chain from the issuer check")
    return row


def delivery(conn: Connection, who: Principal, session: str, after: int) -> dict:
    """Step 5: the next pending package (id above ``after``) bound to this session by the service's signature."""
    row = _authenticated(conn, who, session)
    service, key = _ready(conn, who.issuer)
    for pkg in _pending(conn, who.issuer, row.card_id):
        if pkg.id <= after:
            continue
        date = day_number(dt.date.today())
        message = delivery_message(bytes.fromhex(row.card_id), bytes.fromhex(row.card_nonce),
                                   bytes.fromhex(row.server_nonce), date, bytes.fromhex(pkg.digest))
        conn.execute(update_packages.update().where(update_packages.c.id == pkg.id)
                     .values(attempts=update_packages.c.attempts + 1))
        return {"done": False, "package_id": pkg.id, "package": pkg.data.hex(), "service_certificate":
                service.certificate, "date": date, "signature": ecdsa_sign(key, message).hex(),
                "record": pkg.record, "version": pkg.version}
    return {"done": True}


def acknowledge(conn: Connection, who: Principal, session: str, package_id: int, ack_hex: str | None,
                refused: str | None) -> dict:
    """Step 7: the card's signed acknowledgement marks the package delivered (once: a repeat says so); or the
    card refused it (``refused``: its reason), which marks it refused and lets the chain go on."""
    row = _authenticated(conn, who, session)
    pkg = conn.execute(sa.select(update_packages).where(update_packages.c.id == package_id,
                                                        update_packages.c.issuer == who.issuer,
                                                        update_packages.c.card_id == row.card_id)).first()
    if pkg is None:
        raise NotFound(f"card {row.card_id} has no update package {package_id}")
    if refused is not None:
        if pkg.state == "delivered":
            raise Conflict("this package was delivered (the card acknowledged it): it cannot be refused now")
        conn.execute(update_packages.update().where(update_packages.c.id == package_id,
                                                    update_packages.c.state == "pending")
                     .values(state="refused", detail=refused[:500]))
        return {"package_id": package_id, "state": "refused", "repeated": pkg.state == "refused"}
    certificate = UpdateCertificate.parse(bytes.fromhex(row.certificate))
    try:
        ack = Ack.parse(bytes.fromhex(ack_hex or ""))
        ack.verify(certificate, bytes.fromhex(row.card_nonce))
    except (BadDataError, ValueError) as exc:
        raise Invalid(f"the acknowledgement does not check: {exc}") from None
    if (ack.record, ack.version, ack.digest.hex()) != (pkg.record, pkg.version, pkg.digest):
        raise Invalid(f"the acknowledgement is of record {ack.record} version {ack.version}, not of package "
                      f"{package_id} (record {pkg.record} version {pkg.version})")
    done = conn.execute(update_packages.update().where(update_packages.c.id == package_id,
                                                       update_packages.c.state != "delivered")
                        .values(state="delivered", delivered=_stamp(_now()), ack=ack.encode().hex(),
                                detail=None)).rowcount
    return {"package_id": package_id, "state": "delivered", "repeated": done == 0}


def card_summary(conn: Connection, issuer: str, limit: int) -> list[dict]:
    """Per card: packages pending, delivered, refused (the operator's page)."""
    q = (sa.select(update_packages.c.card_id, update_packages.c.state, sa.func.count().label("n"))
         .where(update_packages.c.issuer == issuer)
         .group_by(update_packages.c.card_id, update_packages.c.state).order_by(update_packages.c.card_id))
    out: dict[str, dict] = {}
    for r in conn.execute(q):
        out.setdefault(r.card_id, {"card_id": r.card_id, "pending": 0, "delivered": 0, "refused": 0})[r.state] = r.n
    return list(out.values())[:limit]
