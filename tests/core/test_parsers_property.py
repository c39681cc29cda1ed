"""Property-based: the host's parsers given generated bad input answer one clean error, never a traceback.

Each case runs the real `cardsmith` entry point in this process (`cardsmith.cli.main`) on files written by
Hypothesis: a profile TOML, a cardholder CSV, a master key, a batch JSON, a backup file (.csb), an encrypted
file (.csef). The property: the command either succeeds, or exits 2 (usage) or 6 (bad data) with exactly one
line on stderr starting "error:". An exception escaping `main` (a traceback for the user) fails the test.
No card is involved: inputs that parse fine would need one, and CARDSMITH_SIM_CLASSPATH points nowhere so
that such a case ends at exit 5 without a simulator starting.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardsmith.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "self-issuance"
EXAMPLES = int(os.environ.get("CARDSMITH_HYPOTHESIS_EXAMPLES", "60"))  # more when hunting locally
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

GOOD_PROFILE = """\
[profile]
name = "demo"
record_id = "id"

[[step]]
command = "ECHO"
data = [{text = "{name}"}, {u8 = "{n}"}]
"""
GOOD_CSV = "id,name,n\nA1,Ann,1\n"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARDSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARDSMITH_SIM_CLASSPATH", str(tmp_path / "no-simulator"))
    for name in [k for k in os.environ if k.startswith("CARDSMITH_") and k not in
                 ("CARDSMITH_HOME", "CARDSMITH_SIM_CLASSPATH")]:
        monkeypatch.delenv(name)
    return tmp_path


def cardsmith(*args: str) -> tuple[int, str]:
    """Runs the command in-process; returns (exit code, stderr). Any escaping exception propagates."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(args))
        except SystemExit as exc:
            return int(exc.code or 0), err.getvalue()
    raise AssertionError("main returned without exiting")


def assert_clean(code: int, stderr: str, allowed: tuple[int, ...] = (2, 6)) -> None:
    if code == 0:
        return
    lines = stderr.strip().splitlines()
    assert code in allowed, (code, stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr


# ---------------------------------------------------------------- profile TOML

def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (JSON escapes are TOML escapes for these characters)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


scalars = st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([-1, 0, 127, 255, 256, 300, 65535, 65536, 70000]),
                    st.text(max_size=12), st.sampled_from(["{n}", "{name}", "{missing}", "0x1F", "zz", "00FF"]),
                    st.booleans())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
item_keys = st.sampled_from(["hex", "text", "u8", "u16", "random", "derive", "size", "other"])
items = st.dictionaries(item_keys, values, min_size=1, max_size=2) | values
step_keys = st.sampled_from(["command", "p1", "p2", "data", "checkpoint", "label", "extra"])
commands = st.sampled_from(["ECHO", "GET_INFO", "DEFINE_REGION", "WRITE_DATA", "NOPE", ""]) | st.text(max_size=8)
steps = st.fixed_dictionaries({"command": commands}, optional={
    "p1": values, "p2": values, "data": st.lists(items, max_size=3) | values, "checkpoint": values,
    "label": values}) | st.dictionaries(step_keys, values, max_size=3)
progress = st.fixed_dictionaries({}, optional={
    "default": st.sampled_from(["reject", "retry", "clear-and-retry", "bogus"]) | values,
    "rules": st.lists(st.dictionaries(st.sampled_from(["action", "commands", "sw"]), values, max_size=3)
                      | values, max_size=2) | values})
profiles = st.fixed_dictionaries({"step": st.lists(steps, max_size=3) | values}, optional={
    "profile": st.dictionaries(st.sampled_from(["name", "record_id", "card_id_column", "close"]), values,
                               max_size=3) | values,
    "progress": progress | values})


def profile_text(doc: dict) -> str:
    out = []
    for key, value in doc.items():
        if key == "step" and isinstance(value, list) and all(isinstance(s, dict) for s in value):
            for s in value:
                out.append("[[step]]\n" + "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in s.items()))
        else:
            out.insert(0, f"{key} = {toml_value(value)}\n")
    return "\n".join(out)


@SETTINGS
@given(doc=profiles)
def test_generated_profiles_get_a_clean_error(sandbox: Path, doc: dict) -> None:
    (sandbox / "p.toml").write_text(profile_text(doc))
    (sandbox / "r.csv").write_text(GOOD_CSV)
    code, err = cardsmith("prepare", str(sandbox / "p.toml"), str(sandbox / "r.csv"), "-o", str(sandbox / "b.json"),
                          "--master-key", "00" * 16)
    assert_clean(code, err)


@SETTINGS
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_profile_bytes_get_a_clean_error(sandbox: Path, raw: bytes) -> None:
    (sandbox / "p.toml").write_bytes(raw)
    (sandbox / "r.csv").write_text(GOOD_CSV)
    assert_clean(*cardsmith("prepare", str(sandbox / "p.toml"), str(sandbox / "r.csv"), "-o", str(sandbox / "b.json")))


# ---------------------------------------------------------------- CSV records

csv_cells = st.sampled_from(["A1", "Ann", "1", "", "300", "x,y", '"', "\n", "\x00", "é"]) | st.text(max_size=6)
csv_rows = st.lists(st.lists(csv_cells, max_size=5), min_size=0, max_size=4)


@SETTINGS
@given(header=st.lists(st.sampled_from(["id", "name", "n", "extra", ""]), max_size=5), rows=csv_rows,
       junk=st.binary(max_size=20))
def test_generated_records_get_a_clean_error(sandbox: Path, header: list[str], rows: list[list[str]],
                                             junk: bytes) -> None:
    text = "\n".join(",".join(r) for r in [header, *rows]).encode() + junk
    (sandbox / "p.toml").write_text(GOOD_PROFILE)
    (sandbox / "r.csv").write_bytes(text)
    assert_clean(*cardsmith("prepare", str(sandbox / "p.toml"), str(sandbox / "r.csv"), "-o", str(sandbox / "b.json")))


# ---------------------------------------------------------------- keys and hex options

@SETTINGS
@given(key=st.text(max_size=70) | st.sampled_from(["00" * 15, "00" * 17, "0" * 31, "zz" * 16, "00 11", "dev"]))
def test_key_options_get_a_clean_error(sandbox: Path, key: str) -> None:
    (sandbox / "p.toml").write_text(GOOD_PROFILE)
    (sandbox / "r.csv").write_text(GOOD_CSV)
    for option in ("--master-key", "--key"):
        code, err = cardsmith("prepare", str(sandbox / "p.toml"), str(sandbox / "r.csv"),
                              "-o", str(sandbox / "b.json"), option, key)
        assert_clean(code, err)


# ---------------------------------------------------------------- batch JSON

json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 2**33) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)


def good_batch(tmp: Path) -> dict:
    (tmp / "p.toml").write_text(GOOD_PROFILE)
    (tmp / "r.csv").write_text(GOOD_CSV)
    code, err = cardsmith("prepare", str(tmp / "p.toml"), str(tmp / "r.csv"), "-o", str(tmp / "good.json"))
    assert code == 0, err
    return json.loads((tmp / "good.json").read_text())


@SETTINGS
@given(data=st.data())
def test_damaged_batches_get_a_clean_error(sandbox: Path, data: st.DataObject) -> None:
    batch = good_batch(sandbox)
    # damage: drop or replace a top-level key, or a key of the bundle entry
    target = data.draw(st.sampled_from(["top", "bundle"]))
    where = batch if target == "top" else batch["bundles"][0]
    key = data.draw(st.sampled_from(sorted(where)))
    if data.draw(st.booleans()):
        del where[key]
    else:
        where[key] = data.draw(json_values | st.sampled_from(["zz", "0", "00" * 10, []]))
    (sandbox / "b.json").write_text(json.dumps(batch))
    code, err = cardsmith("issue", str(sandbox / "b.json"), "--log", str(sandbox / "log.sqlite"), "--no-wait")
    assert_clean(code, err, allowed=(2, 5, 6))  # 5: the batch was fine after all and a card was looked for


@SETTINGS
@given(raw=json_values.map(json.dumps).map(str.encode) | st.binary(max_size=100))
def test_any_json_as_a_batch_gets_a_clean_error(sandbox: Path, raw: bytes) -> None:
    (sandbox / "b.json").write_bytes(raw)
    assert_clean(*cardsmith("issue", str(sandbox / "b.json"), "--log", str(sandbox / "log.sqlite"), "--no-wait"))


# ---------------------------------------------------------------- backup files and .csef files

@SETTINGS
@given(raw=st.binary(max_size=600),
       prefix=st.sampled_from([b"", b"CSBKFILE", b"CSBKFILE\x01", b"CSBKFILE\x01\x00\x50CSB1"]))
def test_backup_files_get_a_clean_error(sandbox: Path, raw: bytes, prefix: bytes) -> None:
    (sandbox / "x.csb").write_bytes(prefix + raw)
    assert_clean(*cardsmith("backups", "import", str(sandbox / "x.csb"), "--dir", str(sandbox / "backups")))


@SETTINGS
@given(raw=st.binary(max_size=400), prefix=st.sampled_from([b"", b"CSEF", b"CSEF\x01"]))
def test_encrypted_files_get_a_clean_error(sandbox: Path, raw: bytes, prefix: bytes) -> None:
    # `files decrypt` needs a card; the .csef parser it runs first is driven here directly
    from cardsmith.cli.exitcodes import exit_code
    from cardsmith.core.errors import CardsmithError
    from cardsmith.duplication.files import CardFile

    (sandbox / "x.csef").write_bytes(prefix + raw)
    try:
        CardFile.read(sandbox / "x.csef")
    except CardsmithError as exc:
        assert exit_code(exc) == 6 and "\n" not in str(exc)


# ---------------------------------------------------------------- the cases found by hand, each with its message

@pytest.mark.parametrize(("profile", "csv_text", "key", "message"), [
    (GOOD_PROFILE.replace('"{n}"', "300"), GOOD_CSV, "00" * 16, "u8: 300 is out of range (0..255)"),
    (GOOD_PROFILE.replace('{u8 = "{n}"}', "{u16 = 70000}"), GOOD_CSV, "00" * 16, "u16: 70000 is out of range"),
    (GOOD_PROFILE.replace('{u8 = "{n}"}', "{u16 = -1}"), GOOD_CSV, "00" * 16, "u16: -1 is out of range"),
    (GOOD_PROFILE, GOOD_CSV.replace(",1\n", ",999\n"), "00" * 16, "u8: 999 is out of range"),
    (GOOD_PROFILE, GOOD_CSV, "00" * 15, "--master-key is 16 or 32 bytes"),
    (GOOD_PROFILE, "id,name,n\nA1,Ann\n", "00" * 16, "row 2 has 2 fields where the header has 3"),
    (GOOD_PROFILE, "id,name,name,n\nA1,Ann,Bob,1\n", "00" * 16, "names column 'name' twice"),
    (GOOD_PROFILE, "id,name,n\nA1," + "x" * (129 * 1024) + ",1\n", "00" * 16, "a field holds at most 128 KiB"),
    ("step = 3\n" + GOOD_PROFILE.replace("[[step]]", "[x]"), GOOD_CSV, "00" * 16, "step must be an array"),
])
def test_bad_preparer_input_is_named(sandbox: Path, profile: str, csv_text: str, key: str, message: str) -> None:
    (sandbox / "p.toml").write_text(profile)
    (sandbox / "r.csv").write_text(csv_text)
    code, err = cardsmith("prepare", str(sandbox / "p.toml"), str(sandbox / "r.csv"), "-o", str(sandbox / "b.json"),
                          "--master-key", key)
    assert code == 2 and message in err, err
    assert not (sandbox / "b.json").exists()  # nothing half-written


def test_records_that_are_not_utf8_are_named(sandbox: Path) -> None:
    (sandbox / "p.toml").write_text(GOOD_PROFILE)
    (sandbox / "r.csv").write_bytes(b"id,name,n\nA1,\xe9ric,1\n")  # Latin-1, as a spreadsheet may save it
    code, err = cardsmith("prepare", str(sandbox / "p.toml"), str(sandbox / "r.csv"), "-o", str(sandbox / "b.json"))
    assert code == 2 and "is not UTF-8 text" in err and "save the CSV as UTF-8" in err


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: b.pop("bundles"), "no bundles"),
    (lambda b: b["bundles"][0].pop("record_id"), "bundle 1 has no record id"),
    (lambda b: b["bundles"][0].update(bundle="zz"), "is missing or not hex"),
    (lambda b: b.update(sequence="1"), "no bundle sequence number"),
])
def test_a_damaged_batch_is_refused_before_any_card(sandbox: Path, damage, message: str) -> None:  # noqa: ANN001
    batch = good_batch(sandbox)
    damage(batch)
    (sandbox / "b.json").write_text(json.dumps(batch))
    code, err = cardsmith("issue", str(sandbox / "b.json"), "--log", str(sandbox / "log.sqlite"))
    assert code == 6 and message in err and "prepare it again" in err, err
