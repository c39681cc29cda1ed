"""Power loss at every fault point of a duplication (either card), and the CMAC/KDF vectors of the applet."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cardsmith import crypto, errors
from cardsmith.duplication import duplicate
from cardsmith.protocol import CONST
from dup_helpers import PIN_BACKUP, PIN_MAIN, personalised_pair, replug

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.card
def test_pull_either_card_at_every_step_of_the_duplication(request, card_pair, transport_kind) -> None:
    main, backup = personalised_pair(card_pair)
    blobs: set[bytes] = set()
    original_export = main.export

    def recording_export(dest: bytes, key_type: int = CONST["KEY_TYPE_PAIR"]) -> bytes:
        blob = original_export(dest, key_type)
        blobs.add(blob)
        return blob

    main.export = recording_export  # type: ignore[method-assign]
    tears = 0
    for n in range(400):
        main.card.call("TEST_FAULT", p1=n >> 8, p2=n & 0xFF, expect_data=False)
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
            assert d.role != CONST["ROLE_MAIN"]
            if d.role == CONST["ROLE_BACKUP"]:
                assert d.key_id == s.key_id and d.source_id == main.card_id
            continue
        break
    else:
        pytest.fail("the duplication never completed")
    main.card.call("TEST_FAULT", p1=0xFF, p2=0xFF, expect_data=False)
    assert tears >= 9  # slot writes, keygen, export, import, confirm and lock were each cut
    s, d = main.status(), backup.status()
    assert s.export_state == CONST["EXPORT_CONFIRMED"] and s.export_counter == 1 and len(blobs) == 1
    assert d.role == CONST["ROLE_BACKUP"] and d.key_id == s.key_id
    key = os.urandom(32)
    backup.verify_pin(PIN_BACKUP)
    assert backup.decrypt(crypto.ecies_wrap(main.public_key(), key)) == key
    # running it again only re-proves the copy: no second export
    again = duplicate(main, backup, PIN_MAIN, PIN_BACKUP)
    assert again.export_counter == 1 and not any("exported" in step for step in again.steps)


def test_applet_cmac_matches_nist_sp800_38b_and_kdf_matches_host() -> None:
    """Runs the test build's CmacSelfTest (one JVM) against the SP 800-38B AES-256 examples."""
    jars = f"{ROOT}/build/cardsmith-sim-test.jar:{ROOT}/lib/jcardsim-3.0.6.0.jar"
    out = subprocess.run(["java", "-cp", jars, "cardsmith.applet.CmacSelfTest"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith(("cmac ", "kdf ")))
    assert "028962f61b7bf89efc6b551f4667d983" in out  # Example 9, empty message
    assert "28a7023f452e8f82bd4bf28d8c37c35c" in out  # Example 10, 16 bytes
    assert "aaf3d8f1de5640c232f5b169b9c911e6" in out  # Example 11, 40 bytes
    assert "e1992190549f6ed5696a2c056c315410" in out  # Example 12, 64 bytes
    key = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    msg = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert crypto.cmac(key, msg).hex() == "28a7023f452e8f82bd4bf28d8c37c35c"
    assert lines["kdf"] == crypto.kdf256(key, crypto.LABEL_ENC, bytes.fromhex("6bc1bee22e409f96")).hex()
