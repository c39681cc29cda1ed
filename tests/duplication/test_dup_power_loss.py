"""Power loss at every fault point of a duplication (either card), and the CMAC/KDF vectors of the applet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dup_helpers import PIN_BACKUP, PIN_MAIN, personalised_pair, replug

import power_cut
from cardsmith.core import crypto, errors
from cardsmith.duplication import duplicate
from cardsmith.protocol.codes import EXPORT_CONFIRMED, KEY_TYPE_PAIR, ROLE_BACKUP, ROLE_MAIN

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.card
def test_pull_either_card_at_every_step_of_the_duplication(request, card_pair, transport_kind) -> None:
    main, backup = personalised_pair(card_pair)
    blobs: set[bytes] = set()
    original_export = main.export

    def recording_export(dest: bytes, key_type: int = KEY_TYPE_PAIR) -> bytes:
        blob = original_export(dest, key_type)
        blobs.add(blob)
        return blob

    main.export = recording_export  # type: ignore[method-assign]
    tears = 0
    for n in range(400):
        power_cut.arm(main.card, n)
        try:
            duplicate(main, backup, PIN_MAIN, PIN_BACKUP)
        except errors.ReaderError:
            tears += 1
            # power back on both readers; through pcscd the torn card is pulled out and put back so that
            # pcscd sees it leave (the bridge's own quick reconnect can race pcscd's polling)
            replug(request, transport_kind, [0, 1], [main.card, backup.card])
            s, d = main.status(), backup.status()
            # both cards answer, and the export-once rule holds after every cut
            assert s.export_counter <= 1 and len(blobs) <= 1
            assert d.role != ROLE_MAIN
            if d.role == ROLE_BACKUP:
                assert d.key_id == s.key_id and d.source_id == main.card_id
            continue
        break
    else:
        pytest.fail("the duplication never completed")
    power_cut.disarm(main.card)
    assert tears >= 9  # slot writes, keygen, export, import, confirm and lock were each cut
    s, d = main.status(), backup.status()
    assert s.export_state == EXPORT_CONFIRMED and s.export_counter == 1 and len(blobs) == 1
    assert d.role == ROLE_BACKUP and d.key_id == s.key_id
    key = os.urandom(32)
    backup.verify_pin(PIN_BACKUP)
    assert backup.decrypt(crypto.ecies_wrap(main.public_key(), key)) == key
    # running it again only re-proves the copy: no second export
    again = duplicate(main, backup, PIN_MAIN, PIN_BACKUP)
    assert again.export_counter == 1 and not any("exported" in step for step in again.steps)
