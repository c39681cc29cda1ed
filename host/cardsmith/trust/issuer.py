"""The issuer: its root key, certifying stations, terminals, services and cards, and a card's trust
personalisation (issuer key set, card key certified). docs/security.md."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from ..core.card import Card
from ..core.crypto import key_id, point_of
from ..core.errors import UsageError
from ..protocol.codes import CARD_ID_LENGTH, CERT_ROLE_CARD
from . import keyfile
from .certificate import ROLES, Certificate
from .credential import Credential
from .session import TrustSession

#: a card's own certificate outlives the card; a station's is short (revocation is by expiry)
CARD_VALIDITY_DAYS = 20 * 365
STATION_VALIDITY_DAYS = 7


@dataclass(frozen=True)
class Issuer:
    key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> bytes:
        return point_of(self.key.public_key())

    @property
    def key_id(self) -> bytes:
        return key_id(self.public_key)

    def certify(self, public_key: bytes, role: str, permissions: int, *, holder_id: bytes | None = None,
                days: int = STATION_VALIDITY_DAYS, effective: datetime.date | None = None) -> Credential:
        """A certificate of ``public_key`` for ``role`` (station, terminal, service, card) with the mask
        ``permissions``, valid ``days`` days from ``effective`` (today); holder id: the key's id."""
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if days < 1:
            raise UsageError("a certificate is valid for at least one day")
        if role == "card" and permissions:
            raise UsageError("a card's certificate grants no permission")
        holder = key_id(public_key) if holder_id is None else holder_id
        if len(holder) != CARD_ID_LENGTH:
            raise UsageError(f"a holder id has {CARD_ID_LENGTH} bytes, not {len(holder)}")
        start = effective or datetime.date.today()
        cert = Certificate(holder, ROLES[role], permissions, public_key, start,
                           start + datetime.timedelta(days=days), self.key_id)
        return Credential(cert.signed_by(self.key), self.public_key)


def enrol_card(card: Card, issuer: Issuer, days: int = CARD_VALIDITY_DAYS) -> Certificate:
    """Sets the issuer key on an INSTALLED card (if it has none) and certifies the card's own key pair:
    afterwards the card can prove it is genuine and open sessions. Idempotent on a card already enrolled
    with this issuer; another issuer's card is a UsageError."""
    trust = TrustSession(card)
    status = trust.status()
    if status.issuer_key and status.issuer_key_id != issuer.key_id:
        raise UsageError(f"this card trusts another issuer (key id {status.issuer_key_id.hex().upper()}): its "
                         "issuer key is fixed")
    if not status.issuer_key:
        trust.put_issuer_key(issuer.public_key)
    if status.card_certificate:
        return trust.card_certificate()
    card_id = card.info().card_id
    credential = issuer.certify(trust.card_public_key(), "card", 0, holder_id=card_id, days=days)
    assert credential.certificate.role == CERT_ROLE_CARD
    trust.put_card_certificate(credential.certificate)
    return credential.certificate


def init_issuer(path: Path, passphrase: bytes) -> Issuer:
    """A new root key in the encrypted key file ``path``; an existing file is never overwritten."""
    if path.exists():
        raise UsageError(f"{path} exists: an issuer key is made once (cards trust it for good); pick another "
                         "path, or use the one you have")
    issuer = Issuer(keyfile.generate())
    keyfile.save(path, issuer.key, passphrase)
    return issuer


def load_issuer(path: Path, passphrase: bytes) -> Issuer:
    return Issuer(keyfile.load(path, passphrase))


def certify_key_file(issuer: Issuer, key_path: Path, passphrase: bytes, out: Path, role: str, permissions: int,
                     *, days: int = STATION_VALIDITY_DAYS, holder_id: bytes | None = None) -> Credential:
    """Certifies the key in ``key_path`` (made there, encrypted under ``passphrase``, when the file does not
    exist yet) and writes the credential (certificate and issuer key) to ``out``."""
    key = keyfile.load(key_path, passphrase) if key_path.exists() else keyfile.generate()
    credential = issuer.certify(point_of(key.public_key()), role, permissions, holder_id=holder_id, days=days)
    if not key_path.exists():
        keyfile.save(key_path, key, passphrase)
    credential.save(out)
    return credential
