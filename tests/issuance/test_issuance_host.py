"""Self-issuance on the host alone: envelope format, profiles, CSV records, progress table, issuance log."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardsmith.core import crypto, errors
from cardsmith.issuance import CLEAR_AND_RETRY, REJECT, RESUME, ProgressTable
from cardsmith.issuance.bundle import (
    DEV_PERSO_KEY,
    BundlePlan,
    EnvelopeHeader,
    InnerCommand,
    kdf256,
    open_envelope,
    seal,
)
from cardsmith.issuance.log import IssuanceLog
from cardsmith.issuance.profile import Profile, build_plan, prepare_batch, read_records

# NIST SP 800-38B / RFC 4493 AES-128 examples
NIST_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NIST_MSG = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411")


@pytest.mark.parametrize(("length", "tag"), [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
])
def test_cmac_matches_the_nist_examples(length: int, tag: str) -> None:
    assert crypto.cmac(NIST_KEY, NIST_MSG[:length]).hex() == tag


def test_kdf_is_two_cmac_blocks_in_the_scp03_layout() -> None:
    k = kdf256(DEV_PERSO_KEY, 0x04)
    assert len(k) == 32
    assert k[:16] == crypto.cmac(DEV_PERSO_KEY, bytes(11) + bytes([4, 0, 1, 0, 1]))
    assert kdf256(DEV_PERSO_KEY, 0x06) != k


def test_an_envelope_round_trips_and_detects_every_flipped_byte() -> None:
    plan = BundlePlan([InnerCommand.named("ECHO", data=b"x"), InnerCommand.named("CLOSE_PERSONALISATION")], [2])
    env = seal(DEV_PERSO_KEY, plan.encode(), sequence=42, card_id=bytes(range(8)))
    header, plain = open_envelope(DEV_PERSO_KEY, env)
    assert (header.sequence, header.card_id, header.bound) == (42, bytes(range(8)), True)
    assert BundlePlan.decode(plain) == plan
    for i in range(len(env)):
        bad = bytearray(env)
        bad[i] ^= 0x01
        with pytest.raises(errors.BadDataError):
            open_envelope(DEV_PERSO_KEY, bytes(bad))
    with pytest.raises(errors.BadDataError):
        open_envelope(DEV_PERSO_KEY, env[:-1])
    assert EnvelopeHeader.parse(env).ct_length == len(env) - 48


def test_plan_units_follow_the_checkpoints() -> None:
    cmds = [InnerCommand.named("ECHO")] * 6
    assert BundlePlan(cmds, [3, 5]).units() == [(1, 2), (3, 4), (5, 6)]
    assert BundlePlan(cmds, []).units() == [(1, 6)]
    with pytest.raises(errors.UsageError):
        BundlePlan(cmds, [7]).encode()


PROFILE = """
[profile]
name = "staff"
record_id = "id"

[[step]]
command = "ECHO"
label = "name"
data = [{text = "{name}", size = 16}, {u16 = "{number}"}]

[[step]]
command = "ECHO"
checkpoint = false
data = [{hex = "CAFE"}, {derive = "key1", size = 16}]

[[step]]
command = "GET_INFO"

[progress]
default = "reject"
[[progress.rules]]
commands = "1-2"
sw = ["6A84"]
action = "clear_and_retry"
"""


def write(tmp_path: Path, profile: str = PROFILE, csv: str = "id,name,number\nA1,Ann,7\nB2,Bob,0x10\n"
          ) -> tuple[Path, Path]:
    (tmp_path / "p.toml").write_text(profile)
    (tmp_path / "r.csv").write_text(csv)
    return tmp_path / "p.toml", tmp_path / "r.csv"


def test_a_profile_and_records_make_one_sealed_bundle_per_cardholder(tmp_path: Path) -> None:
    p, r = write(tmp_path)
    profile = Profile.load(p)
    records = read_records(r)
    master = bytes(range(16))
    plan = build_plan(profile, records[1], master)
    assert [c.name for c in plan.commands] == ["ECHO", "ECHO", "GET_INFO", "CLOSE_PERSONALISATION"]
    assert plan.commands[0].data == b"Bob".ljust(16, b"\0") + (16).to_bytes(2, "big")
    assert plan.commands[1].data[:2] == b"\xca\xfe"
    assert plan.commands[1].data[2:] == kdf256(master, 0x20, b"key1\x00B2")[:16]
    assert plan.checkpoints == [3, 4]  # step 2 joins step 1's unit; CLOSE is its own unit
    batch = prepare_batch(profile, records, DEV_PERSO_KEY, master=master, sequence=5)
    assert [b["record_id"] for b in batch["bundles"]] == ["A1", "B2"]
    assert batch["steps"] == ["name", "ECHO", "GET_INFO", "CLOSE_PERSONALISATION"]
    header, plain = open_envelope(DEV_PERSO_KEY, bytes.fromhex(batch["bundles"][0]["bundle"]))
    assert header.sequence == 5 and not header.bound
    assert BundlePlan.decode(plain).commands[0].data.startswith(b"Ann")
    # the batch a technician holds carries no personalisation data in clear
    text = str(batch)
    assert "Ann" not in text and "Bob" not in text and b"Ann".hex() not in text


@pytest.mark.parametrize(("profile", "csv", "message"), [
    (PROFILE.replace('"ECHO"', '"NO_SUCH"', 1), None, "unknown command 'NO_SUCH'"),
    (PROFILE.replace("{name}", "{surname}"), None, "no column 'surname'"),
    (PROFILE, "id,name,number\nA1,Ann,seven\n", "'seven' is not a number"),
    (PROFILE, "id,name,number\nA1,Ann,1\nA1,Bob,2\n", "appears twice"),
    (PROFILE, "id,name,number\nA1,Annabelle-Maria-Longname,1\n", "longer than 16 bytes"),
    (PROFILE.replace('command = "GET_INFO"', 'command = "START_BUNDLE"'), None, "cannot be an inner command"),
    (PROFILE.replace('default = "reject"', 'default = "explode"'), None, "unknown default action"),
    ("[profile]\nname='x'\n", None, "no [[step]]"),
])
def test_profile_mistakes_get_clear_errors(tmp_path: Path, profile: str, csv: str | None, message: str) -> None:
    p, r = write(tmp_path, profile, csv or "id,name,number\nA1,Ann,7\n")
    with pytest.raises(errors.UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        prepare_batch(Profile.load(p), read_records(r), DEV_PERSO_KEY, master=bytes(16), sequence=1)


def test_a_derived_key_needs_the_master_key(tmp_path: Path) -> None:
    p, r = write(tmp_path)
    with pytest.raises(errors.UsageError, match="--master-key"):
        prepare_batch(Profile.load(p), read_records(r), DEV_PERSO_KEY, sequence=1)


def test_bound_profiles_need_a_card_id_per_record(tmp_path: Path) -> None:
    bound = PROFILE.replace('record_id = "id"', 'record_id = "id"\ncard_id_column = "card"')
    p, r = write(tmp_path, bound, "id,name,number,card\nA1,Ann,7,0011223344556677\nB2,Bob,1,xyz\n")
    with pytest.raises(errors.UsageError, match="line 3"):
        prepare_batch(Profile.load(p), read_records(r), DEV_PERSO_KEY, master=bytes(16), sequence=1)


def test_the_progress_table_maps_failure_points_to_actions(tmp_path: Path) -> None:
    p, _ = write(tmp_path)
    table = Profile.load(p).progress
    assert table.action(2, 0x6A84) == CLEAR_AND_RETRY
    assert table.action(3, 0x6A84) == REJECT
    assert table.action(1, 0x6A80) == REJECT
    again = ProgressTable.from_json(table.to_json())
    assert again == table
    assert ProgressTable.from_json({"rules": [{"action": "resume"}]}).action(9, 0x6985) == RESUME


def test_the_issuance_log_keeps_which_card_got_which_record(tmp_path: Path) -> None:
    log = IssuanceLog(tmp_path / "cat.sqlite")
    log.record(card_id=bytes(8), record_id="A1", profile="staff", sequence=5, result="issued", exchanges=2)
    log.record(card_id=b"\1" * 8, record_id="B2", profile="staff", sequence=5, result="rejected", failed_at=3,
               sw=0x6A84, actions=[REJECT])
    log.close()
    again = IssuanceLog(tmp_path / "cat.sqlite")
    assert again.issued_records("staff", 5) == {"A1"}
    (entry,) = again.entries("B2")
    assert (entry.card_id, entry.result, entry.failed_at, entry.sw, entry.actions) == (
        "0101010101010101", "rejected", 3, "6A84", "reject")
