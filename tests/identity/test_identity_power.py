"""A pulled card at every fault point of PIN registration and of a charge (docs/identity.md, "Power loss").

Registration: after each cut the card answers, holds the old PIN or the new one (never half a PIN, never
none where there was one), the Ns counter has at most the one try the cut spent, and the card is not
invalid. Charge: after each cut either nothing was consumed, or the ATC moved on by one and the card's last
record answers the terminal's pending nonce, which the terminal then logs: no ATC without a record the
terminal accounts for. Personalisation: PUT_IDENTITY and PUT_IDENTITY_SIGNATURES leave the identity signed
whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from identity_helpers import NS, NT, PIN, issued, issuer, registered, terminal

import power_cut
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.identity import IdentitySession, TerminalLog, TerminalRefusal
from cardsmith.trust import enrol_card
from conftest import fresh_card

pytestmark = pytest.mark.card

WALK = 60


def torn(card: Card, n: int, action: Callable[..., object], *args: object) -> bool:
    card.channel = None
    power_cut.arm(card, n)
    try:
        action(*args)
    except errors.CardRemovedError:
        power_cut.power_back(card)
        card.channel = None
        return True
    card.channel = None
    power_cut.disarm(card)
    return False


def pin_works(card: Card, pin: str) -> bool:
    card.channel = None
    try:
        IdentitySession(card).authenticate(os.urandom(16), pin.encode())
    except errors.WrongPinError:
        return False
    return True


def test_registration_torn_everywhere(request: pytest.FixtureRequest, transport_kind: str) -> None:
    cuts = old_pins = new_pins = 0
    for n in range(WALK):
        card = fresh_card(request, transport_kind, 0)
        issued(card)
        term = registered(card)  # the old PIN
        if not torn(card, n, term.register_pin, card, [NT], NS, "86420", "86420"):
            break
        cuts += 1
        state = IdentitySession(card).identity().state
        assert state.pin_set and not state.invalid and state.ns_tries >= 2, (n, state)
        new = pin_works(card, "86420")
        old = pin_works(card, PIN) if not new else False
        assert new or old, f"cut {n}: neither PIN works"
        new_pins += new
        old_pins += old
        # the next registration finishes from wherever the cut left it and restores the Ns tries
        registered(card, term, pin="86420")
        assert IdentitySession(card).identity().state.ns_tries == 3
    else:
        pytest.fail("registration never completed inside the walk")
    assert cuts > 5 and old_pins and new_pins


def test_charge_torn_everywhere(request: pytest.FixtureRequest, transport_kind: str, tmp_path) -> None:
    card = fresh_card(request, transport_kind, 0)
    issued(card)
    log = TerminalLog(tmp_path / "t.db")
    term = registered(card, terminal(log=log))
    cuts = recovered = 0
    for n in range(WALK):
        before = IdentitySession(card).identity().state.atc
        if not torn(card, n, term.charge, card, 10 + n, PIN):
            assert IdentitySession(card).identity().state.atc == before + 1
            break
        cuts += 1
        identity = IdentitySession(card).identity()
        assert identity.state.atc in (before, before + 1), n
        settled = term.recover(card, identity)
        if identity.state.atc == before + 1:  # consumed: the card kept the record the terminal is waiting for
            assert [r.atc for r in settled] == [before + 1] and settled[0].charge == 10 + n
            recovered += 1
        else:
            assert settled == []
        assert log.last_atc(identity.idu) in (None, identity.state.atc) or identity.state.atc == 0
        assert (log.last_atc(identity.idu) or 0) == identity.state.atc, n
        assert log.pending_for(identity.idu) == [] or identity.state.atc == before
    else:
        pytest.fail("the charge never completed inside the walk")
    assert cuts > 5 and recovered >= 1
    assert [r.record.atc for r in log.records()] == list(range(1, IdentitySession(card).identity().state.atc + 1))


def test_personalisation_torn_everywhere(request: pytest.FixtureRequest, transport_kind: str) -> None:
    for n in range(WALK):
        card = fresh_card(request, transport_kind, 0)
        enrol_card(card, issuer())  # the trust model's own tear walks cover enrolment
        if not torn(card, n, issued, card):
            break
        session = IdentitySession(card)
        try:
            identity = session.identity()
        except errors.NotFoundError:
            issued(card)  # not signed: personalisation runs again from the start
            identity = session.identity()
        assert identity.sa1_valid(issuer().public_key) and identity.nt == NT.encode()
    else:
        pytest.fail("personalisation never completed inside the walk")


def test_wrong_pin_torn_keeps_the_try_spent(card: Card) -> None:
    issued(card)
    term = registered(card)
    spent = False

    def wrong() -> None:
        with pytest.raises(errors.WrongPinError):
            IdentitySession(card).authenticate(os.urandom(16), b"0000")

    for n in range(WALK):
        if not torn(card, n, wrong):
            break
        tries = IdentitySession(card).identity().state.pin_tries
        spent = spent or tries < 3
        assert tries in (2, 3)
        assert pin_works(card, PIN)  # the right PIN restores the counter
    with pytest.raises(TerminalRefusal):
        term.charge(card, 1, "0000")
    assert spent
