"""The simulated card as an ordinary PC/SC card: third-party tools, reader listing, card removal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import power_cut
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.protocol import PROTOCOL
from cardsmith.protocol.codes import Ins
from cardsmith.transport.pcsc import PcscTransport
from conftest import VPCD_READER, PcscRig, fresh_card

pytestmark = pytest.mark.pcsc


def test_opensc_tool_selects_the_applet(request: pytest.FixtureRequest, pcsc_rig: PcscRig) -> None:
    """A standard PC/SC client (OpenSC's opensc-tool) selects the applet and reads GET INFO through pcscd."""
    card = fresh_card(request, "pcsc", 0)
    card_id = card.info().card_id
    card.close()
    tool = shutil.which("opensc-tool")
    assert tool, "opensc-tool missing (Debian package opensc): run `make setup`"
    aid = PROTOCOL.applet_aid.hex().upper()
    out = subprocess.run([tool, "-r", VPCD_READER.format(slot=0), "-s", f"00A40400{len(PROTOCOL.applet_aid):02X}{aid}",
                          "-s", "8030000000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SW1=0x90, SW2=0x00") == 2, out.stdout
    dumped = "".join(re.findall(r"^((?:[0-9A-F]{2} )+)", out.stdout, re.M)).replace(" ", "")
    assert "8108" + card_id.hex().upper() in dumped  # the card id TLV, as opensc-tool saw it


def test_cli_lists_and_uses_the_vpcd_readers(request: pytest.FixtureRequest, pcsc_rig: PcscRig,
                                             tmp_path: object) -> None:
    card = fresh_card(request, "pcsc", 1)
    card_id = card.info().card_id.hex().upper()
    card.close()
    env = dict(os.environ, CARDSMITH_HOME=str(tmp_path))
    listing = subprocess.run([sys.executable, "-m", "cardsmith.cli", "--json", "readers"], env=env,
                             capture_output=True, text=True, timeout=120)
    readers = {r["name"]: r for r in json.loads(listing.stdout)["readers"]}
    assert readers["Virtual PCD 00 01"]["card"] and readers["Virtual PCD 00 01"]["atr"].startswith("3B")
    info = subprocess.run([sys.executable, "-m", "cardsmith.cli", "-r", "PCD 00 01", "--json", "info"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["card_id"] == card_id


def test_a_card_lost_mid_command_is_reported_and_the_next_run_works(request: pytest.FixtureRequest,
                                                                    pcsc_rig: PcscRig) -> None:
    """The card loses power in the middle of a command (test-build fault injector): pcscd sees it leave,
    the host says the outcome is unknown, and a new connection finds the same card, state intact."""
    reader = VPCD_READER.format(slot=0)
    card = fresh_card(request, "pcsc", 0)
    card_id = card.info().card_id
    power_cut.arm(card, 0)
    with pytest.raises(errors.CardRemovedError) as excinfo:
        card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    assert "outcome is unknown" in str(excinfo.value) and "Reinsert" in str(excinfo.value)
    card.close()
    transport = _wait_for(reader, present=True)
    assert transport is not None
    again = Card(transport)
    request.addfinalizer(again.close)
    again.select()
    info = again.info()
    assert info.card_id == card_id and info.lifecycle_name == "INSTALLED"  # rolled back, not half done


def _wait_for(reader: str, present: bool, timeout: float = 20) -> PcscTransport | None:
    """Polls until pcscd sees the card in ``reader`` (returning a connection) or sees none."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            transport = PcscTransport(reader)
        except errors.NoCardError:
            if not present:
                return None
        else:
            if present:
                return transport
            transport.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"pcscd did not see the card {'return' if present else 'leave'} in {timeout} s")
        time.sleep(0.2)


def test_extended_length_through_pcscd(request: pytest.FixtureRequest, pcsc_rig: PcscRig) -> None:
    card: Card = fresh_card(request, "pcsc", 0)
    card.stats.reset()
    data = bytes(range(256)) * 4
    assert card.call(Ins.ECHO, data=data) == data
    assert card.extended and card.stats.exchanges == 1


def test_card_events_through_pcscd(request: pytest.FixtureRequest, pcsc_rig: PcscRig) -> None:
    """The issuing desk's card events on a PC/SC reader: SCardGetStatusChange sees the card leave and arrive."""
    from cardsmith.transport.events import PcscEvents
    from conftest import sim_control

    reader = VPCD_READER.format(slot=1)
    fresh_card(request, "pcsc", 1).close()
    control = sim_control(request, "pcsc", 1)
    events = PcscEvents(reader)
    request.addfinalizer(events.close)
    assert events.wait(True, 20) and events.present()
    assert not events.wait(False, 0.3)  # nothing happens: it times out, saying so
    control.eject()
    assert events.wait(False, 20) and not events.present()
    control.insert()
    assert events.wait(True, 20) and events.present()
    again = _wait_for(reader, present=True)  # and the card is usable again
    assert again is not None
    again.close()


def test_listing_readers_leaves_no_pcsc_context_to_the_garbage_collector(pcsc_rig: PcscRig, tmp_path: object) -> None:
    """`readers` and `doctor` release every PC/SC context themselves: no pyscard "Exception ignored ... Failed to
    release context" at exit, with a card in a reader and with an empty one."""
    env = dict(os.environ, CARDSMITH_HOME=str(tmp_path))
    for args in (["readers"], ["--json", "readers"], ["doctor"], ["-r", "PCD 00 00", "doctor"]):
        out = subprocess.run([sys.executable, "-m", "cardsmith.cli", *args], env=env, capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert "Exception ignored" not in out.stderr and "Failed to release context" not in out.stderr, out.stderr
        assert "Virtual PCD 00 00" in out.stdout, out.stdout
