"""The terminal's side of the identity capability (docs/identity.md): offline verification, PIN
registration, charges. No network: the issuer's public key, the terminal's own certificate and key, a deny
list of card numbers and the terminal's clock are all it needs.

Every refusal is a :class:`TerminalRefusal` (the card set aside: expired, deny-listed, wrong Nt, Ns or PIN
blocked, invalid card, the terminal's own certificate unusable) or a :class:`ForgedCard` (SA1 not the
issuer's, a card that cannot sign a fresh nonce with the key SA1 names, a record that is not what the card
signed), each with a ``reason`` keyword and a message that says what happened and what to do.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from ..core.card import Card
from ..core.crypto import ecdsa_sign, ecdsa_verify_der, point_of
from ..core.errors import (
    BlockedError,
    CardRejectedError,
    CardRemovedError,
    NotFoundError,
    NotGenuineError,
    SecurityStatusError,
    UsageError,
    WrongPinError,
    WrongStateError,
)
from ..protocol.codes import ID_NONCE_LENGTH, ID_PURPOSE_CARD, ID_PURPOSE_PIN, ID_PURPOSE_REGISTRATION
from ..trust import Credential, TrustSession
from .formats import Identity, UsageRecord, check_ns, check_pin, st_message, su_message
from .session import IdentitySession
from .terminal_log import TerminalLog

NT_TRIES = 3


class TerminalRefusal(CardRejectedError):
    """The terminal refuses the card (or cannot serve it); ``reason`` names why."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class ForgedCard(NotGenuineError):
    """The card, or what it answered, is not what the issuer made; ``reason`` names what failed."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@dataclass
class Terminal:
    """One terminal: the issuer key it trusts, its certificate and key, its deny list and clock."""

    issuer_point: bytes
    credential: Credential
    #: the terminal's private key: needed for sessions (registration, secured charges), not to verify a card
    key: ec.EllipticCurvePrivateKey | None
    deny: set[bytes] = field(default_factory=set)
    clock: Callable[[], datetime.datetime] = _utcnow
    log: TerminalLog | None = None

    @property
    def terminal_id(self) -> bytes:
        return self.credential.certificate.holder_id

    # ------------------------------------------------------------ offline verification
    def _genuine_identity(self, card: Card) -> Identity:
        """GET_IDENTITY and SA1 under the issuer key (which covers Nt, SA2, the identity key, IDU, expiry)."""
        card.channel = None  # each card operation starts in clear (a plain command ends any session on the card)
        try:
            identity = IdentitySession(card).identity()
        except NotFoundError:
            raise ForgedCard("unsigned", "this card carries no issuer-signed identity (GET_IDENTITY: none): "
                             "not an issued identity card; hand it back") from None
        if not identity.sa1_valid(self.issuer_point):
            raise ForgedCard("forged", f"card {identity.idu.hex().upper()}: SA1 does not carry the issuer's "
                             "signature over its Nt, SA2, key, card number and expiry: a forged or altered "
                             "card; keep it and report it")
        return identity

    def read(self, card: Card) -> Identity:
        """GET_IDENTITY and every offline check of it: SA1 under the issuer key, the invalid mark, expiry
        against the terminal's clock, IDU against the deny list."""
        identity = self._genuine_identity(card)
        if identity.state.invalid:
            raise TerminalRefusal("invalid", f"card {identity.idu.hex().upper()} is marked invalid for good "
                                  "(its set number was blocked, or a terminal marked it): the holder needs a "
                                  "new card from the issuer")
        today = self.clock().date()
        if identity.expiry < today:
            raise TerminalRefusal("expired", f"card {identity.idu.hex().upper()} expired on {identity.expiry} "
                                  f"(today is {today}): the holder needs a renewed card")
        if identity.idu in self.deny:
            raise TerminalRefusal("deny-listed", f"card {identity.idu.hex().upper()} is on the deny list (reported "
                                  "lost or stolen): keep it and tell the issuer")
        return identity

    def _check_su(self, identity: Identity, purpose: int, r: bytes, x: bytes, signature: bytes) -> None:
        if not ecdsa_verify_der(identity.public_key, su_message(purpose, r, x, identity.nt, identity.idu), signature):
            raise ForgedCard("not-genuine", f"card {identity.idu.hex().upper()} did not sign this terminal's fresh "
                             "nonce with the key its SA1 names: an emulator replaying a genuine card's data, "
                             "not the card; keep it and report it")

    def verify(self, card: Card, pin: str | None = None) -> Identity:
        """Offline verification: :meth:`read`, then the card proves its identity key over a fresh nonce
        (after the PIN, if one is given). Two exchanges after SELECT."""
        identity = self.read(card)
        r = os.urandom(ID_NONCE_LENGTH)
        pin_b = check_pin(pin) if pin is not None else None
        if pin is not None:
            self._require_pin_set(identity)
        try:
            x, signature = IdentitySession(card).authenticate(r, pin_b)
        except (WrongPinError, BlockedError) as exc:
            raise self._pin_refusal(identity, exc) from None
        self._check_su(identity, ID_PURPOSE_CARD if pin is None else ID_PURPOSE_PIN, r, x, signature)
        return identity

    # ------------------------------------------------------------ the terminal's own session
    def open_session(self, card: Card) -> None:
        """An authenticated session as this terminal (its certificate is its proof to the card)."""
        cert = self.credential.certificate
        today = self.clock().date()
        if self.credential.issuer_key != self.issuer_point:
            raise TerminalRefusal("terminal-certificate", "this terminal's certificate is of another issuer than "
                                  "the one it checks cards against: install the issuer's terminal certificate")
        if not cert.effective <= today <= cert.expiry:
            raise TerminalRefusal("terminal-certificate", f"this terminal's certificate is valid from "
                                  f"{cert.effective} to {cert.expiry}, not today ({today}): have the issuer "
                                  "renew it (cardsmith issuer certify --role terminal)")
        if self.key is None:
            raise UsageError("this needs the terminal's key (its session proves the terminal to the card): give "
                             "the key file issued with the terminal certificate")
        if point_of(self.key.public_key()) != cert.public_key:
            raise UsageError("the terminal key does not belong to its certificate: give the key it was issued for")
        try:
            TrustSession(card).open(self.credential, self.key)
        except SecurityStatusError:
            raise TerminalRefusal("terminal-certificate", "the card refused this terminal's certificate (another "
                                  "issuer's, or expired by the card's date): have the issuer renew it") from None
        except WrongStateError:
            raise TerminalRefusal("not-enrolled", "the card cannot open an authenticated session (no issuer "
                                  "key or card certificate): it was not issued for identity use") from None

    # ------------------------------------------------------------ PIN registration
    def register_pin(self, card: Card, nt_attempts: Iterable[str], ns: str, pin: str, pin_again: str) -> Identity:
        """The patent's registration dialogue with its holes closed: Nt typed and compared here (NT_TRIES
        tries), then, in this terminal's session, the card's signature over R and X, the set number (the
        card's own persistent counter), and the terminal's ST over R, X, Nt and the new PIN."""
        identity = self.read(card)
        for tries, typed in enumerate(nt_attempts, start=1):
            if typed == identity.nt_text:
                break
            if tries >= NT_TRIES:
                raise TerminalRefusal("wrong-nt", f"the registration number was typed wrong {NT_TRIES} times: "
                                      "registration refused; the holder finds Nt on the issuer's letter")
        else:
            raise TerminalRefusal("wrong-nt", "the registration number typed does not match the card's: "
                                  "registration refused")
        pin_b = check_pin(pin)
        if pin != pin_again:
            raise UsageError("the two new PINs differ: type the same new PIN twice")
        ns_b = check_ns(ns)
        self.open_session(card)
        session = IdentitySession(card)
        r = os.urandom(ID_NONCE_LENGTH)
        try:
            x, signature = session.begin_registration(r)
        except SecurityStatusError:
            raise TerminalRefusal("terminal-certificate", "this terminal's certificate does not grant permission "
                                  "identity, which PIN registration needs: ask the issuer for one with "
                                  "--permissions identity") from None
        self._check_su(identity, ID_PURPOSE_REGISTRATION, r, x, signature)
        try:
            session.verify_set_number(ns_b)
        except WrongPinError as exc:
            raise TerminalRefusal("wrong-ns", f"wrong set number: {exc.tries_left} "
                                  f"{'try' if exc.tries_left == 1 else 'tries'} left before the card is invalid "
                                  "for good") from None
        except BlockedError:
            raise TerminalRefusal("ns-blocked", "wrong set number, and no try was left: the card is now invalid "
                                  "for good; the holder needs a new card from the issuer") from None
        assert self.key is not None  # open_session checked it
        session.register_pin(ecdsa_sign(self.key, st_message(r, x, identity.nt, pin_b)), pin_b)
        return identity

    def mark_invalid(self, card: Card) -> Identity:
        """MARK_INVALID in this terminal's session (permission identity): the card is invalid for good. A
        deny-listed or expired card may be marked too (that is what the command is for); one already invalid
        is left as it is."""
        identity = self._genuine_identity(card)
        if identity.state.invalid:
            return identity
        self.open_session(card)
        try:
            IdentitySession(card).mark_invalid()
        except SecurityStatusError:
            raise TerminalRefusal("terminal-certificate", "this terminal's certificate does not grant permission "
                                  "identity: ask the issuer for one with --permissions identity") from None
        return identity

    # ------------------------------------------------------------ charges
    @staticmethod
    def _require_pin_set(identity: Identity) -> None:
        if not identity.state.pin_set:
            raise TerminalRefusal("no-pin", f"card {identity.idu.hex().upper()} has no PIN yet: register one first "
                                  "with the registration number and set number (cardsmith terminal register-pin)")

    def _pin_refusal(self, identity: Identity, exc: Exception) -> TerminalRefusal:
        if isinstance(exc, WrongPinError):
            return TerminalRefusal("wrong-pin", f"wrong PIN: {exc.tries_left} "
                                   f"{'try' if exc.tries_left == 1 else 'tries'} left")
        return TerminalRefusal("pin-blocked", f"the PIN of card {identity.idu.hex().upper()} is blocked: register "
                               "a new one with the set number (cardsmith terminal register-pin)")

    def check_record(self, identity: Identity, record: UsageRecord, *, nonce: bytes | None = None,
                     charge: int | None = None) -> None:
        """A record is accepted only if the card signed it with the key SA1 names, it is of this card and
        this terminal, carries this charge's nonce and amount, and its ATC is above every one logged."""
        if not record.valid_under(identity.public_key):
            raise ForgedCard("record-signature", f"the usage record of card {identity.idu.hex().upper()} does not "
                             "carry the card's signature: altered or invented; it is not stored")
        if record.nt != identity.nt or record.idu != identity.idu or record.terminal_id != self.terminal_id:
            raise ForgedCard("record-mismatch", "the usage record names another card or terminal: not stored")
        if (nonce is not None and record.nonce != nonce) or (charge is not None and record.charge != charge):
            raise ForgedCard("record-replayed", "the usage record is not the answer to this charge (another "
                             "nonce or amount): a replayed record; not stored")
        last = self.log.last_atc(identity.idu) if self.log else None
        if last is not None and record.atc <= last:
            raise ForgedCard("record-atc", f"the usage record's counter {record.atc} is not above the last one "
                             f"logged for this card ({last}): a replayed or cloned card; not stored")

    def recover(self, card: Card, identity: Identity) -> list[UsageRecord]:
        """Settles charges whose answer was lost: the card's last record, if it answers a pending nonce."""
        if self.log is None:
            return []
        pending = self.log.pending_for(identity.idu)
        if not pending:
            return []
        try:
            record = IdentitySession(card).last_record()
        except NotFoundError:
            for nonce in pending:
                self.log.drop_pending(nonce)
            return []
        if record.nonce in pending and not self.log.has(identity.idu, record.atc):
            self.check_record(identity, record, nonce=record.nonce)
            self.log.add(record, identity)
            pending.remove(record.nonce)
            return [record]
        return []

    def charge(self, card: Card, amount: int, pin: str, *, secure: bool = True) -> UsageRecord:
        """One charge: GET_IDENTITY and its offline checks, this terminal's session (the PIN travels
        encrypted; ``secure=False`` sends it in clear), then GENERATE_USAGE_RECORD: four exchanges after
        SELECT. The record is checked and logged before this returns."""
        pin_b = check_pin(pin)
        identity = self.read(card)
        self._require_pin_set(identity)
        if self.log is not None and self.log.pending_for(identity.idu):
            self.recover(card, identity)
        if secure:
            self.open_session(card)
        r = os.urandom(ID_NONCE_LENGTH)
        if self.log is not None:
            self.log.add_pending(identity.idu, r, amount)
        try:
            record = IdentitySession(card).generate_usage_record(r, self.terminal_id, self.clock(), amount, pin_b)
        except CardRemovedError:
            if self.log is None:
                raise
            raise CardRemovedError(f"card {identity.idu.hex().upper()} was pulled during the charge of {amount}: if it "
                                   "took the charge, its signed record is read back the next time the card is used "
                                   "at this terminal (cardsmith terminal log shows it pending); charge again only "
                                   "after that") from None
        except (WrongPinError, BlockedError) as exc:
            if self.log is not None:
                self.log.drop_pending(r)
            raise self._pin_refusal(identity, exc) from None
        self.check_record(identity, record, nonce=r, charge=amount)
        if self.log is not None:
            self.log.add(record, identity)
        return record
