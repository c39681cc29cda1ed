"""The station side through the CLI with --server, as technicians run it: two desks backing up one card through
the server (a backup taken at one desk is the other's base; restore finds the chain on the server), issuance
reserving each record on the server, and a desk offline, working, then syncing (the conflict rules of
docs/server.md: nothing lost, nothing silently overwritten)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_fixtures import Deployment, db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import client, free_port

from cardsmith.cli import exitcodes
from cli_helpers import run

pytestmark = pytest.mark.card
COMMON_KEY = "000102030405060708090A0B0C0D0E0F"
PROFILE = """
[profile]
name = "staff"

[[step]]
command = "ECHO"
data = [{text = "{name}"}]

[progress]
default = "reject"
"""


@pytest.fixture(scope="module")
def desks(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, str]]]:
    """A simulator service with five cards, and three desks (own CARDSMITH_HOME: log, outbox, catalogue):
    desk a and b on the server with their own station keys, desk "off" with b's key and a server that is down."""
    root = tmp_path_factory.mktemp("desks")
    sim_env = {**deployment.env, "CARDSMITH_HOME": str(root / "sim")}
    started = run(sim_env, "sim", "start", "--cards", "5")
    assert started.returncode == 0, started.stderr
    out = {}
    for name, key, url in [("a", deployment.station, deployment.server.url),
                           ("b", deployment.station2, deployment.server.url),
                           ("off", deployment.station2, f"http://127.0.0.1:{free_port()}")]:
        home = root / name
        home.mkdir()
        shutil.copy(root / "sim" / "sim.json", home / "sim.json")  # the same simulated cards at every desk
        out[name] = {**deployment.env, "CARDSMITH_HOME": str(home), "CARDSMITH_SERVER": url,
                     "CARDSMITH_SERVER_KEY": key}
    yield out
    assert run(sim_env, "sim", "stop").returncode == 0


def _json(done) -> dict:  # noqa: ANN001
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_two_desks_share_one_chain_and_restore_finds_it_on_the_server(desks, deployment) -> None:  # noqa: ANN001
    a, b, off = desks["a"], desks["b"], desks["off"]
    card = ["-r", "sim 4"]
    for args in (["data", "define", "1", "--first-page", "0", "--pages", "8"],
                 ["data", "load-common-key", "--version", "1"], ["data", "write", "1", "--text", "first"]):
        assert run({**a, "CARDSMITH_COMMON_KEY": COMMON_KEY}, *card, *args).returncode == 0
    full = _json(run(a, *card, "--json", "backup"))
    assert full["type"] == "full" and full["uploaded"] is True
    assert run(b, *card, "data", "write", "1", "--offset", "200", "--text", "second").returncode == 0
    diff = _json(run(b, *card, "--json", "backup"))  # desk b's catalogue was empty: the server's chain is its base
    assert diff["type"] == "diff" and diff["uploaded"] is True and diff["seq"] == full["seq"] + 1
    with client(deployment.server, deployment.station) as http:
        chain = http.get(f"/v1/cards/{full['card_id']}/chain").json()
    assert [(e["seq"], e["type"]) for e in chain["chain"]] == [(full["seq"], "full"), (diff["seq"], "diff")]

    # desk "off" has a fresh catalogue and no server: its backup is full (never an orphan differential), kept
    assert run(off, *card, "data", "write", "1", "--text", "third").returncode == 0
    kept = run(off, *card, "--json", "backup")
    taken = _json(kept)
    assert taken["type"] == "full" and taken["uploaded"] is False
    assert "is unavailable" in kept.stderr and "lacks this card's last backup" in kept.stderr
    assert "Traceback" not in kept.stderr

    # desk a restores the card from the server's chain (its own catalogue lacks desk b's differential)
    assert run(a, *card, "data", "write", "1", "--text", "garbage").returncode == 0
    restored = _json(run(a, *card, "--json", "restore", f"{full['card_id']}-{diff['seq']}"))
    assert restored["restored"] == [full["id"], diff["id"]]
    read = _json(run(a, *card, "--json", "data", "read", "1", "--length", "206"))
    data = bytes.fromhex(read["hex"])
    assert data[:5] == b"first" and data[200:206] == b"second"

    # the offline desk syncs: its full backup reaches the server, twice changes nothing
    synced = _json(run({**off, "CARDSMITH_SERVER": deployment.server.url}, "--json", "sync"))
    assert synced["backups"]["uploaded"] == [taken["id"]] and synced["backups"]["conflicts"] == []
    again = _json(run({**off, "CARDSMITH_SERVER": deployment.server.url}, "--json", "sync"))
    assert again["backups"]["uploaded"] == [] and again["backups"]["already"] == 1
    with client(deployment.server, deployment.station) as http:
        assert http.get(f"/v1/cards/{full['card_id']}/chain").json()["latest_seq"] == taken["seq"]


def test_issue_reserves_on_the_server_and_an_offline_desk_syncs_with_conflicts_reported(desks, deployment,
                                                                                          tmp_path: Path) -> None:
    a, off = desks["a"], desks["off"]
    (tmp_path / "p.toml").write_text(PROFILE)
    (tmp_path / "r.csv").write_text("id,name\nA1,Ann\nB2,Bob\nC3,Cy\n")
    batch = tmp_path / "batch.json"
    assert run(a, "prepare", str(tmp_path / "p.toml"), str(tmp_path / "r.csv"), "-o", str(batch)).returncode == 0

    first = _json(run(a, "-r", "sim 0", "--json", "issue", str(batch), "--no-wait"))
    assert [(r["record_id"], r["result"]) for r in first["results"]] == [("A1", "issued")]
    card0 = first["results"][0]["card_id"]
    with client(deployment.server, deployment.station) as http:
        (view,) = [v for v in http.get("/v1/batches").json() if v["profile"] == "staff"]
        assert view["counts"] == {"free": 2, "reserved": 0, "issued": 1}

    # the server never issues a record twice: --record A1 at desk a is refused before the card is touched (the
    # desk's own log refuses it first; with --reissue past that, the server refuses it)
    local = run(a, "-r", "sim 3", "issue", str(batch), "--record", "A1")
    assert local.returncode == exitcodes.EXIT_USAGE and "--reissue" in local.stderr
    twice = run(a, "-r", "sim 3", "issue", str(batch), "--record", "A1", "--reissue")
    assert twice.returncode == exitcodes.EXIT_BAD_DATA and f"issued onto card {card0} already" in twice.stderr
    assert _json(run(a, "-r", "sim 3", "--json", "bundle-status"))["status"] == "EMPTY"

    # desk "off" cannot reach the server: it issues from its own log (which does not know A1 is issued) ...
    offline = run(off, "-r", "sim 1", "--json", "issue", str(batch), "--no-wait")
    assert [r["record_id"] for r in _json(offline)["results"]] == ["A1"] and "is unavailable" in offline.stderr
    named = _json(run(off, "-r", "sim 2", "--json", "issue", str(batch), "--record", "C3", "--no-wait"))
    card2 = named["results"][0]["card_id"]

    # ... then syncs: C3 is reported; A1 (issued onto card 0 meanwhile) is a conflict, kept and reported
    online = {**off, "CARDSMITH_SERVER": deployment.server.url}
    synced = run(online, "--json", "sync")
    assert synced.returncode == exitcodes.EXIT_BAD_DATA, synced.stderr
    report = json.loads(synced.stdout)["issuance"]
    assert report["reported"] == ["C3"]
    assert [(c["record_id"], c["result"]) for c in report["conflicts"]] == [("A1", "issued")]
    assert "1 item(s) refused by the server" in synced.stderr
    with client(deployment.server, deployment.station) as http:
        log = http.get(f"/v1/batches/{view['batch_id']}/log").json()
        counts = http.get(f"/v1/batches/{view['batch_id']}").json()["counts"]
    issued = {(e["record_id"], e["card_id"]) for e in log if e["result"] == "issued"}
    assert issued == {("A1", card0), ("C3", card2)} and counts["issued"] == 2  # nothing overwritten
    again = run(online, "--json", "sync")  # the conflict stays until the operator settles it; C3 is not sent twice
    assert again.returncode == exitcodes.EXIT_BAD_DATA
    assert json.loads(again.stdout)["issuance"]["reported"] == []
    assert [c["record_id"] for c in json.loads(again.stdout)["issuance"]["conflicts"]] == ["A1"]


def test_server_errors_are_one_clear_line(desks, deployment) -> None:  # noqa: ANN001
    a = desks["a"]
    no_key = {k: v for k, v in a.items() if k != "CARDSMITH_SERVER_KEY"}
    done = run(no_key, "sync")
    assert done.returncode == exitcodes.EXIT_USAGE and "CARDSMITH_SERVER_KEY" in done.stderr
    bad = run({**a, "CARDSMITH_SERVER_KEY": "csk_nope_nope"}, "sync")
    assert bad.returncode == exitcodes.EXIT_USAGE and "refused this station's key" in bad.stderr
    other = run({**a, "CARDSMITH_SERVER_KEY": deployment.terminal}, "sync")
    assert other.returncode == exitcodes.EXIT_USAGE and "a terminal key cannot" in other.stderr
    no_server = run({k: v for k, v in a.items() if k != "CARDSMITH_SERVER"}, "sync")
    assert no_server.returncode == exitcodes.EXIT_USAGE and "--server" in no_server.stderr
    down = run(desks["off"], "sync")
    assert down.returncode == exitcodes.EXIT_FAILURE and "is unavailable" in down.stderr
    key_file = Path(a["CARDSMITH_HOME"]) / "server.key"
    key_file.write_text(deployment.station + "\n")
    from_file = run({**no_key, "CARDSMITH_SERVER_KEY_FILE": str(key_file)}, "--json", "sync")
    assert from_file.returncode == 0, from_file.stderr
    for failed in (done, bad, other, no_server, down):
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
