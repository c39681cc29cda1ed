"""Every multi-step write of the trust model torn at every fault point (docs/security.md, "Power loss"):
PUT_ISSUER_KEY, PUT_CARD_CERTIFICATE, the card's date, the session's set-up and RESET RETRY COUNTER. After
each cut the card answers, the issuer key and the card's certificate are either set or not (never half),
the date never goes backwards, no session survives, and the PIN counter is never reset by the cut."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from trust_helpers import ALL, enrolled, issuer, station

import power_cut
from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.duplication import DuplicationSession
from cardsmith.protocol.codes import KEY_ID_LENGTH, PIN_TRY_LIMIT, Ins, Permission, Sw
from cardsmith.trust import TrustSession, enrol_card
from cardsmith.trust.certificate import day_number
from conftest import fresh_card

pytestmark = pytest.mark.card

PIN = "1234"
WALK = 40  # more fault points than any of these commands reaches


def refused(sw: int, action: Callable[..., object], *args: object) -> None:
    with pytest.raises(errors.CardRefusedError) as err:
        action(*args)
    assert err.value.sw == sw


def no_session(card: Card) -> None:
    card.channel = None
    assert not TrustSession(card).status().session
    assert card.send(CommandApdu(0x84, Ins.GET_INFO, 0, 0, bytes(10), 256)).sw == Sw.SECURITY_STATUS_NOT_SATISFIED


def authenticate_without_challenge(card: Card) -> None:
    card.call(Ins.AUTHENTICATE, data=bytes(300))


def usable(card: Card) -> None:
    """Enrolment finishes from wherever it stopped, and a session opens and runs a command."""
    enrol_card(card, issuer())
    credential, key = station(ALL)
    TrustSession(card).open(credential, key)
    assert card.call(Ins.ECHO, data=b"alive") == b"alive"
    card.channel = None


def torn(card: Card, n: int, action: Callable[..., object], *args: object) -> bool:
    """Runs ``action(*args)`` with the n-th fault point armed; True if the power was cut (the card is back)."""
    power_cut.arm(card, n)
    try:
        action(*args)
    except errors.CardRemovedError:
        power_cut.power_back(card)
        return True
    power_cut.disarm(card)
    return False


def test_put_issuer_key_torn_at_every_fault_point_leaves_the_key_set_or_not(
        request: pytest.FixtureRequest, transport_kind: str) -> None:
    before = after = 0
    for n in range(WALK):
        card = fresh_card(request, transport_kind, 0)
        trust = TrustSession(card)
        if not torn(card, n, trust.put_issuer_key, issuer().public_key):
            break
        status = trust.status()
        no_session(card)
        if status.issuer_key:  # committed, the answer lost: fixed, and the whole key id is there
            after += 1
            assert status.issuer_key_id == issuer().key_id
            refused(Sw.CONDITIONS_NOT_SATISFIED, trust.put_issuer_key, issuer().public_key)
        else:  # rolled back: no key id, no certificate accepted, and PUT goes through again
            before += 1
            assert status.issuer_key_id == bytes(KEY_ID_LENGTH)
            refused(Sw.CONDITIONS_NOT_SATISFIED, card.call, Ins.OPEN_SESSION)
        usable(card)
    else:
        pytest.fail("PUT_ISSUER_KEY never completed")
    assert before >= 1 and after >= 1  # cut before and after its commit


def test_put_card_certificate_torn_at_every_fault_point_stores_it_whole_or_not(
        request: pytest.FixtureRequest, transport_kind: str) -> None:
    before = after = 0
    for n in range(WALK):
        card = fresh_card(request, transport_kind, 0)
        trust = TrustSession(card)
        trust.put_issuer_key(issuer().public_key)
        cert = issuer().certify(trust.card_public_key(), "card", 0, holder_id=card.info().card_id).certificate
        if not torn(card, n, trust.put_card_certificate, cert):
            break
        status = trust.status()
        no_session(card)
        if status.card_certificate:  # with its date, in the same transaction
            after += 1
            assert trust.card_certificate() == cert and status.date == day_number(cert.effective)
            refused(Sw.CONDITIONS_NOT_SATISFIED, trust.put_card_certificate, cert)
        else:
            before += 1
            assert status.date == 0
            refused(Sw.DATA_NOT_FOUND, trust.card_certificate)
        usable(card)
    else:
        pytest.fail("PUT_CARD_CERTIFICATE never completed")
    assert before >= 1 and after >= 1


def test_session_set_up_torn_at_every_fault_point_moves_the_date_forward_or_not_and_opens_nothing(
        request: pytest.FixtureRequest, transport_kind: str) -> None:
    later, later_key = station(ALL, effective=datetime.date.today() + datetime.timedelta(days=3))
    moved = kept = 0
    for n in range(WALK):  # each cut on a fresh card, so every fault point is reached from the same state
        card = enrolled(fresh_card(request, transport_kind, 0))
        trust = TrustSession(card)
        start = trust.status().date
        if not torn(card, n, trust.open, later, later_key):
            break
        date = trust.status().date
        assert date in (start, start + 3)  # moved on whole, or not at all
        moved, kept = moved + (date > start), kept + (date == start)
        no_session(card)  # a session never survives the cut
        refused(Sw.CONDITIONS_NOT_SATISFIED, authenticate_without_challenge, card)  # no challenge
        usable(card)  # a certificate effective today opens a session: the date stays
        assert trust.status().date == date
    else:
        pytest.fail("OPEN_SESSION and AUTHENTICATE never completed without a cut")
    assert trust.status().session and trust.status().date == start + 3
    assert kept >= 2 and moved >= 2  # cut in OPEN_SESSION and in AUTHENTICATE, and after the date moved
    # an older (still valid) certificate's set-up, torn anywhere, never takes the date back
    card.channel = None
    older, older_key = station(ALL, effective=datetime.date.today() - datetime.timedelta(days=1))
    for n in range(WALK):
        if not torn(card, n, trust.open, older, older_key):
            break
        assert trust.status().date == start + 3
        no_session(card)
    else:
        pytest.fail("the older certificate's session never opened")
    assert n >= 2 and trust.status().date == start + 3


def test_reset_retry_counter_torn_at_every_fault_point_never_resets_the_counter_by_itself(card: Card) -> None:
    enrolled(card)
    dup = DuplicationSession(card)
    dup.put_pin(PIN)
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    kept = reset = 0
    for n in range(WALK):
        while dup.status().tries_left:  # blocked before each try
            try:
                dup.verify_pin("0000")
            except errors.CardRefusedError:
                pass
        new = f"{5000 + n}"
        credential, key = station(Permission.PIN_RESET)
        TrustSession(card).open(credential, key)
        if not torn(card, n, dup.reset_pin, new):
            break
        with pytest.raises(errors.SessionEndedError):  # the host knows the session is gone
            dup.status()
        no_session(card)
        tries = dup.status().tries_left
        if tries == 0:  # rolled back: still blocked, for the new PIN and the old alike
            kept += 1
            refused(Sw.AUTH_METHOD_BLOCKED, dup.verify_pin, new)
        else:  # committed with its answer lost: the new PIN and a full counter, together
            reset += 1
            assert tries == PIN_TRY_LIMIT
            dup.verify_pin(new)
    else:
        pytest.fail("RESET RETRY COUNTER never completed")
    card.channel = None
    assert dup.status().tries_left == PIN_TRY_LIMIT
    dup.verify_pin(new)
    assert kept >= 1 and reset >= 1
