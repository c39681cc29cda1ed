"""The issuer's side of the identity capability: personalising a card with Nt, Ns, IDU and expiry and
signing SA2 and SA1 (docs/identity.md)."""

from __future__ import annotations

import datetime
import secrets

from ..core.card import Card
from ..core.crypto import ecdsa_sign
from ..core.errors import CardNotReadyError, UsageError
from ..trust import Issuer, enrol_card
from .formats import IDU_LENGTH, Identity, check_ns, check_nt, day_number, sa1_message, sa2_message
from .session import IdentitySession


def new_idu() -> bytes:
    return secrets.token_bytes(IDU_LENGTH)


def issue_identity(card: Card, issuer: Issuer, nt: str, ns: str, idu: bytes, expiry: datetime.date) -> Identity:
    """Writes an identity onto an INSTALLED card: enrols it with ``issuer`` if it is not yet (trust key and
    card certificate), stores Nt, Ns, IDU and expiry, signs SA2 over the card's Ns commitment and SA1 over
    Nt, SA2, the card's identity key, IDU and expiry, and stores both (the card checks them). Returns what
    GET_IDENTITY then answers."""
    nt_b, ns_b = check_nt(nt), check_ns(ns)
    if len(idu) != IDU_LENGTH:
        raise UsageError(f"a card number IDU has {IDU_LENGTH} bytes ({2 * IDU_LENGTH} hex digits), not {len(idu)}")
    day_number(expiry)
    info = card.info()
    if not info.installed:
        raise CardNotReadyError(f"card {info.card_id.hex().upper()} is {info.lifecycle_name}: an identity is "
                                "written only while the card is INSTALLED (personalisation), and never changes after")
    enrol_card(card, issuer)
    session = IdentitySession(card)
    commit, public_key = session.put_identity(nt_b, ns_b, idu, expiry)
    sa2 = ecdsa_sign(issuer.key, sa2_message(commit))
    sa1 = ecdsa_sign(issuer.key, sa1_message(nt_b, sa2, public_key, idu, expiry))
    session.put_signatures(sa2, sa1)
    return session.identity()
