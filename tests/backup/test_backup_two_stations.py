"""Two stations backing up one card, each with its own catalogue (the issue's "two desks"), and the import of
a file whose clear header was altered: a differential is never built on a backup the catalogue lacks, and a
catalogued row is never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
from backup_helpers import Store, personalise, snapshot, write_page

from cardsmith import backup as bk
from cardsmith.backup import BackupSession
from cardsmith.backup.chain import import_file
from cardsmith.backup.fileformat import H_KVER, H_SEQ
from cardsmith.core import errors
from cardsmith.core.card import Card

pytestmark = pytest.mark.card

HEADER_AT = 11  # file magic (8), version (1), header length (2)


def test_a_backup_taken_elsewhere_makes_the_next_one_full_and_says_so(card: Card, tmp_path: Path) -> None:
    personalise(card)
    desk_a, desk_b = Store(tmp_path / "a"), Store(tmp_path / "b")
    write_page(card, 0, 0x11)
    first, _ = desk_a.backup(card)
    write_page(card, 1, 0x22)
    notes: list[str] = []
    at_b = BackupSession(card).backup(desk_b.catalogue, desk_b.dir, "auto", notify=notes.append)
    assert at_b.type == "full" and at_b.seq == first.seq + 1
    assert len(notes) == 1 and f"lacks this card's last backup {first.backup_id}" in notes[0]
    write_page(card, 2, 0x33)
    expected = snapshot(card)
    notes.clear()
    diff_b = BackupSession(card).backup(desk_b.catalogue, desk_b.dir, "auto", notify=notes.append)
    assert diff_b.type == "diff" and not notes  # desk B holds its own last backup now
    write_page(card, 0, 0x44)
    BackupSession(card).restore_chain(bk.restore_target(desk_b.catalogue, diff_b.card_id))
    assert snapshot(card) == expected  # desk B's chain restores from desk B alone
    back_at_a = BackupSession(card).backup(desk_a.catalogue, desk_a.dir, "auto")
    assert back_at_a.type == "full"  # desk A lacks desk B's backups: full again, never an orphan diff
    assert all(bk.chain_for(desk_a.catalogue, e) for e in desk_a.catalogue.entries())


def test_an_explicit_differential_on_a_missing_backup_is_refused_and_nothing_is_taken(card: Card,
                                                                                       tmp_path: Path) -> None:
    personalise(card)
    desk_a, desk_b = Store(tmp_path / "a"), Store(tmp_path / "b")
    full, _ = desk_a.backup(card, "full")
    write_page(card, 3, 0x55)
    with pytest.raises(errors.UsageError, match="lacks the backup this card's differential would build on"):
        desk_b.backup(card, "diff")
    assert desk_b.catalogue.entries() == []
    state = BackupSession(card).state()
    assert not state.session and state.last_seq == full.seq and state.dirty_pages == 1  # the card forgot nothing
    diff, _ = desk_a.backup(card, "diff")  # the desk that holds the chain still builds on it
    assert diff.type == "diff" and diff.pages == 1


@pytest.mark.parametrize("field,clash", [(H_SEQ + 3, "chain hash"), (H_KVER, "sequence number")])
def test_importing_a_file_with_an_altered_header_keeps_the_genuine_row(card: Card, tmp_path: Path, field: int,
                                                                        clash: str) -> None:
    personalise(card)
    store = Store(tmp_path / "desk")
    genuine, _ = store.backup(card, "full")
    before = store.catalogue.entries()
    genuine_bytes = Path(genuine.path).read_bytes()
    altered = bytearray(genuine_bytes)
    altered[HEADER_AT + field] ^= 0x01  # a clear field: the MACs, hence the chain hash, are untouched
    (tmp_path / "altered.csb").write_bytes(bytes(altered))
    with pytest.raises(errors.BadDataError, match=f"same {clash} and other bytes.*catalogued backup stays"):
        import_file(store.catalogue, store.dir, tmp_path / "altered.csb")
    assert store.catalogue.entries() == before
    assert Path(genuine.path).read_bytes() == genuine_bytes  # the genuine file was not overwritten either
    (tmp_path / "copy.csb").write_bytes(genuine_bytes)
    assert import_file(store.catalogue, store.dir, tmp_path / "copy.csb") == genuine  # the same file: no change
    BackupSession(card).restore_chain([bk.load(e) for e in bk.chain_for(store.catalogue, genuine)])


def test_the_catalogue_refuses_a_second_row_for_a_sequence_or_hash(tmp_path: Path) -> None:
    catalogue = bk.SqliteCatalogue(tmp_path / "c.sqlite")
    row = bk.Entry("00AA", 1, "t", "full", 1, "00" * 32, "ab" * 32, 1, 1, 10, "cd" * 32, "p", "complete")
    catalogue.add(row)
    for other in (bk.Entry(**{**row.__dict__, "hash": "ef" * 32, "digest": "01" * 32}),
                  bk.Entry(**{**row.__dict__, "seq": 2, "digest": "01" * 32})):
        with pytest.raises(errors.BadDataError, match="nothing was changed"):
            catalogue.add(other)
    assert catalogue.entries() == [row]
