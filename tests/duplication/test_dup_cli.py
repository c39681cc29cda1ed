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
    code, _, err = run(capsys, "-r", "A", "files", "decrypt", "--yes", "--pin", "0000", str(sealed))
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


def test_decrypt_refuses_another_cards_file_and_a_tampered_one_before_writing(readers, capsys,
                                                                              tmp_path: Path) -> None:
    assert run(capsys, "-r", "A", "key", "generate", "--pin", PIN_MAIN)[0] == 0
    assert run(capsys, "-r", "B", "key", "generate", "--pin", PIN_BACKUP)[0] == 0
    plain = tmp_path / "notes.txt"
    plain.write_bytes(b"for card A only")
    code, out, _ = run(capsys, "--json", "-r", "A", "files", "encrypt", str(plain))
    sealed = tmp_path / "notes.txt.csef"
    assert code == 0 and json.loads(out) == {"written": [str(sealed)], "card_id": readers["A"].card_id.hex().upper()}
    plain.unlink()
    a_id = readers["A"].status().key_id.hex().upper()
    # the wrong card: the header names the key, so the host says so before sending anything
    code, _, err = run(capsys, "-r", "B", "files", "decrypt", "--pin", PIN_BACKUP, str(sealed))
    assert code == 2 and f"encrypted to key {a_id}" in err and "key status" in err, err
    assert not plain.exists()
    raw = sealed.read_bytes()
    # a flipped bit in the wrapped data key: the card cannot unwrap it -> bad data (6), nothing written
    env_at = 13 + 2 + 80  # prefix, envelope length, then past its header, key id and ephemeral point
    for where in (env_at, len(raw) - 5):  # the envelope; the content's tag
        bad = bytearray(raw)
        bad[where] ^= 0x01
        sealed.write_bytes(bytes(bad))
        code, _, err = run(capsys, "-r", "A", "files", "decrypt", "--pin", PIN_MAIN, str(sealed))
        assert code == 6 and ("nothing written" in err or "altered" in err), (where, code, err)
        assert not plain.exists()
    sealed.write_bytes(raw)
    assert run(capsys, "-r", "A", "files", "decrypt", "--pin", PIN_MAIN, str(sealed))[0] == 0
    assert plain.read_bytes() == b"for card A only"


def _lifecycle(card) -> str:  # noqa: ANN001
    return card.info().lifecycle_name


@pytest.mark.parametrize("keep_open", [False, True], ids=["issued", "keep-open"])
def test_personalise_and_duplicate_end_issued_unless_kept_open(request, transport_kind, monkeypatch, capsys,
                                                                keep_open: bool) -> None:
    from conftest import fresh_card

    cards = {name: fresh_card(request, transport_kind, slot) for name, slot in (("A", 0), ("B", 1))}
    for card in cards.values():
        card.close = lambda: None  # type: ignore[method-assign]  # the fixture owns the transport
    monkeypatch.setattr("cardsmith.cli.context.Settings.open_card",
                        lambda settings, reader=None: cards[reader or settings.reader])
    extra = ["--keep-open"] if keep_open else []
    key1 = "11" * 32
    for name, pin in (("A", PIN_MAIN), ("B", PIN_BACKUP)):
        code, out, err = run(capsys, "-r", name, "key", "personalise", "--pin", pin, "--key1", key1, *extra)
        card_id = cards[name].info().card_id.hex().upper()
        assert code == 0, err
        if keep_open:
            assert f"card {card_id} left INSTALLED (--keep-open)" in out and _lifecycle(cards[name]) == "INSTALLED"
        else:
            assert f"card {card_id} is now ISSUED: personalisation closed for good" in out
            assert _lifecycle(cards[name]) == "ISSUED"
    # after ISSUED the holder's side keeps working: Key2/Key3 under the PIN, key generation, export, import
    code, out, err = run(capsys, "--json", "duplicate", "--from", "A", "--to", "B", "--from-pin", PIN_MAIN,
                         "--to-pin", PIN_BACKUP, *extra)
    assert code == 0, err
    result = json.loads(out)
    want = "INSTALLED" if keep_open else "ISSUED"
    assert result["main_lifecycle"] == result["backup_lifecycle"] == want
    assert _lifecycle(cards["A"]) == _lifecycle(cards["B"]) == want
    if not keep_open:  # the issuer-only command of the attack in issue 10 is refused now
        code, _, err = run(capsys, "-r", "B", "key", "personalise", "--pin", "0000", "--key1", key1)
        assert code == 4 and "this card is ISSUED" in err


def test_duplicate_closes_personalisation_it_finds_open(readers, capsys) -> None:
    # personalised by the library (INSTALLED): the CLI's duplicate ends both cards ISSUED and says so
    code, out, err = run(capsys, "duplicate", "--from", "A", "--to", "B", "--from-pin", PIN_MAIN,
                         "--to-pin", PIN_BACKUP)
    assert code == 0, err
    for name in ("A", "B"):
        card_id = readers[name].card_id.hex().upper()
        assert f"card {card_id} is now ISSUED: personalisation closed for good" in out
        assert _lifecycle(readers[name].card) == "ISSUED"
