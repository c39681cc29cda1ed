"""Backup and restore end to end: full, differential, chains, replacement cards."""

from __future__ import annotations

from pathlib import Path

import pytest
from backup_helpers import COMMON_KEY, OTHER_FAMILY_KEY, PAGE, Store, personalise, snapshot, write_page

from cardsmith import backup as bk
from cardsmith.backup import BackupSession
from cardsmith.backup.fileformat import open_backup
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.protocol.codes import Ins

pytestmark = pytest.mark.card


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def test_full_backup_then_restore_same_card(card: Card, store: Store) -> None:
    personalise(card)
    DataAreaSession(card).write(1, 0, b"records " * 300)
    DataAreaSession(card).write(2, 0, (1000).to_bytes(4, "big"))
    DataAreaSession(card).write(3, 10, b"a note")
    before = snapshot(card)
    entry, blob = store.backup(card, "full")
    assert entry.state == "complete" and entry.type == "full"
    assert blob.pages == list(range(32))
    # the card's encryption and MACs, checked with the host mirror (and the family key)
    pages = open_backup(blob, COMMON_KEY)
    assert b"".join(pages[p] for p in range(24)) == before[1]
    assert BackupSession(card).state().dirty_pages == 0

    DataAreaSession(card).write(1, 0, b"DAMAGED!" * 50)
    DataAreaSession(card).write(2, 0, (5).to_bytes(4, "big"))
    BackupSession(card).restore_chain([blob])
    regions = {r.id: r for r in DataAreaSession(card).regions()}
    assert all(r.restored for r in regions.values())
    assert regions[2].zero_pending and not regions[1].zero_pending
    after = snapshot(card)  # reading the value region zeroes it first
    assert after[1] == before[1] and after[3] == before[3]
    assert after[2] == bytes(4 * PAGE)
    assert not DataAreaSession(card).region(2).zero_pending
    DataAreaSession(card).acknowledge_restore(1)
    assert not DataAreaSession(card).region(1).restored and DataAreaSession(card).region(3).restored
    state = BackupSession(card).state()
    assert not state.restore_pending and not state.chain  # next backup must be full


def test_differential_carries_exactly_the_changed_pages(card: Card, store: Store) -> None:
    personalise(card)
    store.backup(card, "full")
    changed = [3, 4, 17, 25, 31]
    for p in changed:
        write_page(card, p, 0x5A)
    DataAreaSession(card).write(1, 5 * PAGE + 10, b"x")  # one byte in page 5
    changed = sorted([*changed, 5])
    assert BackupSession(card).state().dirty_pages == len(changed)
    entry, blob = store.backup(card)
    assert entry.type == "diff" and blob.pages == changed and entry.pages == len(changed)
    full = bk.latest(store.catalogue, entry.card_id)
    assert full.seq == entry.seq
    pages = open_backup(blob, COMMON_KEY)
    assert pages[3] == bytes([0x5A]) * PAGE
    with pytest.raises(errors.UsageError, match="nothing changed"):
        store.backup(card, "diff")


def test_chain_restore_equals_card_at_last_backup(card: Card, store: Store) -> None:
    personalise(card)
    DataAreaSession(card).write(1, 0, b"generation 0" * 40)
    store.backup(card, "full")
    for gen in range(1, 4):
        write_page(card, gen * 2, gen)
        DataAreaSession(card).write(3, gen * 7, f"note {gen}".encode())
        store.backup(card, "diff")
    final = snapshot(card)
    DataAreaSession(card).write(1, 0, bytes(24 * PAGE))
    DataAreaSession(card).write(3, 0, bytes(4 * PAGE))
    last = bk.latest(store.catalogue, BackupSession(card).state().card_hex)
    chain = bk.chain_for(store.catalogue, last)
    assert [e.type for e in chain] == ["full", "diff", "diff", "diff"]
    BackupSession(card).restore_chain([bk.load(e) for e in chain])
    after = snapshot(card)
    assert after[1] == final[1] and after[3] == final[3]
    assert after[2] == bytes(4 * PAGE)  # value zeroed, as after any restore


def test_restore_onto_replacement_card(card_pair: tuple[Card, Card], store: Store) -> None:
    old, new = card_pair
    personalise(old)
    DataAreaSession(old).write(1, 0, b"holder data " * 100)
    store.backup(old, "full")
    write_page(old, 9, 0x99)
    store.backup(old, "diff")
    expected = snapshot(old)
    BackupSession(new).load_common_key(1, COMMON_KEY)  # same family; no regions yet: it adopts the backup's table
    chain = bk.chain_for(store.catalogue, bk.latest(store.catalogue, BackupSession(old).state().card_hex))
    blobs = [bk.load(e) for e in chain]
    with pytest.raises(errors.UsageError, match="use --onto-new-card"):
        BackupSession(new).restore_chain(blobs)
    with pytest.raises(errors.IntegrityError):  # the card checks the card id itself
        new.call(Ins.RESTORE, p1=0, data=blobs[0].header.raw)
    BackupSession(new).restore_chain(blobs, onto_new=True)
    assert [(r.id, r.first_page, r.page_count, r.value) for r in DataAreaSession(new).regions()] == \
        [(1, 0, 24, False), (2, 24, 4, True), (3, 28, 4, False)]
    got = snapshot(new)
    assert got[1] == expected[1] and got[3] == expected[3] and got[2] == bytes(4 * PAGE)
    assert BackupSession(new).state().card_id != BackupSession(old).state().card_id  # the new card keeps its identity
    # the new card starts its own chain with a full backup, under its own id
    entry, _ = store.backup(new)
    assert entry.type == "full" and entry.card_id == BackupSession(new).state().card_hex


def test_replacement_of_another_family_or_wrong_target_is_refused(card_pair: tuple[Card, Card], store: Store) -> None:
    old, new = card_pair
    personalise(old)
    DataAreaSession(old).write(1, 0, b"secret")
    _, blob = store.backup(old, "full")
    personalise(new, key=OTHER_FAMILY_KEY)  # same key version, different family key; blank otherwise
    before = snapshot(new)
    with pytest.raises(errors.IntegrityError, match="not of the source card's family") as err:
        BackupSession(new).restore_chain([blob], onto_new=True)
    assert err.value.sw == 0x6A80
    # wrong target id appended by the host
    with pytest.raises(errors.IntegrityError):
        new.call(Ins.RESTORE, p1=1, data=bytes(8) + blob.header.raw)
    assert snapshot(new) == before
    assert not BackupSession(new).state().restore_pending


def test_writes_refused_during_a_session_and_session_dies_with_reset(card: Card, store: Store) -> None:
    personalise(card)
    store.backup(card, "full")
    write_page(card, 1, 1)
    card.call(Ins.BACKUP, p1=2, ne=512)
    with pytest.raises(errors.WrongStateError):
        DataAreaSession(card).write(1, 0, b"x")
    with pytest.raises(errors.WrongStateError):
        card.call(Ins.BACKUP, p1=1, ne=512)
    card.call(Ins.TRANSFER, ne=1024)
    card.reset()
    assert not BackupSession(card).state().session
    with pytest.raises(errors.WrongStateError):
        card.call(Ins.END_SESSION, p1=1)
    assert BackupSession(card).state().dirty_pages == 1  # the session never completed: the dirty bit survives
    DataAreaSession(card).write(1, 0, b"x")
    _, blob = store.backup(card)
    assert blob.pages == [0, 1]


def test_backup_needs_the_common_key_and_a_chain(card: Card, store: Store) -> None:
    DataAreaSession(card).define_region(1, 0, 4)
    with pytest.raises(errors.CardNotReadyError, match="data load-common-key"):
        store.backup(card)
    with pytest.raises(errors.WrongStateError):
        card.call(Ins.BACKUP, p1=1, ne=512)
    BackupSession(card).load_common_key(1, COMMON_KEY)
    with pytest.raises(errors.WrongStateError):
        card.call(Ins.BACKUP, p1=2, ne=512)
    entry, _ = store.backup(card)
    assert entry.type == "full"


def test_complete_is_sent_only_after_file_and_catalogue_commit(card: Card, store: Store,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    personalise(card)
    events: list[str] = []
    real_add = store.catalogue.add

    def add(entry: bk.Entry) -> None:
        assert Path(entry.path).read_bytes()  # the file is on disk before it is catalogued
        real_add(entry)
        events.append("catalogue")

    real_transmit = card.transport.transmit

    def transmit(apdu: bytes) -> bytes:
        if apdu[1] == Ins.END_SESSION:
            events.append("complete")
        return real_transmit(apdu)

    monkeypatch.setattr(store.catalogue, "add", add)
    monkeypatch.setattr(card.transport, "transmit", transmit)
    entry, _ = store.backup(card, "full")
    assert events == ["catalogue", "complete"] and entry.state == "complete"


def test_differentials_of_every_record_size(card: Card, store: Store) -> None:
    """1 to 8 changed pages: every residue of the record MAC input, and records of 1..7 pages plus a second."""
    personalise(card)
    store.backup(card, "full")
    page = 0
    for k in range(1, 9):
        changed = list(range(page, page + k))
        for p in changed:
            write_page(card, p % 32, k)
        page += k
        _, blob = store.backup(card, "diff")
        assert sorted(blob.pages) == sorted({p % 32 for p in changed})
        assert set(open_backup(blob, COMMON_KEY)) == set(blob.pages)
    expected = snapshot(card)
    DataAreaSession(card).write(1, 0, bytes(100))
    chain = bk.chain_for(store.catalogue, bk.latest(store.catalogue, BackupSession(card).state().card_hex))
    assert len(chain) == 9
    BackupSession(card).restore_chain([bk.load(e) for e in chain])
    got = snapshot(card)
    assert got[1] == expected[1] and got[3] == expected[3]
