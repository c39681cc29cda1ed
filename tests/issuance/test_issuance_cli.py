"""`cardsmith prepare` and `cardsmith issue` as the preparer and the technician run them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cardsmith.cli import exitcodes
from cli_helpers import run

pytestmark = pytest.mark.card

PROFILE = """
[profile]
name = "staff"

[[step]]
command = "ECHO"
data = [{text = "{name}"}]

[[step]]
command = "GET_INFO"
p1 = "{p1}"

[progress]
default = "reject"
"""


# runs first: it leaves card 1 blank again, for the batch test after it
def test_a_failing_record_is_rejected_and_the_card_left_blank(service: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(PROFILE)
    (tmp_path / "r.csv").write_text("id,name,p1\nC3,Cy,1\n")
    batch = tmp_path / "batch.json"
    assert run(service, "prepare", str(tmp_path / "p.toml"), str(tmp_path / "r.csv"), "-o", str(batch)).returncode == 0
    out = run(service, "-r", "sim 1", "issue", str(batch), "--log", str(tmp_path / "log.sqlite"))
    status = json.loads(run(service, "-r", "sim 1", "--json", "bundle-status").stdout)
    assert out.returncode == exitcodes.EXIT_CARD_REFUSED, out.stdout + out.stderr
    assert "not issued: C3" in out.stderr
    assert "inner command 2 of 3 failed with 6A86" in out.stdout
    assert json.loads(run(service, "-r", "sim 1", "--json", "info").stdout)["lifecycle"] == "INSTALLED"
    assert status["status"] == "EMPTY"


def test_prepare_then_issue_a_batch_with_its_log(service: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(PROFILE)
    (tmp_path / "r.csv").write_text("id,name,p1\nA1,Ann,0\nB2,Bob,0\nC3,Cy,1\n")
    batch = tmp_path / "batch.json"
    out = run(service, "prepare", str(tmp_path / "p.toml"), str(tmp_path / "r.csv"), "-o", str(batch),
              "--per-card", str(tmp_path / "cards"))
    assert out.returncode == 0, out.stderr
    assert "3 bundles" in out.stdout and (tmp_path / "cards" / "B2.json").exists()
    assert "Ann" not in batch.read_text()

    log = tmp_path / "log.sqlite"
    first = run(service, "--json", "issue", str(batch), "--log", str(log), "--no-wait")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # no progress label or other noise without a terminal
    (r,) = json.loads(first.stdout)["results"]
    assert json.loads(first.stdout)["lifecycle"] == "ISSUED"  # the profile closes personalisation (default)
    assert (r["record_id"], r["result"]) == ("A1", "issued")
    status = json.loads(run(service, "--json", "bundle-status").stdout)
    assert (status["status"], status["committed"], status["commands"]) == ("DONE", 3, 3)
    assert status["card_id"] == r["card_id"]  # which card the status is of
    assert json.loads(run(service, "--json", "info").stdout)["lifecycle"] == "ISSUED"

    # the same card again: it is issued, the station says so and changes nothing
    again = run(service, "issue", str(batch), "--log", str(log), "--record", "A1")
    assert again.returncode == exitcodes.EXIT_USAGE and "issued already" in again.stderr  # the log says so
    again = run(service, "issue", str(batch), "--log", str(log), "--record", "A1", "--reissue")
    assert again.returncode == exitcodes.EXIT_CARD_REFUSED, again.stdout + again.stderr  # and so does the card

    second = run(service, "-r", "sim 1", "issue", str(batch), "--log", str(log), "--no-wait")
    assert second.returncode == 0, second.stderr
    assert "B2" in second.stdout and "issued" in second.stdout
    assert "each card issued is now ISSUED: its bundle closed personalisation for good" in second.stdout
    assert "issuing" not in second.stdout + second.stderr  # no progress label in a pipe or a log

    rows = sqlite3.connect(log).execute("SELECT record_id, result, card_id FROM issuance_log ORDER BY id").fetchall()
    assert [(a, b) for a, b, _ in rows] == [("A1", "issued"), ("B2", "issued")]
    assert rows[0][2] != rows[1][2]

    # `cardsmith issuance log` lists it; a record issued already is named, and refused unless --reissue
    listed = run(service, "issuance", "log", "--log", str(log))
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2
    assert "A1" in listed.stdout.splitlines()[0] and rows[0][2] in listed.stdout.splitlines()[0]
    only = json.loads(run(service, "--json", "issuance", "log", "--log", str(log), "--record", "B2").stdout)
    assert [(e["record_id"], e["result"], e["card_id"]) for e in only] == [("B2", "issued", rows[1][2])]
    again_b2 = run(service, "-r", "sim 1", "issue", str(batch), "--log", str(log), "--record", "B2")
    assert again_b2.returncode == exitcodes.EXIT_USAGE and f"issued already, onto card {rows[1][2]}" in again_b2.stderr
    assert "--reissue" in again_b2.stderr
    reissued = run(service, "-r", "sim 1", "issue", str(batch), "--log", str(log), "--record", "B2", "--reissue")
    assert reissued.returncode == exitcodes.EXIT_CARD_REFUSED  # allowed now; this card is ISSUED, so set aside
    assert "ISSUED already" in reissued.stderr




def test_a_batch_at_the_desk_waits_for_card_swaps(tmp_path: Path) -> None:
    """`issue --count 3` with no terminal: card events drive it (`sim eject` / `sim insert`), the same card
    coming back is told apart from a new one, and each card's line is printed when that card is done."""
    import subprocess
    import threading
    import time

    from cli_helpers import CARDSMITH, base_env

    env = base_env(tmp_path / "home")
    assert run(env, "sim", "start", "--cards", "2").returncode == 0
    try:
        (tmp_path / "p.toml").write_text(PROFILE)
        (tmp_path / "r.csv").write_text("id,name,p1\nA1,Ann,0\nB2,Bob,0\nD4,Di,0\n")
        batch, log = tmp_path / "batch.json", tmp_path / "log.sqlite"
        assert run(env, "prepare", str(tmp_path / "p.toml"), str(tmp_path / "r.csv"), "-o", str(batch)).returncode == 0
        desk = subprocess.Popen([*CARDSMITH, "-r", "sim 1", "issue", str(batch), "--count", "3", "--log", str(log),
                                 "--swap-timeout", "60"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(iter(desk.stderr.readline, "")), daemon=True)
        reader.start()

        def until(text: str, times: int = 1) -> None:
            deadline = time.monotonic() + 60
            while sum(text in line for line in said) < times:
                assert desk.poll() is None and time.monotonic() < deadline, (text, said)
                time.sleep(0.05)

        first = desk.stdout.readline()
        assert first.startswith("A1") and "issued" in first  # printed as soon as the first card is done
        until("remove card")
        assert run(env, "sim", "eject", "1").returncode == 0
        until("insert the next blank card for record B2")
        assert run(env, "sim", "insert", "1").returncode == 0  # the same card back
        until("the one just done")
        assert run(env, "sim", "eject", "1").returncode == 0
        until("insert the next blank card for record B2", times=2)
        assert run(env, "sim", "insert", "1", "--new").returncode == 0
        second = desk.stdout.readline()
        assert second.startswith("B2") and "issued" in second
        until("remove card", times=2)
        assert run(env, "sim", "eject", "1").returncode == 0
        until("record D4")
        assert run(env, "sim", "insert", "1", "--new").returncode == 0
        third = desk.stdout.readline()
        assert third.startswith("D4") and "issued" in third
        assert desk.wait(timeout=60) == 0
        rows = sqlite3.connect(log).execute("SELECT record_id, result, card_id FROM issuance_log").fetchall()
        assert [(a, b) for a, b, _ in rows] == [("A1", "issued"), ("B2", "issued"), ("D4", "issued")]
        assert len({c for _, _, c in rows}) == 3  # three different cards
    finally:
        run(env, "sim", "stop")
