"""Helpers shared by the duplication tests: personalised card pairs and blob field offsets."""

from __future__ import annotations

import os

from cardsmith.core.card import Card
from cardsmith.duplication import DuplicationSession, personalise
from power_cut import power_back

PIN_MAIN = "1234"
PIN_BACKUP = "5678"


def personalised_pair(pair: tuple[Card, Card], key1: bytes | None = None,
                      backup_key1: bytes | None = None) -> tuple[DuplicationSession, DuplicationSession]:
    """Two cards as the issuer ships them: PIN and the same Key1 on both (S101-S113)."""
    key1 = key1 or os.urandom(32)
    main, backup = DuplicationSession(pair[0]), DuplicationSession(pair[1])
    personalise(main, PIN_MAIN, key1)
    personalise(backup, PIN_BACKUP, backup_key1 or key1)
    return main, backup


def replug(request, kind: str, slots: list[int], cards: list[Card]) -> None:
    """Take the cards out and put them back, then power them up. Through pcscd this waits until pcscd has
    seen each card leave and come back: a card that returns before pcscd polls stays unusable in pcscd."""
    import time

    from conftest import sim_control

    controls = [sim_control(request, kind, slot) for slot in slots]
    for control in controls:
        control.eject()
    if kind == "pcsc":
        _wait_pcsc(slots, present=False)
    for control in controls:
        control.insert()
    if kind == "pcsc":
        _wait_pcsc(slots, present=True)
        time.sleep(0.2)
    for card in cards:
        power_back(card)


def _wait_pcsc(slots: list[int], present: bool, timeout: float = 10.0) -> None:
    import time

    from cardsmith.transport import pcsc

    names = {f"Virtual PCD 00 0{slot}" for slot in slots}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {r.name: r.card_present for r in pcsc.describe_readers() if r.name in names}
        if len(states) == len(names) and all(v == present for v in states.values()):
            return
        time.sleep(0.1)
