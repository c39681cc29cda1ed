"""PIN registration's refusals: the terminal's certificate, replayed terminal signatures, Nt typed wrong,
Ns brute force across resets (the card goes invalid at 3, for good), PIN brute force across resets, and
the invalid card answering only GET INFO and GET IDENTITY."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from identity_helpers import NS, NT, PIN, issued, issuer, power_cycle, registered, terminal, terminal_credential

from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.core.crypto import ecdsa_sign
from cardsmith.core.errors import BlockedError, SecurityStatusError, WrongStateError
from cardsmith.identity import IdentitySession, Terminal, TerminalRefusal
from cardsmith.identity.formats import st_message
from cardsmith.protocol import PROTOCOL
from cardsmith.protocol.codes import Ins, Permission
from cardsmith.trust import Credential, Issuer, TrustSession

pytestmark = pytest.mark.card


def _session(card: Card, term: Terminal) -> IdentitySession:
    card.channel = None
    term.open_session(card)
    return IdentitySession(card)


def test_terminal_certificate_of_another_issuer_or_expired(card: Card) -> None:
    issued(card)
    stranger = Issuer(ec.generate_private_key(ec.SECP256R1()))
    credential, key = terminal_credential(by=stranger)
    foreign = Terminal(issuer().public_key, credential, key)
    with pytest.raises(TerminalRefusal) as refused:
        foreign.register_pin(card, [NT], NS, PIN, PIN)
    assert refused.value.reason == "terminal-certificate" and "another issuer" in str(refused.value)
    # the card itself refuses it too, whatever the host believes
    card.channel = None
    with pytest.raises(SecurityStatusError):
        TrustSession(card).open(Credential(credential.certificate, issuer().public_key), key)
    old = datetime.date.today() - datetime.timedelta(days=10)
    credential, key = terminal_credential(days=2, effective=old)
    expired = Terminal(issuer().public_key, credential, key)
    with pytest.raises(TerminalRefusal) as late:
        expired.register_pin(card, [NT], NS, PIN, PIN)
    assert late.value.reason == "terminal-certificate" and "renew" in str(late.value)
    card.channel = None
    with pytest.raises(SecurityStatusError):
        TrustSession(card).open(credential, key)  # expired before the card's date


def test_terminal_without_the_identity_permission(card: Card) -> None:
    issued(card)
    credential, key = terminal_credential(permissions=Permission.BACKUP)
    with pytest.raises(TerminalRefusal) as refused:  # the card said 6982 to BEGIN_REGISTRATION
        Terminal(issuer().public_key, credential, key).register_pin(card, [NT], NS, PIN, PIN)
    assert refused.value.reason == "terminal-certificate" and "permission identity" in str(refused.value)
    # and no session at all
    card.channel = None
    with pytest.raises(SecurityStatusError):
        IdentitySession(card).begin_registration(os.urandom(16))


def test_terminal_signature_replayed_from_an_earlier_session(card: Card) -> None:
    issued(card)
    term = terminal()
    session = _session(card, term)
    r1 = os.urandom(16)
    x1, _ = session.begin_registration(r1)
    session.verify_set_number(NS.encode())
    st1 = ecdsa_sign(term.key, st_message(r1, x1, NT.encode(), b"1111"))
    session.register_pin(st1, b"1111")
    # a new session: the old ST (over R1, X1) does not register a PIN under the new nonces
    session = _session(card, term)
    session.begin_registration(r1)  # even the same R: the card's X is new
    session.verify_set_number(NS.encode())
    with pytest.raises(SecurityStatusError):
        session.register_pin(st1, b"1111")
    with pytest.raises(WrongStateError):  # one try: the registration ended
        session.register_pin(st1, b"1111")
    # an ST over the right nonces by a key the issuer never certified: refused
    session = _session(card, term)
    r2 = os.urandom(16)
    x2, _ = session.begin_registration(r2)
    session.verify_set_number(NS.encode())
    rogue = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SecurityStatusError):
        session.register_pin(ecdsa_sign(rogue, st_message(r2, x2, NT.encode(), b"2222")), b"2222")
    # the ST signs the PIN: another PIN under a valid ST is refused
    session = _session(card, term)
    r3 = os.urandom(16)
    x3, _ = session.begin_registration(r3)
    session.verify_set_number(NS.encode())
    with pytest.raises(SecurityStatusError):
        session.register_pin(ecdsa_sign(term.key, st_message(r3, x3, NT.encode(), b"3333")), b"4444")
    card.channel = None
    assert term.charge(card, 1, "1111").atc == 1  # only the first registration took


def test_registration_is_bound_to_its_session(card: Card) -> None:
    issued(card)
    term = terminal()
    session = _session(card, term)
    r = os.urandom(16)
    x, _ = session.begin_registration(r)
    session.verify_set_number(NS.encode())
    other = terminal()
    session = _session(card, other)  # another terminal's session: the Ns proof does not carry over
    with pytest.raises(WrongStateError):
        session.register_pin(ecdsa_sign(other.key, st_message(r, x, NT.encode(), b"5555")), b"5555")
    with pytest.raises(WrongStateError):
        session.verify_set_number(NS.encode())  # nor does BEGIN_REGISTRATION
    power_cycle(card)
    card.channel = None
    with pytest.raises(SecurityStatusError):
        IdentitySession(card).verify_set_number(NS.encode())  # outside a session: nothing


def test_wrong_nt_three_times(card: Card) -> None:
    issued(card)
    term = terminal()
    with pytest.raises(TerminalRefusal) as refused:
        term.register_pin(card, ["1", "2", "3", NT], NS, PIN, PIN)
    assert refused.value.reason == "wrong-nt"
    term.register_pin(card, ["1", "2", NT], NS, PIN, PIN)  # third time right
    assert IdentitySession(card).identity().state.pin_set


def test_ns_brute_force_across_resets_makes_the_card_invalid(card: Card) -> None:
    issued(card)
    term = terminal()
    for expected in (2, 1):
        with pytest.raises(TerminalRefusal) as wrong:
            term.register_pin(card, [NT], "00000000", PIN, PIN)
        assert wrong.value.reason == "wrong-ns" and f"{expected} tr" in str(wrong.value)
        power_cycle(card)  # the counter is the card's, persistent
    assert IdentitySession(card).identity().state.ns_tries == 1
    with pytest.raises(TerminalRefusal) as blocked:
        term.register_pin(card, [NT], "00000000", PIN, PIN)
    assert blocked.value.reason == "ns-blocked"
    power_cycle(card)
    state = IdentitySession(card).identity().state
    assert state.invalid and state.ns_tries == 0 and not state.pin_set
    with pytest.raises(TerminalRefusal) as invalid:
        term.verify(card)
    assert invalid.value.reason == "invalid"
    _only_identity_and_info_answer(card)


def test_correct_ns_restores_its_tries(card: Card) -> None:
    issued(card)
    term = terminal()
    for _ in range(2):
        with pytest.raises(TerminalRefusal):
            term.register_pin(card, [NT], "00000000", PIN, PIN)
    registered(card, term)
    assert IdentitySession(card).identity().state.ns_tries == 3


def test_pin_brute_force_across_resets(card: Card) -> None:
    issued(card)
    term = registered(card)
    for _ in range(2):
        with pytest.raises(TerminalRefusal) as wrong:
            term.charge(card, 1, "9999")
        assert wrong.value.reason == "wrong-pin"
        power_cycle(card)
    card.channel = None
    with pytest.raises(BlockedError):  # the third wrong PIN, in another selection, blocks it
        IdentitySession(card).authenticate(os.urandom(16), b"9998")
    power_cycle(card)
    with pytest.raises(BlockedError):
        IdentitySession(card).authenticate(os.urandom(16), PIN.encode())
    state = IdentitySession(card).identity().state
    assert state.pin_tries == 0 and state.atc == 0 and not state.invalid


def test_mark_invalid_needs_the_permission_and_is_for_good(card: Card) -> None:
    issued(card)
    with pytest.raises(SecurityStatusError):
        IdentitySession(card).mark_invalid()
    term = terminal()
    _session(card, term).mark_invalid()
    power_cycle(card)
    assert IdentitySession(card).identity().state.invalid
    _only_identity_and_info_answer(card)


def _only_identity_and_info_answer(card: Card) -> None:
    """The dispatcher's one gate: every other command of the protocol is 6985 on an invalid card."""
    card.channel = None
    for ins in PROTOCOL.instructions.values():
        if ins.code in (Ins.GET_RESPONSE, Ins.TEST_FAULT):
            continue
        cla = PROTOCOL.meta["cla_iso"] if ins.cla == "iso" else PROTOCOL.cla
        sw = card.send(CommandApdu(cla, ins.code, 0, 0, b"", 256)).sw
        if ins.code in (Ins.GET_INFO, Ins.GET_IDENTITY):
            assert sw == 0x9000, ins.name
        else:
            assert sw == 0x6985, f"{ins.name}: {sw:04X}"
