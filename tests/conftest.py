"""Shared fixtures: one simulator JVM per test session, fresh cards per test, and PC/SC through vpcd.

Card tests take the ``card`` (or ``card_pair``) fixture and run once per transport in
CARDSMITH_TEST_TRANSPORTS (default ``sim,pcsc``):
- ``sim``: the embedded simulator over loopback;
- ``pcsc``: the same simulator cards plugged into pcscd through vpcd, reached with pyscard as the
  readers ``Virtual PCD 00 0n``. The session starts pcscd itself when it is not running (root needed).
  Without pcscd/vpcd the pcsc tests are skipped, unless CARDSMITH_REQUIRE_PCSC=1 (as in CI), where that
  is an error.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardsmith.core.card import Card
from cardsmith.transport.sim import SimTransport
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions
from cli_helpers import base_env, run

SIM_CARDS = 4
VPCD_PORT = 35963
VPCD_READER = "Virtual PCD 00 0{slot}"
PCSC_LOCK = "/tmp/cardsmith-pcsc-tests.lock"


def _transports() -> list[str]:
    return [t.strip() for t in os.environ.get("CARDSMITH_TEST_TRANSPORTS", "sim,pcsc").split(",") if t.strip()]


def _require_pcsc() -> bool:
    return os.environ.get("CARDSMITH_REQUIRE_PCSC") == "1"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own CARDSMITH_HOME, so no test sees a user's simulator service or files."""
    monkeypatch.setenv("CARDSMITH_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("CARDSMITH_READER", raising=False)


@pytest.fixture(scope="session")
def simulator() -> Iterator[EphemeralSimulator]:
    """The session's simulator JVM, with SIM_CARDS cards reached directly."""
    sim = EphemeralSimulator(SimOptions(cards=SIM_CARDS, build="test"))
    yield sim
    sim.stop()


class PcscRig:
    """pcscd (ours, if none was running) and a simulator whose cards are plugged into vpcd."""

    def __init__(self) -> None:
        self.pcscd: subprocess.Popen | None = None
        self.sim: EphemeralSimulator | None = None
        self._lock = open(PCSC_LOCK, "w")  # noqa: SIM115 - held for the session
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # one test session at a time owns the vpcd ports

    def start(self) -> None:
        from cardsmith.transport import pcsc

        if not Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so").exists():
            raise RuntimeError("vpcd is not installed (Debian package vsmartcard-vpcd): run `make setup`")
        try:
            pcsc.reader_names()
        except pcsc.PcscUnavailable:
            if not shutil.which("pcscd") or os.geteuid() != 0:
                raise RuntimeError("pcscd is not running and cannot be started here (needs root)") from None
            self.pcscd = subprocess.Popen(["pcscd", "--foreground"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        self.sim = EphemeralSimulator(SimOptions(cards=2, vpcd=f"127.0.0.1:{VPCD_PORT}", build="test"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                present = [r for r in pcsc.describe_readers() if r.name.startswith("Virtual PCD") and r.card_present]
                if len(present) >= 2:
                    return
            except pcsc.PcscUnavailable:
                pass
            time.sleep(0.2)
        raise RuntimeError("the simulated cards did not appear in pcscd's vpcd readers within 30 s")

    def stop(self) -> None:
        if self.sim:
            self.sim.stop()
        if self.pcscd:
            self.pcscd.terminate()
            try:
                self.pcscd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.pcscd.kill()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


@pytest.fixture(scope="session")
def pcsc_rig() -> Iterator[PcscRig]:
    rig = PcscRig()
    try:
        rig.start()
    except Exception as exc:  # noqa: BLE001 - turned into skip or failure below
        rig.stop()
        if _require_pcsc():
            pytest.fail(f"PC/SC test rig unavailable and CARDSMITH_REQUIRE_PCSC=1: {exc}")
        pytest.skip(f"PC/SC test rig unavailable: {exc}")
    yield rig
    rig.stop()


def fresh_card(request: pytest.FixtureRequest, kind: str, slot: int, install_params: bytes = b"") -> Card:
    """A newly installed card (new id, blank) in ``slot`` of the ``kind`` transport, applet selected."""
    if kind == "sim":
        sim: EphemeralSimulator = request.getfixturevalue("simulator")
        transport = sim.transport(slot)
        transport.replace_card(install_params)
    elif kind == "pcsc":
        rig: PcscRig = request.getfixturevalue("pcsc_rig")
        assert rig.sim is not None
        control = rig.sim.transport(slot)
        control.replace_card(install_params)
        control.close()
        from cardsmith.transport.pcsc import PcscTransport

        transport = PcscTransport(VPCD_READER.format(slot=slot))
    else:
        raise ValueError(kind)
    card = Card(transport)
    request.addfinalizer(card.close)
    card.select()
    return card


def sim_control(request: pytest.FixtureRequest, kind: str, slot: int) -> SimTransport:
    """The simulator-side handle of a card (eject, insert, reset), whatever transport the test uses."""
    owner: EphemeralSimulator
    if kind == "sim":
        owner = request.getfixturevalue("simulator")
    else:
        rig: PcscRig = request.getfixturevalue("pcsc_rig")
        assert rig.sim is not None
        owner = rig.sim
    control = owner.transport(slot)
    request.addfinalizer(control.close)
    return control


@pytest.fixture(params=_transports())
def transport_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def card(request: pytest.FixtureRequest, transport_kind: str) -> Card:
    """A fresh cardsmith card on each transport under test."""
    return fresh_card(request, transport_kind, 0)


@pytest.fixture
def card_pair(request: pytest.FixtureRequest, transport_kind: str) -> tuple[Card, Card]:
    """Two fresh cards (slots 0 and 1) on the same transport, for duplication and replacement flows."""
    return fresh_card(request, transport_kind, 0), fresh_card(request, transport_kind, 1)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running `cardsmith sim` service with two cards, in its own CARDSMITH_HOME."""
    env = base_env(tmp_path_factory.mktemp("svc"))
    started = run(env, "sim", "start", "--cards", "2")
    assert started.returncode == 0, started.stderr
    yield env
    stopped = run(env, "sim", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
