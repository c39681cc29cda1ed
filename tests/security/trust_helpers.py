"""Issuers, credentials and sessions for the trust tests (imported by name)."""

from __future__ import annotations

import datetime
from functools import cache

from cryptography.hazmat.primitives.asymmetric import ec

from cardsmith.core.card import Card
from cardsmith.protocol.codes import Permission
from cardsmith.trust import Credential, Issuer, SecureChannel, TrustSession, enrol_card

ALL = sum(int(p) for p in Permission)


@cache
def issuer(name: str = "issuer") -> Issuer:
    """One root key per name for the whole test session (P-256 keys are cheap, but stable ones read better)."""
    del name
    return Issuer(ec.generate_private_key(ec.SECP256R1()))


def station(permissions: int = ALL, *, role: str = "station", days: int = 7, by: Issuer | None = None,
            effective: datetime.date | None = None) -> tuple[Credential, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    from cardsmith.core.crypto import point_of

    credential = (by or issuer()).certify(point_of(key.public_key()), role, permissions, days=days,
                                          effective=effective)
    return credential, key


def enrolled(card: Card, by: Issuer | None = None) -> Card:
    enrol_card(card, by or issuer())
    return card


def open_session(card: Card, permissions: int = ALL, **kw: object) -> SecureChannel:
    credential, key = station(permissions, **kw)  # type: ignore[arg-type]
    return TrustSession(card).open(credential, key)
