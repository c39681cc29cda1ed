"""Power loss and pulled cards at every step of a backup and of a restore.

Tears inside commands use the test build's TEST_FAULT countdown (docs/developing.md); pulls between
commands wrap the transport so that the k-th exchange never reaches the card (or its answer never comes
back) and the card is power-cycled. After each: the card is usable, the catalogue consistent, the next
differential still holds the pages the broken backup did not confirm, and a new restore finishes a broken one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from backup_helpers import Store, personalise, snapshot, write_page

import power_cut
from cardsmith import backup as bk
from cardsmith.backup import BackupSession
from cardsmith.backup.fileformat import BackupBlob
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.transport.simulator import install_params
from conftest import fresh_card

pytestmark = pytest.mark.card
CHANGED = [2, 9, 30]


class Pulling:
    """A transport whose card is pulled at the k-th exchange: before it arrives, or after it ran."""

    def __init__(self, inner, after: int, delivered: bool) -> None:  # noqa: ANN001
        self.inner = inner
        self.left = after
        self.delivered = delivered

    def transmit(self, apdu: bytes) -> bytes:
        if self.left == 0:
            if self.delivered:
                self.inner.transmit(apdu)
            # the card loses power: interrupted() power-cycles it (card.reset) before anything else is sent
            raise errors.CardRemovedError("card pulled (test)")
        self.left -= 1
        return self.inner.transmit(apdu)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.inner, name)


def interrupted(card: Card, run: Callable[[], object], k: int, how: str) -> bool:
    """Runs ``run`` with a tear (``how`` = "tear", countdown k) or a pull at exchange k; True if cut."""
    inner = card.transport
    if how == "tear":
        power_cut.arm(card, k)
    else:
        card.transport = Pulling(inner, k, how == "pull-after")
    try:
        run()
    except errors.CardRemovedError:
        card.transport = inner
        card.reset()
        return True
    finally:
        card.transport = inner
    if how == "tear":
        power_cut.disarm(card)
    return False


def check_after_broken_backup(card: Card, store: Store, base_seq: int) -> bool:
    """The card and catalogue after an interrupted differential; True once the backup counts as done."""
    state = BackupSession(card).state()
    assert not state.session and not state.restore_pending
    BackupSession(card).reconcile(store.catalogue, state)
    entries = store.catalogue.entries(state.card_hex)
    assert {e.state for e in entries} <= {"complete", "orphaned"}
    complete = [e for e in entries if e.state == "complete"]
    assert complete[-1].seq == state.last_seq
    for e in complete:
        bk.load(e).check_structure()
    if state.last_seq == base_seq:
        assert state.dirty_pages == len(CHANGED)  # nothing confirmed: every changed page still dirty
        return False
    assert state.dirty_pages == 0 and bk.load(complete[-1]).pages == CHANGED
    return True


@pytest.mark.parametrize("how", ["tear", "pull-before", "pull-after"])
def test_backup_interrupted_at_every_step(card: Card, tmp_path: Path, how: str) -> None:
    personalise(card)
    store = Store(tmp_path)
    base, _ = store.backup(card, "full")
    for p in CHANGED:
        write_page(card, p, 0x77)
    k = 0
    while interrupted(card, lambda: BackupSession(card).backup(store.catalogue, store.dir, "diff"), k, how):
        if check_after_broken_backup(card, store, base.seq):
            break
        k += 1
    else:
        entry = bk.latest(store.catalogue, BackupSession(card).state().card_hex)
        assert entry.type == "diff" and bk.load(entry).pages == CHANGED
    print(f"backup {how}: {k} interruptions")
    assert k >= 2  # BACKUP, TRANSFER, COMPLETE: each one cut at least once
    # the chain still restores to what the card holds
    expected = snapshot(card)
    chain = bk.chain_for(store.catalogue, bk.latest(store.catalogue, BackupSession(card).state().card_hex))
    DataAreaSession(card).write(1, 0, b"\xEE" * 100)
    BackupSession(card).restore_chain([bk.load(e) for e in chain])
    got = snapshot(card)
    assert got[1] == expected[1] and got[3] == expected[3]


def _restore_scene(card: Card, tmp_path: Path) -> tuple[list[BackupBlob], dict[int, bytes]]:
    personalise(card)
    store = Store(tmp_path)
    DataAreaSession(card).write(1, 0, b"the holder's records " * 100)
    DataAreaSession(card).write(3, 0, b"notes")
    store.backup(card, "full")
    write_page(card, 5, 0x55)
    store.backup(card, "diff")
    chain = bk.chain_for(store.catalogue, bk.latest(store.catalogue, BackupSession(card).state().card_hex))
    return [bk.load(e) for e in chain], snapshot(card)


def _damage(card: Card) -> None:
    DataAreaSession(card).write(1, 0, b"\xDD" * 3000)
    DataAreaSession(card).write(3, 0, b"\xDD" * 500)


@pytest.mark.parametrize("how", ["tear", "pull-before", "pull-after"])
def test_restore_interrupted_at_every_step(card: Card, tmp_path: Path, how: str, transport_kind: str) -> None:
    blobs, expected = _restore_scene(card, tmp_path)
    # Through pcscd a tear waits for vpcd's reader to see the card leave and come back (about a second),
    # so PC/SC tears at every fourth fault point; pulls (no reader round trip) and the simulator walk all.
    step = 4 if transport_kind == "pcsc" and how == "tear" else 1
    k = 0
    saw_pending = False
    while True:
        _damage(card)
        if not interrupted(card, lambda: BackupSession(card).restore_chain(blobs), k, how):
            break
        state = BackupSession(card).state()
        assert not state.session
        if state.restore_pending:
            saw_pending = True
            touched = [r for r in DataAreaSession(card).regions() if r.touched]
            assert touched
            for r in touched:  # half-restored regions are refused until a restore completes
                with pytest.raises(errors.WrongStateError):
                    DataAreaSession(card).read(r.id, 0, 1)
                with pytest.raises(errors.WrongStateError):
                    DataAreaSession(card).write(r.id, 0, b"x")
            with pytest.raises(errors.UsageError, match="stopped half way"):
                BackupSession(card).backup(Store(tmp_path / "x").catalogue, tmp_path / "x")
        BackupSession(card).restore_chain(blobs)  # a new restore finishes the broken one
        got = snapshot(card)
        assert got[1] == expected[1] and got[3] == expected[3] and got[2] == bytes(4 * 128)
        assert not BackupSession(card).state().restore_pending
        k += step
    got = snapshot(card)
    assert got[1] == expected[1] and got[3] == expected[3]
    print(f"restore {how}: {k} interruptions, pending seen: {saw_pending}")
    assert k > 10 and saw_pending


def test_unfinished_restore_can_be_discarded(card: Card, tmp_path: Path) -> None:
    blobs, _ = _restore_scene(card, tmp_path)
    _damage(card)
    assert interrupted(card, lambda: BackupSession(card).restore_chain(blobs[:1]), 5, "tear")
    assert BackupSession(card).state().restore_pending
    BackupSession(card).discard_unfinished()
    state = BackupSession(card).state()
    assert not state.restore_pending and not state.chain
    regions = DataAreaSession(card).regions()
    assert not any(r.touched for r in regions)
    assert DataAreaSession(card).read(1, 0, 128) == bytes(128)  # the half-restored region is zeroed, not half old/new
    with pytest.raises(errors.WrongStateError):
        BackupSession(card).discard_unfinished()


def test_zeroing_a_value_region_after_restore_survives_a_tear_at_every_step(card: Card, tmp_path: Path) -> None:
    """The value region a restore marked zero-pending is zeroed page by page before its first use (each page
    one transaction, so a commit buffer far smaller than the region suffices) and the flag clears last: a
    tear anywhere leaves the flag set, the other regions as restored, and the next use zeroes it all."""
    blobs, expected = _restore_scene(card, tmp_path)
    DataAreaSession(card).write(2, 0, b"\x77" * 512)  # the purse is not in the chain any more: value lost
    BackupSession(card).restore_chain(blobs)
    assert DataAreaSession(card).region(2).zero_pending
    k = 0
    while interrupted(card, lambda: DataAreaSession(card).read(2, 0, 4 * 128), k, "tear"):
        assert DataAreaSession(card).region(2).zero_pending, k  # the flag goes only with the last page zeroed
        assert DataAreaSession(card).read(1, 0, 24 * 128) == expected[1]
        assert DataAreaSession(card).read(3, 0, 4 * 128) == expected[3]
        k += 1
    assert k >= 5  # four pages and the flag: every one of them was interrupted once
    assert not DataAreaSession(card).region(2).zero_pending
    assert DataAreaSession(card).read(2, 0, 4 * 128) == bytes(4 * 128)


def test_common_key_and_its_version_stay_together_through_a_tear_at_every_step(card: Card, tmp_path: Path) -> None:
    """LOAD_COMMON_KEY writes the key slot not in use, then switches slot, version and flag in one
    transaction (key objects are not promised to roll back): after a tear anywhere, the version GET INFO
    reports is the version of the key that wraps the next backup."""
    from cardsmith.backup.fileformat import open_backup

    keys = {1: os.urandom(16), 2: os.urandom(16)}
    personalise(card, keys[1], 1)
    store = Store(tmp_path)
    cuts = 0
    for k in range(40):
        before = BackupSession(card).state().key_version
        other = 3 - before
        cut = interrupted(card, lambda v=other: BackupSession(card).load_common_key(v, keys[v]), k, "tear")
        state = BackupSession(card).state()
        assert state.common_key and state.key_version in (before, other)
        if not cut:
            assert state.key_version == other
        _, blob = store.backup(card, "full")
        assert blob.header.key_version == state.key_version
        open_backup(blob, keys[state.key_version])  # raises IntegrityError if another key wrapped it
        if not cut:
            break
        cuts += 1
    assert cuts >= 2  # torn after the key write and inside the transaction, then loaded whole



def test_restore_at_page_size_256_fits_the_512_byte_commit_buffer_and_survives_every_tear(
    request: pytest.FixtureRequest, tmp_path: Path, transport_kind: str
) -> None:
    """The largest page the applet takes: a restore's pages (the first with the adopted region table and
    the backup hash) each fit one transaction of the test build's 512-byte buffer, and a tear anywhere is
    finished by a new restore. Over PC/SC (a tear costs about a second there) every fourth point."""
    step = 4 if transport_kind == "pcsc" else 1
    card = fresh_card(request, transport_kind, 0, install_params(page_size=256, page_count=16))
    assert card.info().page_size == 256 and card.info().commit_capacity == 512
    personalise(card, regions=[(1, 0, 12, False), (2, 12, 4, True)])
    records = os.urandom(12 * 256)
    DataAreaSession(card).write(1, 0, records)
    store = Store(tmp_path)
    store.backup(card, "full")
    changed = bytes([0x5A]) * 256
    DataAreaSession(card).write(1, 3 * 256, changed)
    store.backup(card, "diff")
    expected = records[: 3 * 256] + changed + records[4 * 256 :]
    chain = bk.chain_for(store.catalogue, bk.latest(store.catalogue, BackupSession(card).state().card_hex))
    blobs = [bk.load(e) for e in chain]
    assert [b.pages for b in blobs][1] == [3]
    k = 0
    while True:
        DataAreaSession(card).write(1, 0, b"\xDD" * len(records))
        if not interrupted(card, lambda: BackupSession(card).restore_chain(blobs), k, "tear"):
            break
        BackupSession(card).restore_chain(blobs)  # a new restore finishes the broken one
        assert DataAreaSession(card).read(1, 0, len(records)) == expected
        k += step
    print(f"restore at page size 256: {k} tears")
    assert k > 10  # every transaction of both restores was torn once (sampled over PC/SC)
    assert DataAreaSession(card).read(1, 0, len(records)) == expected
    assert DataAreaSession(card).read(2, 0, 4 * 256) == bytes(4 * 256)  # the value region zeroed itself
