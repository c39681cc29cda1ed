"""The holder PIN (docs/security.md, "The holder PIN"): set once, changed only with the old PIN, one try
counter that survives resets, re-selects, power cuts and CLEAR, and every write of it torn at each fault
point leaves a PIN that works."""

from __future__ import annotations

import pytest

import power_cut
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.duplication import DuplicationSession
from cardsmith.issuance import IssuanceSession
from cardsmith.protocol.codes import PIN_TRY_LIMIT, Ins, Sw

pytestmark = pytest.mark.card

PIN, NEW_PIN, WRONG = "1234", "98765", "0000"


def refused(sw: int, action) -> None:  # noqa: ANN001 - a callable
    with pytest.raises(errors.CardRefusedError) as err:
        action()
    assert err.value.sw == sw


def tries(card: Card) -> int:
    return DuplicationSession(card).status().tries_left


def test_three_wrong_tries_across_resets_reselects_and_power_cuts_block_it(card: Card) -> None:
    pin = DuplicationSession(card)
    pin.put_pin(PIN)
    refused(0x63C2, lambda: pin.verify_pin(WRONG))
    card.reset()
    card.select()
    refused(0x63C1, lambda: pin.verify_pin(WRONG))
    card.select()  # re-select
    power_cut.arm(card, 0)  # the power goes after the counter went down, before the comparison
    with pytest.raises(errors.CardRemovedError):
        pin.verify_pin(PIN)  # even the right PIN: the try is spent first
    power_cut.power_back(card)
    assert tries(card) == 0
    refused(Sw.AUTH_METHOD_BLOCKED, lambda: pin.verify_pin(PIN))
    # CLEAR forgets the PIN but not the counter: no new PIN goes onto a blocked counter
    IssuanceSession(card).clear()
    assert tries(card) == 0
    refused(Sw.AUTH_METHOD_BLOCKED, lambda: pin.put_pin(NEW_PIN))
    # and only an authorised reset (a session with pin_reset) could unblock it: none without one
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED,
            lambda: card.call(Ins.RESET_RETRY_COUNTER, 2, 0x81, NEW_PIN.encode(), expect_data=False))


def test_only_a_correct_pin_restores_the_counter_and_change_needs_the_old_pin(card: Card) -> None:
    pin = DuplicationSession(card)
    pin.put_pin(PIN)
    refused(Sw.CONDITIONS_NOT_SATISFIED, lambda: pin.put_pin(NEW_PIN))  # set once
    refused(0x63C2, lambda: pin.verify_pin(WRONG))
    refused(0x63C1, lambda: pin.change_pin(WRONG, NEW_PIN))  # same counter as VERIFY
    pin.change_pin(PIN, NEW_PIN)
    assert tries(card) == PIN_TRY_LIMIT
    card.reset()
    refused(0x63C2, lambda: pin.verify_pin(PIN))
    pin.verify_pin(NEW_PIN)
    assert tries(card) == PIN_TRY_LIMIT


def test_clear_does_not_give_tries_back(card: Card) -> None:
    pin = DuplicationSession(card)
    pin.put_pin(PIN)
    refused(0x63C2, lambda: pin.verify_pin(WRONG))
    IssuanceSession(card).clear()
    assert not pin.status().pin_set
    pin.put_pin(NEW_PIN)  # the next holder's PIN, on the same counter
    assert tries(card) == PIN_TRY_LIMIT - 1
    pin.verify_pin(NEW_PIN)
    assert tries(card) == PIN_TRY_LIMIT


def test_pin_change_torn_at_every_fault_point_leaves_one_working_pin(card: Card) -> None:
    pin = DuplicationSession(card)
    pin.put_pin(PIN)
    current = PIN
    for n in range(20):
        target = NEW_PIN if current == PIN else PIN
        power_cut.arm(card, n)
        try:
            pin.change_pin(current, target)
        except errors.CardRemovedError:
            power_cut.power_back(card)
        else:
            power_cut.disarm(card)
            break
        # either the old PIN or the new one works, and a working PIN restores the whole counter
        try:
            pin.verify_pin(current)
        except errors.CardRefusedError:
            pin.verify_pin(target)
            current = target
        assert tries(card) == PIN_TRY_LIMIT
        card.reset()
    else:
        pytest.fail("CHANGE REFERENCE DATA never completed")
    card.reset()
    pin.verify_pin(target)
    assert n >= 2  # the check's fault point and the store's were both torn


def test_read_pin_region_of_an_issued_card_needs_the_pin(card: Card) -> None:
    data = DataAreaSession(card)
    data.define_region(1, 0, 1, read_pin=True)
    data.define_region(2, 1, 1)
    data.write(1, 0, b"medical record")
    data.write(2, 0, b"public")
    DuplicationSession(card).put_pin(PIN)
    assert data.read(1, 0, 14) == b"medical record"  # INSTALLED: personalisation reads it back
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    assert data.region(1).read_pin and "read-pin" in data.region(1).flag_names()
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: data.read(1, 0, 14))
    assert data.read(2, 0, 6) == b"public"
    DuplicationSession(card).verify_pin(PIN)
    assert data.read(1, 0, 14) == b"medical record"
    card.reset()
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: data.read(1, 0, 14))  # the PIN lasts one selection


def test_clear_torn_at_every_fault_point_keeps_the_counter_and_finishes_when_sent_again(card: Card) -> None:
    pin = DuplicationSession(card)
    for n in range(40):
        if pin.status().pin_set is False:
            DataAreaSession(card).define_region(1, 0, 1)
            pin.put_pin(PIN)
        if tries(card) == PIN_TRY_LIMIT:
            refused(0x63C2, lambda: pin.verify_pin(WRONG))
        power_cut.arm(card, n)
        try:
            IssuanceSession(card).clear()
        except errors.CardRemovedError:
            power_cut.power_back(card)
            assert tries(card) == PIN_TRY_LIMIT - 1  # never given back, whatever was torn
            IssuanceSession(card).clear()  # sent again, it finishes
        else:
            power_cut.disarm(card)
            break
        assert not pin.status().pin_set and DataAreaSession(card).regions() == []
        assert tries(card) == PIN_TRY_LIMIT - 1
    else:
        pytest.fail("CLEAR never completed")
    assert n > 3
