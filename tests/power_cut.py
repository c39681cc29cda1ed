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
