"""CLEAR_BUNDLE puts every capability back to freshly installed (issue 9): a cleared card equals a new one in
everything personalisation wrote, and takes the next cardholder's PIN and Key1."""

from __future__ import annotations

import os

import pytest

from cardsmith import data, errors
from cardsmith.bundle import DEV_PERSO_KEY, BundlePlan, InnerCommand, seal
from cardsmith.card import Card
from cardsmith.duplication import KeyCard, personalise
from cardsmith.issuance import bundle_status, clear_bundle, put_bundle
from cardsmith.protocol import CONST, TAG
from conftest import fresh_card

pytestmark = pytest.mark.card

# GET INFO's card-wide part: differs between two cards (id, free memory) or is not personalisation's.
CORE_TAGS = {TAG[name] for name in ("INFO_VERSION", "INFO_CARD_ID", "INFO_LIFECYCLE", "INFO_CAPABILITIES",
                                    "INFO_PERSISTENT_FREE", "INFO_TRANSIENT_RESET_FREE",
                                    "INFO_TRANSIENT_DESELECT_FREE", "INFO_BUFFERS", "INFO_ALGORITHMS")}


def personalisation_state(card: Card) -> dict[str, object]:
    """Everything personalisation can write, as the card reports it."""
    raw = card.info().raw
    return {
        "info": {tag: value for tag, value in raw.items() if tag not in CORE_TAGS},
        "duplication": card.call("DUPLICATION_STATUS"),
        "bundle": card.call("BUNDLE_STATUS"),
        "regions": card.call("READ_DATA", p1=1),
    }


def personalise_everything(card: Card) -> None:
    data.define_region(card, 1, 0, 4)
    data.define_region(card, 2, 4, 2, value=True)
    data.write(card, 1, 0, b"cardholder record")
    data.load_common_key(card, 1, bytes(range(16)))
    keys = KeyCard(card)
    personalise(keys, "1234", os.urandom(32))
    keys.verify_pin("1234")
    keys.put_slot(2, os.urandom(32))
    keys.generate()
    keys.lock()
    plan = BundlePlan([InnerCommand.named("ECHO", data=b"later")], [])
    put_bundle(card, seal(DEV_PERSO_KEY, plan.encode(), sequence=5))
    card.call("BACKUP", p1=CONST["BACKUP_TYPE_FULL"])  # and a backup session left open


def test_clear_resets_every_capability_to_freshly_installed(request: pytest.FixtureRequest, transport_kind: str,
                                                            card: Card) -> None:
    blank = personalisation_state(fresh_card(request, transport_kind, 1))
    personalise_everything(card)
    assert personalisation_state(card) != blank
    clear_bundle(card)
    assert personalisation_state(card) == blank
    assert bundle_status(card).name == "EMPTY"
    # the next cardholder: a different Key1 and a new PIN go in, the old PIN is gone
    keys = KeyCard(card)
    personalise(keys, "98765", os.urandom(32))
    with pytest.raises(errors.CardRefusedError):
        keys.verify_pin("1234")
    keys.verify_pin("98765")
    keys.generate()
    assert keys.status().role_name == "main"
    data.define_region(card, 1, 0, 4)  # and a new layout
    assert data.read(card, 1, 0, 17) == bytes(17)


def test_clear_is_idempotent(card: Card) -> None:
    personalise_everything(card)
    clear_bundle(card)
    once = personalisation_state(card)
    clear_bundle(card)
    assert personalisation_state(card) == once
