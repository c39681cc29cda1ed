"""Issuer, terminals and issued cards for the identity tests (imported by name)."""

from __future__ import annotations

import datetime
from functools import cache

from cryptography.hazmat.primitives.asymmetric import ec

from cardsmith.core.card import Card
from cardsmith.core.crypto import point_of
from cardsmith.identity import Identity, Terminal, issue_identity
from cardsmith.protocol.codes import Permission
from cardsmith.trust import Credential, Issuer

NT = "12345678"
NS = "90817263"
PIN = "4321"
IDU = bytes.fromhex("1D0000000000C0DE")
TODAY = datetime.date.today()
EXPIRY = TODAY + datetime.timedelta(days=365)


@cache
def issuer(name: str = "issuer") -> Issuer:
    del name
    return Issuer(ec.generate_private_key(ec.SECP256R1()))


def terminal_credential(*, permissions: int = Permission.IDENTITY, days: int = 30, by: Issuer | None = None,
                        effective: datetime.date | None = None) -> tuple[Credential, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    credential = (by or issuer()).certify(point_of(key.public_key()), "terminal", int(permissions), days=days,
                                          effective=effective)
    return credential, key


def terminal(**kw: object) -> Terminal:
    by = kw.pop("by", None)
    credential, key = terminal_credential(by=by)  # type: ignore[arg-type]
    return Terminal(issuer().public_key, credential, key, **kw)  # type: ignore[arg-type]


def issued(card: Card, *, nt: str = NT, ns: str = NS, idu: bytes = IDU, expiry: datetime.date = EXPIRY,
           close: bool = True) -> Identity:
    identity = issue_identity(card, issuer(), nt, ns, idu, expiry)
    if close:
        card.close_personalisation()
    return identity


def registered(card: Card, term: Terminal | None = None, pin: str = PIN) -> Terminal:
    term = term or terminal()
    term.register_pin(card, [NT], NS, pin, pin)
    return term


def power_cycle(card: Card) -> None:
    """Pulls the card and puts it back: the session is gone, and the host drops its ended channel."""
    card.reset()
    card.channel = None
