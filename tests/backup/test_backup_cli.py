"""The CLI commands of backup and restore, run against the fixture cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backup_helpers import COMMON_KEY, personalise, snapshot

from cardsmith.backup import BackupSession
from cardsmith.cli import main
from cardsmith.core.card import Card

pytestmark = pytest.mark.card


class Borrowed:
    def __init__(self, card: Card) -> None:
        self.card = card

    def __enter__(self) -> Card:
        return self.card

    def __exit__(self, *exc: object) -> None:
        pass


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    monkeypatch.setenv("CARDSMITH_BACKUP_DIR", str(tmp_path / "backups"))

    def plug(card: Card) -> None:
        monkeypatch.setattr("cardsmith.cli.context.Settings.open_card", lambda self: Borrowed(card))

    return plug


def test_cli_backup_restore_and_catalogue(card_pair: tuple[Card, Card], use, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    old, new = card_pair
    personalise(old)
    use(old)
    assert run(capsys, "data", "write", "1", "--text", "hello card")[0] == 0
    code, out, _ = run(capsys, "--json", "data", "read", "1", "--length", "10")
    assert code == 0 and bytes.fromhex(json.loads(out)["hex"]) == b"hello card"
    code, out, _ = run(capsys, "--json", "backups", "status")
    assert json.loads(out)["dirty_pages"] == 1 and json.loads(out)["last_backup"] is None
    code, out, _ = run(capsys, "--json", "backup")
    full = json.loads(out)
    assert code == 0 and full["type"] == "full" and full["state"] == "complete"
    run(capsys, "data", "write", "3", "--hex", "DEADBEEF")
    code, out, _ = run(capsys, "--json", "backup")
    diff = json.loads(out)
    assert diff["type"] == "diff" and diff["pages"] == 1
    code, out, _ = run(capsys, "--json", "backups", "list")
    assert [e["id"] for e in json.loads(out)] == [full["id"], diff["id"]]
    code, out, _ = run(capsys, "--json", "backups", "show", diff["id"])
    assert json.loads(out)["chain"] == [full["id"], diff["id"]]
    key = tmp_path / "family.key"
    key.write_text(COMMON_KEY.hex())
    code, out, _ = run(capsys, "--json", "backups", "verify", diff["id"], "--common-key-file", str(key))
    assert code == 0 and json.loads(out)["macs_checked"]
    exported = tmp_path / "d.csb"
    assert run(capsys, "backups", "export", diff["id"], str(exported))[0] == 0
    expected = snapshot(old)

    # the wrong card, explained; then onto the replacement

    BackupSession(new).load_common_key(1, COMMON_KEY)
    use(new)
    code, _, err = run(capsys, "restore", diff["id"])
    assert code == 2 and "use --onto-new-card" in err and full["card_id"] in err
    code, _, err = run(capsys, "restore", "--latest", "--onto-new-card")
    assert code == 2 and "--from-card" in err
    blank = snapshot(new)
    # no terminal to confirm the replacement of the new card's area: refused, nothing sent
    code, _, err = run(capsys, "restore", "--latest", "--onto-new-card", "--from-card", full["card_id"])
    assert code == 2 and "add --yes" in err and snapshot(new) == blank
    code, out, _ = run(capsys, "--json", "restore", "--latest", "--onto-new-card", "--from-card", full["card_id"],
                       "--yes")
    assert code == 0 and json.loads(out)["restored"] == [full["id"], diff["id"]]
    got = snapshot(new)
    assert got[1] == expected[1] and got[3] == expected[3]
    code, out, _ = run(capsys, "data", "regions")
    assert "restored" in out and "value" in out


def test_cli_import_and_tampered_file(card: Card, use, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    personalise(card)
    use(card)
    code, out, _ = run(capsys, "--json", "backup", "--full")
    entry = json.loads(out)
    raw = Path(entry["path"]).read_bytes()
    bad = bytearray(raw)
    bad[len(bad) // 2] ^= 1
    Path(entry["path"]).write_bytes(bytes(bad))
    before = snapshot(card)
    card.stats.reset()
    code, _, err = run(capsys, "restore", entry["id"])
    # the catalogued digest is checked before anything is sent: bad data (6), and no RESTORE reached the card
    assert code == 6 and "differs from what was catalogued" in err, err
    assert card.stats.bytes_out < 200 and snapshot(card) == before  # state queries only: no header, no record
    code, _, err = run(capsys, "backups", "verify", entry["id"])
    assert code == 6 and "differs from what was catalogued" in err
    # import into another catalogue
    src = tmp_path / "copy.csb"
    src.write_bytes(raw)
    other = tmp_path / "elsewhere"
    code, out, _ = run(capsys, "--json", "backups", "import", str(src), "--dir", str(other))
    assert code == 0 and json.loads(out)["imported"] == [entry["id"]]
    src.write_bytes(raw[:-3])
    code, _, err = run(capsys, "backups", "import", str(src), "--dir", str(tmp_path / "third"))
    assert code == 6
