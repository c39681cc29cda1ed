"""The duplicate / files / key / pin commands, on the fixture cards (readers A and B)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dup_helpers import PIN_BACKUP, PIN_MAIN, personalised_pair

from cardsmith.cli import main as cli_main
from cardsmith.duplication import DuplicationSession

pytestmark = pytest.mark.card


@pytest.fixture
def readers(card_pair, monkeypatch: pytest.MonkeyPatch) -> dict[str, DuplicationSession]:
    main, backup = personalised_pair(card_pair)
    by_name = {"A": main, "B": backup}
    for kc in by_name.values():
        kc.card.close = lambda: None  # type: ignore[method-assign]  # the fixture owns the transport

    def fake_open(settings, reader=None):
        return by_name[reader or settings.reader].card

    monkeypatch.setattr("cardsmith.cli.context.Settings.open_card", fake_open)
    return by_name


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(list(argv))
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def test_duplicate_files_and_recover_from_the_cli(readers, capsys, tmp_path: Path, request, transport_kind) -> None:
    code, out, err = run(capsys, "duplicate", "--from", "B", "--to", "A", "--from-pin", PIN_BACKUP,
                         "--to-pin", PIN_MAIN)
    assert code == 0 and "backup card" in out  # both blank: the --from card becomes the main card
    code, _, err = run(capsys, "duplicate", "--from", "A", "--to", "B", "--from-pin", PIN_MAIN,
                       "--to-pin", PIN_BACKUP)
    assert code == 1 and "is a backup card" in err and "put the main card in the --from reader" in err
    code, out, _ = run(capsys, "--json", "-r", "B", "key", "status")
    status = json.loads(out)
    assert status["role"] == "main" and status["export"]["state"] == "confirmed" and status["key_group"]["locked"]

    plain = tmp_path / "report.txt"
    plain.write_bytes(b"quarterly numbers")
    assert run(capsys, "-r", "B", "files", "encrypt", str(plain))[0] == 0
    sealed = tmp_path / "report.txt.csef"
    plain.unlink()
    code, _, _ = run(capsys, "-r", "A", "files", "decrypt", "--pin", PIN_MAIN, str(sealed))
    assert code == 0 and plain.read_bytes() == b"quarterly numbers"  # the backup card reads it
    code, _, err = run(capsys, "-r", "A", "files", "decrypt", "--pin", "0000", str(sealed))
    assert code == 4 and "tries left" in err

    # the main card is lost: a new card takes its reader
    from cardsmith.duplication import personalise
    from conftest import fresh_card

    new = DuplicationSession(fresh_card(request, transport_kind, 1))
    new.card.close = lambda: None  # type: ignore[method-assign]
    personalise(new, "2468", os.urandom(32))
    readers["B"] = new
    assert run(capsys, "-r", "B", "key", "generate", "--pin", "2468")[0] == 0
    code, out, _ = run(capsys, "--json", "files", "recover", "--from", "A", "--to", "B", "--from-pin", PIN_MAIN,
                       "--to-pin", "2468", str(sealed))
    assert code == 0 and json.loads(out)["recovered"] == [str(sealed)]
    plain.unlink()
    assert run(capsys, "-r", "B", "files", "decrypt", "--pin", "2468", str(sealed))[0] == 0
    assert plain.read_bytes() == b"quarterly numbers"
