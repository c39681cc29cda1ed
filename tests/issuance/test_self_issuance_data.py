"""Self-issuance of real personalisation data: a profile's region layout, records and keys landing on cards.

Runs once the data-area commands (DEFINE_REGION, WRITE_DATA, READ_DATA, LOAD_COMMON_KEY) are in the protocol.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import power_cut
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.issuance import IssuanceSession, ProgressTable
from cardsmith.issuance.bundle import DEV_PERSO_KEY
from cardsmith.issuance.profile import Profile, prepare_batch, read_records
from cardsmith.protocol.codes import Ins, Tag
from conftest import fresh_card

pytestmark = pytest.mark.card

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "self-issuance"
MASTER = bytes(range(16))
LAYOUT = [(1, 0, 0, 2), (2, 1, 2, 1), (3, 0, 3, 4)]  # id, flags, first page, pages (staff-card.toml)


def read(card: Card, region: int, offset: int, length: int) -> bytes:
    return card.call(Ins.READ_DATA, data=bytes([region]) + offset.to_bytes(2, "big") + length.to_bytes(2, "big"))


def region_table(card: Card) -> list[tuple[int, int, int, int]]:
    raw = card.call(Ins.READ_DATA, p1=1)
    return [(raw[i], raw[i + 1] & 0x01, int.from_bytes(raw[i + 2 : i + 4], "big"),
             int.from_bytes(raw[i + 4 : i + 6], "big")) for i in range(0, len(raw), 6)]


def expected_record(r: dict[str, str]) -> bytes:
    return (r["name"].encode().ljust(32, b"\0") + r["employee"].encode().ljust(16, b"\0")
            + r["department"].encode().ljust(32, b"\0") + r["expiry"].encode().ljust(8, b"\0"))


def assert_personalised(card: Card, record: dict[str, str]) -> None:
    assert region_table(card) == LAYOUT
    assert read(card, 1, 0, 88) == expected_record(record)
    assert read(card, 2, 0, 2) == int(record["balance"]).to_bytes(2, "big")
    info = card.info()
    backup = info.raw[Tag.INFO_BACKUP]
    assert backup[0] & 0x01 and backup[1] == 1  # card-common key loaded, version 1
    assert info.lifecycle_name == "ISSUED"


@pytest.fixture
def batch() -> tuple[dict, list[dict[str, str]]]:
    profile = Profile.load(EXAMPLES / "staff-card.toml")
    records = read_records(EXAMPLES / "cardholders.csv")
    return prepare_batch(profile, records, DEV_PERSO_KEY, master=MASTER, sequence=100), records


def test_a_batch_from_profile_and_csv_lands_each_record_on_its_card(
        request: pytest.FixtureRequest, transport_kind: str, batch: tuple[dict, list[dict[str, str]]]) -> None:
    doc, records = batch
    table = ProgressTable.from_json(doc["progress"])
    for entry, record in zip(doc["bundles"], records, strict=True):
        card = fresh_card(request, transport_kind, 0)
        outcome = IssuanceSession(card).issue(bytes.fromhex(entry["bundle"]), table)
        assert outcome.ok, outcome
        assert_personalised(card, record)
        # clear-text personalisation is closed now: no new layout, no new common key
        with pytest.raises(errors.WrongStateError):
            card.call(Ins.DEFINE_REGION, data=bytes([4, 0, 0, 8, 0, 1]))
        with pytest.raises(errors.WrongStateError):
            card.call(Ins.LOAD_COMMON_KEY, data=b"\x02" + bytes(16))
        assert read(card, 1, 0, 88) == expected_record(record)


def test_an_interrupted_data_bundle_resumes_with_every_effect_applied_once(
        request: pytest.FixtureRequest, transport_kind: str, batch: tuple[dict, list[dict[str, str]]]) -> None:
    # DEFINE_REGION applied twice would fail (the region exists): the witness of double application.
    doc, records = batch
    envelope = bytes.fromhex(doc["bundles"][0]["bundle"])
    # Through pcscd each tear waits for vpcd's reader to see the card leave and come back (about a second),
    # so PC/SC walks every third fault point; the embedded simulator walks them all.
    step = 1 if transport_kind == "sim" else 3
    n = 0
    while True:
        card = fresh_card(request, transport_kind, 0)
        IssuanceSession(card).put_bundle(envelope)
        power_cut.arm(card, n)
        try:
            result = IssuanceSession(card).start()
        except errors.CardRemovedError:
            card.reset()
            st = IssuanceSession(card).status()
            assert len(region_table(card)) == min(st.done, 3)  # exactly the committed units' regions
            if st.name != "DONE":
                result = IssuanceSession(card).start()
                assert result.complete, (n, result)
            assert_personalised(card, records[0])
            n += step
            continue
        power_cut.disarm(card)
        assert result.complete
        assert_personalised(card, records[0])
        break
    assert n > 7  # every one of the 7 inner commands was interrupted


def test_the_station_resumes_only_the_record_the_card_holds(card: Card, tmp_path: Path,
                                                            batch: tuple[dict, list[dict[str, str]]]) -> None:
    # The issue's report: a card pulled during record 1, then `issue --record <record 2>` said "resume" and
    # logged record 2 while the card held record 1. Both bundles have the same length and sequence.
    import contextlib

    from cardsmith.issuance import RESUME, IssuanceLog, IssuingStation

    doc, records = batch
    first, second = doc["bundles"][0], doc["bundles"][1]
    assert len(first["bundle"]) == len(second["bundle"])  # what the card can see of them is the same
    log = IssuanceLog(tmp_path / "log.sqlite")
    station = IssuingStation(doc, log, lambda: contextlib.nullcontext(card))
    power_cut.arm(card, 6)  # inside START, after the first unit
    with pytest.raises(errors.CardRemovedError, match="put it back"):
        station.issue_one(first)
    card.reset()
    assert IssuanceSession(card).status().name == "RUNNING"
    with pytest.raises(errors.UsageError, match=f"holds the part-run bundle of record {first['record_id']}"):
        station.issue_one(second)
    assert [e.result for e in log.entries(second["record_id"])] == []  # nothing logged for the other record
    assert IssuanceSession(card).status().name == "RUNNING"  # and nothing sent that changed the card
    result = station.issue_one(first)
    assert result.result == "issued" and RESUME in result.actions
    assert_personalised(card, records[0])
    assert [e.result for e in log.entries(first["record_id"])] == ["interrupted", "issued"]
    # issued now: naming it again is refused unless --reissue
    with pytest.raises(errors.UsageError, match="issued already.*--reissue"):
        station.todo(first["record_id"])
    assert station.todo(first["record_id"], reissue=True) == [first]
