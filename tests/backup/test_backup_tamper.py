"""Tampered backups: every field flipped, records swapped, dropped, spliced, chains replayed out of order.
Every one is refused by the card (6A80, or 6985 for a session that never finished) and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from backup_helpers import Store, personalise, snapshot, write_page

from cardsmith.backup import BackupSession
from cardsmith.backup.fileformat import (
    H_CARD,
    H_CTRL,
    H_KVER,
    H_MAC,
    H_PAGES,
    H_PCOUNT,
    H_PREV,
    H_PSIZE,
    H_RECS,
    H_SEQ,
    H_TYPE,
    H_WRAP,
    BackupBlob,
)
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.protocol.codes import Ins

pytestmark = pytest.mark.card

HEADER_FIELDS = {"magic": 0, "type": H_TYPE, "key version": H_KVER, "card id": H_CARD, "seq": H_SEQ + 3,
                 "page size": H_PSIZE + 1, "page count": H_PCOUNT + 1, "record count": H_RECS + 1,
                 "page total": H_PAGES + 1, "prev hash": H_PREV + 5, "wrap iv": H_WRAP, "wrap key": H_WRAP + 20,
                 "wrap mac": H_WRAP + 40, "control iv": H_CTRL + 3, "control": H_CTRL + 100, "header mac": H_MAC + 15}


def flip(raw: bytes, offset: int, bit: int = 0) -> bytes:
    b = bytearray(raw)
    b[offset] ^= 1 << bit
    return bytes(b)


def record_fields(payload: bytes, last: bool) -> dict[str, int]:
    n = payload[3]
    iv = 4 + 2 * n
    end = len(payload) - (16 if last else 0)
    fields = {"index": 1, "flags": 2, "page count": 3, "page list": 5, "iv": iv + 7, "ciphertext": iv + 16,
              "ciphertext end": end - 17, "mac": end - 1}
    if last:
        fields["final mac"] = len(payload) - 1
    return fields


def raw_restore(card: Card, header: bytes, verify: list[bytes], apply: list[bytes] | None = None,
                p1: int = 0) -> None:
    card.call(Ins.RESTORE, p1=p1, data=header, expect_data=False)
    for p in verify:
        card.call(Ins.TRANSFER, data=p, ne=1)
    for p in apply if apply is not None else verify:
        card.call(Ins.TRANSFER, data=p, ne=1)
    card.call(Ins.END_SESSION, p1=1, expect_data=False)


def refused(card: Card, before: dict[int, bytes], attempt, sw: int = 0x6A80) -> None:  # noqa: ANN001
    with pytest.raises(errors.CardRefusedError) as err:
        attempt()
    assert err.value.sw == sw, err.value
    state = BackupSession(card).state()
    assert not state.restore_pending
    if state.session:  # a COMPLETE refused for want of records leaves the session to the host: abort it
        card.call(Ins.END_SESSION, p1=2, expect_data=False)
    assert snapshot(card) == before


@pytest.fixture
def scene(card: Card, tmp_path: Path) -> tuple[Card, BackupBlob, dict[int, bytes]]:
    personalise(card, regions=[(1, 0, 24, False), (3, 28, 4, False)])  # no value region: snapshots stay exact
    DataAreaSession(card).write(1, 0, b"original" * 200)
    _, blob = Store(tmp_path).backup(card, "full")
    DataAreaSession(card).write(1, 0, b"damaged!" * 200)  # the card differs from the backup
    return card, blob, snapshot(card)


def test_every_header_field_flipped_is_refused(scene) -> None:  # noqa: ANN001
    card, blob, before = scene
    payloads = blob.transfer_payloads()
    for name, off in HEADER_FIELDS.items():
        for bit in (0, 7):
            refused(card, before, lambda off=off, bit=bit: raw_restore(card, flip(blob.header.raw, off, bit), payloads))
        assert name
    raw_restore(card, blob.header.raw, payloads)  # the untouched backup still restores
    assert snapshot(card) != before


def test_every_record_field_flipped_is_refused(scene) -> None:  # noqa: ANN001
    card, blob, before = scene
    payloads = blob.transfer_payloads()
    assert len(payloads) >= 3
    # every field of a first, a middle and the last record
    for which in (0, 1, len(payloads) - 1):
        last = which == len(payloads) - 1
        for _name, off in record_fields(payloads[which], last).items():
            tampered = list(payloads)
            tampered[which] = flip(payloads[which], off)
            refused(card, before, lambda t=tampered: raw_restore(card, blob.header.raw, t))


def test_swapped_dropped_truncated_and_spliced_records_are_refused(scene, tmp_path: Path) -> None:  # noqa: ANN001
    card, blob, before = scene
    p = blob.transfer_payloads()
    h = blob.header.raw
    refused(card, before, lambda: raw_restore(card, h, [p[1], p[0], *p[2:]]))
    # the last record dropped: the card never reaches the end, so COMPLETE has nothing to complete
    refused(card, before, lambda: raw_restore(card, h, p[:-1], apply=[]), sw=0x6985)
    refused(card, before, lambda: raw_restore(card, h, p[:-1]))  # the next record is not the one expected
    refused(card, before, lambda: raw_restore(card, h, [*p[:-1], p[-1][:-16]]))  # final MAC cut off
    refused(card, before, lambda: raw_restore(card, h, [*p[:-1], p[-1] + b"\x00"]))
    refused(card, before, lambda: raw_restore(card, h, [*p, p[-1]], apply=[]))
    # a record of another backup of the same card (same keys' family, other seq): its MAC chain differs
    _, other = Store(tmp_path / "other").backup(card, "full")
    q = other.transfer_payloads()
    refused(card, before, lambda: raw_restore(card, h, [p[0], q[1], *p[2:]]))
    refused(card, before, lambda: raw_restore(card, other.header.raw, [q[0], p[1], *q[2:]]))
    # a host that sends other records in the apply pass than it had verified
    with pytest.raises(errors.CardRefusedError) as err:
        raw_restore(card, h, p, apply=[q[0]])
    assert err.value.sw == 0x6A80
    assert snapshot(card) == before  # refused before the first write


def test_differentials_out_of_order_are_refused(card: Card, tmp_path: Path) -> None:
    personalise(card, regions=[(1, 0, 32, False)])
    store = Store(tmp_path)
    _, full = store.backup(card, "full")
    diffs = []
    for gen in range(3):
        write_page(card, gen, 0x10 + gen)
        diffs.append(store.backup(card, "diff")[1])
    with pytest.raises(errors.IntegrityError, match="broken chain"):  # a differential with no full under it
        BackupSession(card).restore_blob(diffs[0])
    BackupSession(card).restore_blob(full)
    after_full = snapshot(card)
    for wrong in (diffs[1], diffs[2]):
        with pytest.raises(errors.IntegrityError, match="broken chain") as err:
            BackupSession(card).restore_blob(wrong)
        assert err.value.sw == 0x6A80
        assert snapshot(card) == after_full
    BackupSession(card).restore_blob(diffs[0])
    with pytest.raises(errors.IntegrityError):  # replaying the same differential again
        BackupSession(card).restore_blob(diffs[0])
    BackupSession(card).restore_blob(diffs[1])
    # a write in between: the data no longer equals the chain, so no differential goes on top
    DataAreaSession(card).write(1, 4000, b"!")
    with pytest.raises(errors.IntegrityError):
        BackupSession(card).restore_blob(diffs[2])


def test_host_refuses_broken_files_before_the_card_sees_them(scene) -> None:  # noqa: ANN001
    _, blob, _ = scene
    data_ = blob.encode()
    for cut in (len(data_) - 1, len(data_) - 16, 400, 20, 5):
        with pytest.raises(errors.BadDataError):
            BackupBlob.decode(data_[:cut])
    with pytest.raises(errors.BadDataError):
        BackupBlob.decode(data_ + b"\x00")
