"""Every command in every lifecycle state and role, against the access table of protocol.toml.

The walk is generated from protocol.toml: for each [[ins]] it sends the command with P1 = P2 = FF and no
data. The dispatcher checks the lifecycle and the access condition before the handler runs, so a command
the table refuses gets exactly the table's status word (6985 for the lifecycle or "never", 6982 for a
missing PIN or role), and a command the table lets through reaches its handler, which refuses the bad
P1-P2 (or length) without doing anything: the walk changes nothing on the card.

Roles walked: nobody (nothing proven), the holder (PIN verified), a station (an authenticated session whose
certificate grants every permission; every probe secured) and a station granted nothing. A role condition
passes only for the station with the permission; the session never stands in for the PIN.
"""

from __future__ import annotations

import pytest
from trust_helpers import ALL, enrolled, open_session

from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.duplication import DuplicationSession
from cardsmith.protocol import ACCESS_STATES, PROTOCOL, Instruction, condition
from cardsmith.protocol.codes import Ins, Lifecycle
from cardsmith.trust import SecureChannel

pytestmark = pytest.mark.card

PIN = "1234"
ROLES = ("nobody", "holder", "station", "station-without-permissions")
#: answers that mean the command never reached a handler or the applet failed: never a pass
NOT_A_PASS = {0x6982, 0x6D00, 0x6E00, 0x6F00}


def expected(ins: Instruction, state: str, role: str) -> int | None:
    """The status word the table demands, or None when the table lets the command through."""
    if ins.lifecycle == "installed" and state != "installed":
        return 0x6985
    kind, _ = condition(ins.access[state])
    if kind == "never":
        return 0x6985
    if kind == "pin" and role != "holder":
        return 0x6982
    if kind == "role" and role != "station":
        return 0x6982
    if kind == "pin-or-role" and role not in ("holder", "station"):
        return 0x6982
    return None


def probe(card: Card, ins: Instruction, channel: SecureChannel | None) -> int:
    cla = PROTOCOL.meta["cla_iso"] if ins.cla == "iso" else PROTOCOL.cla
    command = CommandApdu(cla, ins.code, 0xFF, 0xFF)
    return card.send(command if channel is None else channel.wrap(command)).sw


def walk(card: Card, state: str) -> list[str]:
    wrong = []
    for role in ROLES:
        card.reset()  # nothing proven any more
        channel = None
        if role == "holder":
            DuplicationSession(card).verify_pin(PIN)
        elif role.startswith("station"):
            channel = open_session(card, ALL if role == "station" else 0)
            card.channel = None  # the probes are wrapped by hand, as sent
        for ins in sorted(PROTOCOL.instructions.values(), key=lambda i: i.code):
            sw = probe(card, ins, channel)
            want = expected(ins, state, role)
            if want is not None and sw != want:
                wrong.append(f"{state}/{role} {ins.name}: {sw:04X}, the table says {want:04X}")
            if want is None and (sw in NOT_A_PASS or (sw == 0x6985 and ins.name != "GET_RESPONSE")):
                wrong.append(f"{state}/{role} {ins.name}: {sw:04X}, the table lets it through")
    return wrong


def test_every_command_in_every_state_and_role_answers_as_the_table_says(card: Card) -> None:
    enrolled(card)
    DuplicationSession(card).put_pin(PIN)
    assert card.info().lifecycle == Lifecycle.INSTALLED
    wrong = walk(card, "installed")
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    assert card.info().lifecycle == Lifecycle.ISSUED
    wrong += walk(card, "issued")
    assert not wrong, "\n".join(wrong)
    # the walk itself changed nothing: the PIN still has every try
    assert DuplicationSession(card).status().tries_left == 3


def test_the_table_covers_every_command_and_state() -> None:
    """Each command has a condition for each state, and the walk distinguishes refusals from passes."""
    for ins in PROTOCOL.instructions.values():
        assert set(ins.access) == set(ACCESS_STATES), ins.name
        for state in ACCESS_STATES:
            condition(ins.access[state])  # parses
    refused = {(i.name, s) for i in PROTOCOL.instructions.values() for s in ACCESS_STATES
               if expected(i, s, "holder") is not None}
    assert ("PUT_PIN", "issued") in refused and ("RESET_RETRY_COUNTER", "installed") in refused
    assert ("DECRYPT", "issued") not in refused and expected(PROTOCOL.instructions["DECRYPT"], "issued",
                                                             "nobody") == 0x6982
