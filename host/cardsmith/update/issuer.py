"""The issuer's side of remote update: certifying a card's update keys at personalisation, and signing
update packages offline (one card, or a CSV of cards). docs/update.md."""

from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass
from pathlib import Path

from ..core.card import Card
from ..core.errors import BadDataError, UsageError
from ..trust.issuer import Issuer
from ..trust.session import TrustSession
from .package import Package, UpdateCertificate, build_package
from .session import UpdateSession


def enrol_for_updates(card: Card, issuer: Issuer) -> UpdateCertificate:
    """Certifies the card's two update keys (generated on the card at install) and stores the certificate,
    once, on an INSTALLED card whose trust issuer key is this issuer's. Idempotent."""
    status = TrustSession(card).status()
    if not status.issuer_key or status.issuer_key_id != issuer.key_id:
        raise UsageError("the card does not trust this issuer's key yet: run `cardsmith issuer enrol` first")
    session = UpdateSession(card)
    if session.status().certified:
        certificate = session.certificate()
        certificate.verify(issuer.public_key)
        return certificate
    auth, dec = session.public_keys()
    certificate = UpdateCertificate.issue(issuer.key, card.info().card_id, auth, dec)
    session.put_certificate(certificate)
    return certificate


@dataclass(frozen=True)
class UpdateSpec:
    record: int
    op: str
    version: int
    expiry: datetime.date
    payload: bytes
    mode: str = "apply"


def sign_update(issuer: Issuer, certificate: UpdateCertificate, spec: UpdateSpec) -> Package:
    """One card's package: its certificate must be this issuer's (the package is encrypted to its key)."""
    certificate.verify(issuer.public_key)
    return build_package(issuer.key, certificate, record=spec.record, op=spec.op, version=spec.version,
                         expiry=spec.expiry, payload=spec.payload, mode=spec.mode)


def load_certificates_csv(path: Path) -> list[UpdateCertificate]:
    """A CSV with a column ``update_certificate`` (hex, what `cardsmith update certificate` prints) per card."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})") from exc
    if not rows or "update_certificate" not in rows[0]:
        raise UsageError(f"{path} has no column update_certificate: one row per card, the hex certificate")
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            out.append(UpdateCertificate.parse(bytes.fromhex((row["update_certificate"] or "").strip())))
        except (ValueError, BadDataError) as exc:
            raise BadDataError(f"{path} line {n}: not an update certificate ({exc})") from None
    return out
