"""The attacks of issue 10, each tried again by someone holding the card without its PIN or any key.

Every test first shows what the attacker is after, then that the card refuses, and that nothing it holds
changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cardsmith import backup as bk
from cardsmith.backup import BackupSession
from cardsmith.backup.catalogue import SqliteCatalogue
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.duplication import DuplicationSession, personalise
from cardsmith.duplication.files import decrypt_bytes, encrypt_bytes
from cardsmith.issuance import IssuanceSession
from cardsmith.issuance.bundle import DEV_PERSO_KEY, BundlePlan, InnerCommand, seal, seal_perso_key
from cardsmith.protocol.codes import BACKUP_TYPE_DIFF, Ins, Sw

pytestmark = pytest.mark.card

PIN, THIEF_PIN = "1234", "0000"
FAMILY_KEY = bytes(range(16))
PAGE = 128


def issued_card_with_purse(card: Card) -> None:
    """A card as it leaves the station: records (region 1), a purse (value region 2), PIN, ISSUED."""
    data = DataAreaSession(card)
    data.define_region(1, 0, 4)
    data.define_region(2, 4, 1, value=True)
    BackupSession(card).load_common_key(1, FAMILY_KEY)
    data.write(1, 0, b"holder's records")
    data.write(2, 0, (100).to_bytes(4, "big"))
    personalise(DuplicationSession(card), PIN, os.urandom(32))
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)


def refused(sw: int, action) -> None:  # noqa: ANN001 - a callable
    with pytest.raises(errors.CardRefusedError) as err:
        action()
    assert err.value.sw == sw


def test_put_pin_cannot_replace_the_pin_of_a_personalised_card(card: Card) -> None:
    """Attack 1: a card personalised and left INSTALLED; PUT_PIN used to replace (and unblock) its PIN."""
    keys = DuplicationSession(card)
    personalise(keys, PIN, os.urandom(32))
    keys.verify_pin(PIN)
    point = keys.generate()
    secret = encrypt_bytes(b"the holder's file", point)
    card.reset()
    thief = DuplicationSession(card)
    refused(Sw.CONDITIONS_NOT_SATISFIED, lambda: thief.put_pin(THIEF_PIN))  # set once
    refused(0x63C2, lambda: thief.verify_pin(THIEF_PIN))
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: decrypt_bytes(secret, thief))
    refused(0x63C1, lambda: thief.verify_pin(THIEF_PIN))
    refused(Sw.AUTH_METHOD_BLOCKED, lambda: thief.verify_pin(THIEF_PIN))
    refused(Sw.CONDITIONS_NOT_SATISFIED, lambda: thief.put_pin(THIEF_PIN))  # nor unblocks
    refused(Sw.AUTH_METHOD_BLOCKED, lambda: thief.verify_pin(PIN))  # blocked for the holder too
    # nor does an authorised reset come from anyone without a session
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED,
            lambda: card.call(Ins.RESET_RETRY_COUNTER, 2, 0x81, THIEF_PIN.encode(), expect_data=False))
    assert thief.status().tries_left == 0


def test_the_purse_of_an_issued_card_does_not_change_without_a_session(card: Card) -> None:
    """Attack 2: WRITE_DATA set a value region of an ISSUED card to any value with no PIN."""
    issued_card_with_purse(card)
    data = DataAreaSession(card)
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: data.write(2, 0, (10**6).to_bytes(4, "big")))
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: data.write(1, 0, b"forged records!!"))
    DuplicationSession(card).verify_pin(PIN)  # the holder's PIN is not enough for a value
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: data.write(2, 0, (10**6).to_bytes(4, "big")))
    assert data.read(2, 0, 4) == (100).to_bytes(4, "big")
    data.write(1, 0, b"holder's update!")  # plain data: the holder may
    assert data.read(1, 0, 16) == b"holder's update!"


def test_restore_does_not_replace_the_data_of_a_card_in_use(card_pair: tuple[Card, Card], tmp_path: Path) -> None:
    """Attack 3: `restore --onto-new-card --from-card A` onto ISSUED card B in use replaced B's data."""
    a, b = card_pair
    issued_card_with_purse(a)
    DuplicationSession(a).verify_pin(PIN)
    catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite")
    blob = bk.load(BackupSession(a).backup(catalogue, tmp_path, "full"))
    issued_card_with_purse(b)
    DuplicationSession(b).verify_pin(PIN)
    DataAreaSession(b).write(1, 0, b"B's own records!")
    card_b = BackupSession(b)
    b.reset()
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: card_b.restore_chain([blob], onto_new=True))  # no PIN
    DuplicationSession(b).verify_pin(PIN)
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: card_b.restore_chain([blob], onto_new=True))  # not blank
    assert DataAreaSession(b).read(1, 0, 16) == b"B's own records!"
    assert not card_b.state().restore_pending


def test_blank_replacement_takes_the_chain_and_then_nothing_else(card_pair: tuple[Card, Card],
                                                                 tmp_path: Path) -> None:
    """The replacement flow still works onto a blank card, for the whole chain of one source card, and the
    card refuses another card's backup once it holds the first one's data or its own."""
    a, b = card_pair
    data_a = DataAreaSession(a)
    data_a.define_region(1, 0, 4)
    BackupSession(a).load_common_key(1, FAMILY_KEY)
    catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite")
    data_a.write(1, 0, b"first")
    full = bk.load(BackupSession(a).backup(catalogue, tmp_path, "full"))
    data_a.write(1, PAGE, b"second")
    diff = bk.load(BackupSession(a).backup(catalogue, tmp_path, "diff"))
    BackupSession(b).load_common_key(1, FAMILY_KEY)
    BackupSession(b).restore_chain([full], onto_new=True)
    BackupSession(b).restore_chain([full, diff], onto_new=True)  # A's chain again, longer: still allowed
    assert DataAreaSession(b).read(1, PAGE, 6) == b"second"
    DataAreaSession(b).write(1, 0, b"B now")  # B is in use now
    refused(Sw.SECURITY_STATUS_NOT_SATISFIED, lambda: BackupSession(b).restore_chain([full], onto_new=True))
    assert DataAreaSession(b).read(1, 0, 5) == b"B now"


def test_clear_refused_inside_a_backup_session_and_clears_the_chain(card: Card, tmp_path: Path) -> None:
    """Attack 4: CLEAR inside an open backup session (TRANSFER then 6F00), leaving PIN, Key1, chain."""
    data = DataAreaSession(card)
    data.define_region(1, 0, 4)
    BackupSession(card).load_common_key(1, FAMILY_KEY)
    personalise(DuplicationSession(card), PIN, os.urandom(32))
    data.write(1, 0, b"wiped later")
    catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite")
    BackupSession(card).backup(catalogue, tmp_path, "full")
    assert BackupSession(card).state().chain
    data.write(1, 0, b"changed")
    card.call(Ins.BACKUP, p1=BACKUP_TYPE_DIFF)
    refused(Sw.CONDITIONS_NOT_SATISFIED, lambda: IssuanceSession(card).clear())
    assert card.call(Ins.TRANSFER)  # the session is intact
    card.call(Ins.END_SESSION, p1=2, expect_data=False)  # ABORT
    IssuanceSession(card).clear()
    state = BackupSession(card).state()
    assert not state.chain and not state.common_key
    status = DuplicationSession(card).status()
    assert not status.pin_set and status.slots == 0
    BackupSession(card).load_common_key(1, FAMILY_KEY)
    refused(Sw.CONDITIONS_NOT_SATISFIED, lambda: card.call(Ins.BACKUP, p1=BACKUP_TYPE_DIFF))  # the next is full


def test_set_perso_key_drops_a_stored_bundle(card: Card) -> None:
    """Attack 5: SET_PERSO_KEY left a READY bundle runnable under the old key, and the last consumed
    sequence could go backwards when it ran."""
    issuance = IssuanceSession(card)
    plan = BundlePlan([InnerCommand.named("PUT_PIN", data=THIEF_PIN.encode())], [])
    issuance.put_bundle(seal(DEV_PERSO_KEY, plan.encode(), sequence=9))
    assert issuance.status().name == "READY"
    issuance.set_perso_key(seal_perso_key(DEV_PERSO_KEY, os.urandom(16), sequence=5))
    status = issuance.status()
    assert status.name == "EMPTY" and status.last_sequence == 5
    refused(Sw.CONDITIONS_NOT_SATISFIED, issuance.start)
    assert not DuplicationSession(card).status().pin_set  # the old bundle never ran
    assert issuance.status().last_sequence == 5


def test_no_power_cut_leaves_a_written_card_counting_as_blank(card_pair: tuple[Card, Card], tmp_path: Path,
                                                               request: pytest.FixtureRequest,
                                                               transport_kind: str) -> None:
    """The card is marked written before the first write's handler runs: a cut anywhere in a WRITE_DATA on a
    blank replacement card either leaves its data untouched and blank, or marks it written, so another card's
    backup never lands on data the card was given (docs/security.md, "Blank cards")."""
    import power_cut
    from conftest import fresh_card

    a, _ = card_pair
    DataAreaSession(a).define_region(1, 0, 4)
    BackupSession(a).load_common_key(1, FAMILY_KEY)
    DataAreaSession(a).write(1, 0, b"A's records")
    catalogue = SqliteCatalogue(tmp_path / "catalogue.sqlite")
    blob = bk.load(BackupSession(a).backup(catalogue, tmp_path, "full"))
    cuts = 0
    for n in range(20):
        b = fresh_card(request, transport_kind, 1)
        DataAreaSession(b).define_region(1, 0, 4)  # the layout and the family key do not make a card written
        BackupSession(b).load_common_key(1, FAMILY_KEY)
        power_cut.arm(b, n)
        try:
            DataAreaSession(b).write(1, 0, b"B's own data")
            cut = False
        except errors.CardRemovedError:
            power_cut.power_back(b)
            cut = True
            cuts += 1
        if not cut:
            power_cut.disarm(b)
        written = DataAreaSession(b).read(1, 0, 12) == b"B's own data"
        try:
            BackupSession(b).restore_chain([blob], onto_new=True)
            restored = True
        except errors.SecurityStatusError:
            restored = False
        assert not (written and restored), n  # B's data is never replaced by A's without a permitted session
        if not cut:  # the write went through without a cut: every fault point before it was walked
            break
    assert cuts >= 1  # cut inside the write's own transaction (the mark is committed before it)
