"""CLEAR_BUNDLE puts every capability back to freshly installed (issue 9): a cleared card equals a new one in
everything personalisation wrote, and takes the next cardholder's PIN and Key1."""

from __future__ import annotations

import os

import pytest

from cardsmith.backup import BackupSession
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.duplication import DuplicationSession, personalise
from cardsmith.issuance import IssuanceSession
from cardsmith.issuance.bundle import DEV_PERSO_KEY, BundlePlan, InnerCommand, seal
from cardsmith.protocol.codes import BACKUP_TYPE_FULL, Ins, Tag
from conftest import fresh_card

pytestmark = pytest.mark.card

# GET INFO's card-wide part: differs between two cards (id, free memory) or is not personalisation's.
CORE_TAGS = {Tag.INFO_VERSION, Tag.INFO_CARD_ID, Tag.INFO_LIFECYCLE, Tag.INFO_CAPABILITIES, Tag.INFO_PERSISTENT_FREE,
             Tag.INFO_TRANSIENT_RESET_FREE, Tag.INFO_TRANSIENT_DESELECT_FREE, Tag.INFO_BUFFERS, Tag.INFO_ALGORITHMS}


def personalisation_state(card: Card) -> dict[str, object]:
    """Everything personalisation can write, as the card reports it."""
    raw = card.info().raw
    return {
        "info": {tag: value for tag, value in raw.items() if tag not in CORE_TAGS},
        "duplication": card.call(Ins.DUPLICATION_STATUS),
        "bundle": card.call(Ins.BUNDLE_STATUS),
        "regions": card.call(Ins.READ_DATA, p1=1),
    }


def personalise_everything(card: Card) -> None:
    DataAreaSession(card).define_region(1, 0, 4)
    DataAreaSession(card).define_region(2, 4, 2, value=True)
    DataAreaSession(card).write(1, 0, b"cardholder record")
    BackupSession(card).load_common_key(1, bytes(range(16)))
    keys = DuplicationSession(card)
    personalise(keys, "1234", os.urandom(32))
    keys.verify_pin("1234")
    keys.put_slot(2, os.urandom(32))
    keys.generate()
    keys.lock()
    plan = BundlePlan([InnerCommand.named("ECHO", data=b"later")], [])
    IssuanceSession(card).put_bundle(seal(DEV_PERSO_KEY, plan.encode(), sequence=5))
    card.call(Ins.BACKUP, p1=BACKUP_TYPE_FULL)  # and a backup session left open


def clear_after_closing_the_session(card: Card) -> None:
    """CLEAR is refused while the backup session is open (6985, nothing lost); ABORT it, then CLEAR."""
    before = personalisation_state(card)
    with pytest.raises(errors.WrongStateError) as err:
        IssuanceSession(card).clear()
    assert err.value.sw == 0x6985
    assert personalisation_state(card) == before
    card.call(Ins.END_SESSION, p1=2, expect_data=False)  # ABORT
    IssuanceSession(card).clear()


def test_clear_resets_every_capability_to_freshly_installed(request: pytest.FixtureRequest, transport_kind: str,
                                                            card: Card) -> None:
    blank = personalisation_state(fresh_card(request, transport_kind, 1))
    personalise_everything(card)
    assert personalisation_state(card) != blank
    clear_after_closing_the_session(card)
    assert personalisation_state(card) == blank
    assert IssuanceSession(card).status().name == "EMPTY"
    # the next cardholder: a different Key1 and a new PIN go in, the old PIN is gone
    keys = DuplicationSession(card)
    personalise(keys, "98765", os.urandom(32))
    with pytest.raises(errors.CardRefusedError):
        keys.verify_pin("1234")
    keys.verify_pin("98765")
    keys.generate()
    assert keys.status().role_name == "main"
    DataAreaSession(card).define_region(1, 0, 4)  # and a new layout
    assert DataAreaSession(card).read(1, 0, 17) == bytes(17)


def test_clear_is_idempotent(card: Card) -> None:
    personalise_everything(card)
    clear_after_closing_the_session(card)
    once = personalisation_state(card)
    IssuanceSession(card).clear()
    assert personalisation_state(card) == once
