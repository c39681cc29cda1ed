"""The client's update chain (docs/update.md, "The chain"): the patent's order, each step only after the
previous one matched:

1. issuer client check: the card's update certificate against the issuer key this client was given;
2. holder PIN (VERIFY on the card): a wrong or blocked PIN stops the chain before any server step;
3. issuer server check: the certificate sealed to the update service's key (the card id never crosses the
   network in clear), checked by the server;
4. device authentication: the server's nonce signed by the card (INTERNAL AUTHENTICATE), checked by the server;
5. delivery, 6-7 application: each pending package, bound to this session by the service's signature,
   applied (or stored) by the card, and its signed acknowledgement sent back.

The client sees no payload: packages are encrypted to the card, and what it reports is record ids and versions.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.card import Card
from ..core.errors import CardNotReadyError, CardRefusedError, NotGenuineError, ServerUnavailable
from ..duplication.session import DuplicationSession
from ..protocol.codes import CERT_ROLE_SERVICE
from ..remote.client import ServerClient
from ..trust.certificate import Certificate
from .package import Package, UpdateCertificate, seal_for_service
from .session import UpdateSession

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Change:
    package_id: int
    record: int
    version: int
    op: str
    mode: str
    result: str  # applied, already (acknowledged again), refused
    detail: str = ""

    def as_json(self) -> dict:
        out = {"package_id": self.package_id, "record": self.record, "version": self.version, "op": self.op,
               "mode": self.mode, "result": self.result}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class UpdateResult:
    card_id: str
    session: str = ""
    changes: list[Change] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"card_id": self.card_id, "session": self.session, "changes": [c.as_json() for c in self.changes]}


def _quiet(_step: str, _detail: str) -> None:
    pass


def issuer_client_check(card: Card, issuer_key: bytes) -> UpdateCertificate:
    """Step 1: the card's issuer authenticator must be this issuer's (NotGenuineError otherwise)."""
    certificate = UpdateSession(card).certificate()
    certificate.verify(issuer_key)
    if certificate.card_id != card.info().card_id:
        raise NotGenuineError("the card's update certificate names another card: it was copied from one")
    return certificate


def run_update(card: Card, server: ServerClient, issuer_key: bytes, pin: str,
               progress: Progress = _quiet) -> UpdateResult:
    """The whole chain on ``card`` against ``server``; the changes made (or acknowledged, or refused).
    ServerUnavailable says what the card holds when the server went away: nothing changed, or a package
    applied whose acknowledgement did not arrive (the next run acknowledges it without applying it again)."""
    result = UpdateResult("")
    try:
        return _chain(card, server, issuer_key, pin, progress, result)
    except ServerUnavailable as exc:
        reason = str(exc).split(" is unavailable ", 1)[-1].split(";")[0]
        held = [c for c in result.changes if c.result != "refused" and not c.detail]
        unacked = [c for c in result.changes if c.detail == UNACKED]
        if unacked:
            c = unacked[-1]
            raise ServerUnavailable(f"the card applied record {c.record} version {c.version} but the issuer server "
                                    f"{server.url} did not get its acknowledgement {reason}: run `cardsmith "
                                    "update` again, it acknowledges it without applying it again") from exc
        done = f" after {len(held)} update(s) acknowledged" if held else ""
        raise ServerUnavailable(f"the issuer server {server.url} is unavailable {reason}{done}; nothing else "
                                "changed on the card: run `cardsmith update` again later") from exc


UNACKED = "acknowledgement not delivered"


def _chain(card: Card, server: ServerClient, issuer_key: bytes, pin: str, progress: Progress,
           result: UpdateResult) -> UpdateResult:
    certificate = issuer_client_check(card, issuer_key)
    card_hex = result.card_id = certificate.card_id.hex().upper()
    progress("issuer check (client)", f"card {card_hex} is issuer {certificate.issuer_key_id.hex().upper()}'s")
    DuplicationSession(card).verify_pin(pin)
    progress("holder PIN", "verified")
    service = server.update_service()
    if not service.get("ready"):
        raise NotGenuineError("the server's update service has no issuer certificate yet: it cannot deliver")
    service_cert = Certificate.parse(bytes.fromhex(service["certificate"]))
    service_cert.verify(issuer_key, datetime.date.today())  # the issuer's, and valid today
    if service_cert.role != CERT_ROLE_SERVICE:
        raise NotGenuineError(f"the server presents a {service_cert.role_name} certificate, not the update "
                              "service's: it is not this issuer's update server")
    checked = server.update_issuer_check(seal_for_service(service_cert.public_key, certificate))
    result.session = checked["session"]
    progress("issuer check (server)", f"passed, session {checked['session'][:8]}")
    nonce = server.update_challenge(result.session)
    card_nonce, signature = UpdateSession(card).authenticate(nonce)
    pending = server.update_authenticate(result.session, card_nonce, signature)["pending"]
    progress("device authentication", f"passed, {len(pending)} update(s) pending")
    after = 0
    session = UpdateSession(card)
    while True:
        delivery = server.update_delivery(result.session, after)
        if delivery["done"]:
            break
        after = delivery["package_id"]
        package = Package.parse(bytes.fromhex(delivery["package"]))
        what = f"record {package.record} version {package.version} ({package.op_name}, {package.mode_name})"
        try:
            ack = session.deliver(bytes.fromhex(delivery["service_certificate"]), delivery["date"],
                                  bytes.fromhex(delivery["signature"]), package)
        except CardRefusedError as exc:
            if not DuplicationSession(card).status().pin_verified:
                # the PIN's verified state and the update session end together (reset, reader lost): this
                # refusal is about the card having been reset, not about the package, which stays pending
                raise CardNotReadyError(f"the card was reset during the delivery of {what} ({exc}); nothing "
                                        "changed on it and the update is still pending: run the update again") from exc
            server.update_ack(result.session, after, refused=str(exc))
            result.changes.append(Change(after, package.record, package.version, package.op_name,
                                         package.mode_name, "refused", str(exc)))
            progress("delivery", f"{what}: refused by the card ({exc})")
            continue
        progress("delivery", f"{what}: {'applied' if ack.status_name == 'applied' else 'held already'}")
        change = Change(after, package.record, package.version, package.op_name, package.mode_name,
                        ack.status_name, UNACKED)
        result.changes.append(change)
        server.update_ack(result.session, after, ack=ack.encode())
        result.changes[-1] = Change(after, package.record, package.version, package.op_name, package.mode_name,
                                    ack.status_name)
        progress("acknowledgement", f"record {package.record} version {package.version} marked delivered")
    return result
