"""The happy paths on a card: issue, verify offline, register a PIN, change it by re-registration, charge."""

from __future__ import annotations

import datetime

import pytest
from identity_helpers import EXPIRY, IDU, NS, NT, PIN, issued, issuer, power_cycle, registered, terminal

from cardsmith.core.card import Card
from cardsmith.core.errors import WrongStateError
from cardsmith.identity import IdentitySession, TerminalLog, TerminalRefusal
from cardsmith.identity.formats import commitment

pytestmark = pytest.mark.card


def test_issue_then_get_identity(card: Card) -> None:
    identity = issued(card)
    assert identity.nt == NT.encode() and identity.idu == IDU
    assert identity.sa1_valid(issuer().public_key)
    state = identity.state
    assert state.signed and not state.pin_set and not state.invalid and state.ns_tries == 3 and state.atc == 0
    # fixed once signed: neither PUT answers anything but 6985 afterwards (ISSUED, and signed)
    with pytest.raises(WrongStateError):
        IdentitySession(card).put_identity(b"1", NS.encode(), IDU, datetime.date.today())


def test_commitment_hides_ns(card: Card) -> None:
    """The commitment the card answers is not H(label || Ns) without the card's salt: no offline guessing."""
    session = IdentitySession(card)
    commit, _ = session.put_identity(NT.encode(), NS.encode(), IDU, datetime.date(2030, 1, 1))
    assert commit != commitment(b"", NS.encode()) and commit != commitment(bytes(16), NS.encode())
    again, _ = session.put_identity(NT.encode(), NS.encode(), IDU, datetime.date(2030, 1, 1))
    assert again != commit  # a new salt every time


def test_verify_register_charge(card: Card, tmp_path) -> None:
    issued(card)
    log = TerminalLog(tmp_path / "t.db")
    term = terminal(log=log)
    assert term.verify(card).nt == NT.encode()
    with pytest.raises(TerminalRefusal) as no_pin:
        term.charge(card, 250, PIN)
    assert no_pin.value.reason == "no-pin"
    registered(card, term)
    assert IdentitySession(card).identity().state.pin_set
    term.verify(card, PIN)
    first = term.charge(card, 250, PIN)
    second = term.charge(card, 100, PIN)
    assert (first.atc, second.atc) == (1, 2) and (first.charge, second.charge) == (250, 100)
    assert first.terminal_id == term.terminal_id and first.idu == IDU
    assert [r.record.atc for r in log.records()] == [1, 2]
    assert IdentitySession(card).last_record().encode() == second.encode()


def test_reregistration_changes_the_pin(card: Card) -> None:
    issued(card)
    term = registered(card)
    registered(card, term, pin="777777")
    with pytest.raises(TerminalRefusal) as old:
        term.charge(card, 1, PIN)
    assert old.value.reason == "wrong-pin"
    assert term.charge(card, 1, "777777").atc == 1


def test_pin_blocked_is_reset_by_registration(card: Card) -> None:
    issued(card)
    term = registered(card)
    for _ in range(3):
        with pytest.raises(TerminalRefusal):
            term.charge(card, 1, "0000")
    power_cycle(card)
    with pytest.raises(TerminalRefusal) as blocked:
        term.charge(card, 1, PIN)
    assert blocked.value.reason == "pin-blocked"
    registered(card, term)
    assert term.charge(card, 1, PIN).atc == 1


def test_expired_and_deny_listed_cards_are_refused_offline(card: Card) -> None:
    issued(card)
    later = datetime.datetime.combine(EXPIRY + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    with pytest.raises(TerminalRefusal) as expired:
        terminal(clock=lambda: later).verify(card)
    assert expired.value.reason == "expired" and str(EXPIRY) in str(expired.value)
    on_the_day = datetime.datetime.combine(EXPIRY, datetime.time(23, 59), datetime.UTC)
    assert terminal(clock=lambda: on_the_day).verify(card).idu == IDU  # valid through its expiry date
    with pytest.raises(TerminalRefusal) as denied:
        terminal(deny={IDU}).verify(card)
    assert denied.value.reason == "deny-listed"


def test_issuing_inside_an_issuer_session_sends_ns_encrypted(card: Card) -> None:
    """An enrolled INSTALLED card personalised from a station's session: every command, Ns among them, secured."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from cardsmith.core.crypto import point_of
    from cardsmith.identity import issue_identity
    from cardsmith.trust import TrustSession, enrol_card

    enrol_card(card, issuer())
    key = ec.generate_private_key(ec.SECP256R1())
    station = issuer().certify(point_of(key.public_key()), "station", 0, days=1)
    channel = TrustSession(card).open(station, key)
    seen: list[bytes] = []
    send = card.transport.transmit
    card.transport.transmit = lambda apdu: (seen.append(apdu), send(apdu))[1]  # type: ignore[method-assign]
    try:
        identity = issue_identity(card, issuer(), NT, NS, IDU, EXPIRY)
    finally:
        card.transport.transmit = send  # type: ignore[method-assign]
    assert channel.ended is None and identity.sa1_valid(issuer().public_key)
    assert seen and all(apdu[0] & 0x0C == 0x04 for apdu in seen)  # CLA 84: secure messaging
    assert not any(NS.encode() in apdu for apdu in seen)
