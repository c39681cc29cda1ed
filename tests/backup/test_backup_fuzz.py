"""Malformed input to every backup/data command, in every session state: refused, never 6F00."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from backup_helpers import Store, personalise

from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.protocol.codes import Ins

pytestmark = pytest.mark.card
OUR_INS = [Ins.DEFINE_REGION, Ins.WRITE_DATA, Ins.READ_DATA, Ins.LOAD_COMMON_KEY, Ins.BACKUP, Ins.RESTORE,
           Ins.TRANSFER, Ins.END_SESSION]


def blast(card: Card, rng: random.Random, rounds: int) -> None:
    for _ in range(rounds):
        ins = rng.choice(OUR_INS)
        if ins == Ins.END_SESSION and rng.random() < 0.8:
            continue  # keep the session alive most of the time
        length = rng.choice([0, 1, 2, 3, 4, 5, 6, 17, 40, 281, 282, 290, 600, 1000])
        body = bytes(rng.getrandbits(8) for _ in range(length))
        cmd = CommandApdu(0x80, ins, rng.choice([0, 1, 2, 3, 0xFF]), rng.choice([0, 0, 1]), body, 256)
        sw = card.send(cmd).sw
        assert sw != 0x6F00, f"INS {ins:02X} P1P2 {cmd.p1:02X}{cmd.p2:02X} data {body[:16].hex()}... -> 6F00"


def test_random_commands_never_get_6f00(card: Card, tmp_path: Path) -> None:
    rng = random.Random(7)
    blast(card, rng, 150)  # fresh, INSTALLED
    personalise(card)
    store = Store(tmp_path)
    _, blob = store.backup(card, "full")
    card.call(Ins.BACKUP, p1=1, ne=512)
    blast(card, rng, 150)  # in a backup session (or whatever state the noise left)
    card.reset()
    card.call(Ins.RESTORE, data=blob.header.raw, expect_data=False)
    blast(card, rng, 150)  # in a restore session
    card.reset()
    card.call(Ins.RESTORE, data=blob.header.raw, expect_data=False)
    for p in blob.transfer_payloads():
        card.call(Ins.TRANSFER, data=p, ne=1)
    blast(card, rng, 150)  # in the apply pass
