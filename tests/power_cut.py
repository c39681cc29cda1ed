"""Arming the test build's power cut (TEST_FAULT, docs/developing.md): one helper for every tear test.

``arm(card, n)``: the n-th fault point reached afterwards rolls the open transaction back and cuts the power
(the host then gets CardRemovedError); ``disarm(card)`` cancels a countdown that did not fire. The countdown
is JVM-wide: arm it on the card that runs the operation.
"""

from __future__ import annotations

from cardsmith.core.card import Card
from cardsmith.protocol.codes import Ins

DISARM = 0xFFFF


def arm(card: Card, n: int) -> None:
    card.call(Ins.TEST_FAULT, p1=n >> 8, p2=n & 0xFF, expect_data=False)


def disarm(card: Card) -> None:
    arm(card, DISARM)


def power_back(card: Card, timeout: float = 15.0) -> None:
    """Power the card up again after a simulated tear. Through vpcd the card leaves the reader and comes
    back a moment later (the simulator reconnects), so wait for it instead of failing on the first try."""
    import time

    from cardsmith.core.errors import ReaderError

    deadline = time.monotonic() + timeout
    while True:
        try:
            card.reset()
            return
        except ReaderError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
