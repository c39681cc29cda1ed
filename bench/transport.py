#!/usr/bin/env python3
"""Transport benchmark: a 255-byte ECHO round trip on every transport, side by side, in one run.

    .venv/bin/python bench/transport.py [--rounds 300] [--json bench-results/transport.json]

Rows:
- embedded simulator (loopback to the SimBridge JVM), through cardsmith's Card layer, extended and short APDUs;
- PC/SC (pcscd + vpcd + the same simulator), through cardsmith's Card layer, extended and short APDUs;
- PC/SC raw pyscard transmit loop against the same reader (`CardConnection.transmit`), and pyscard's bare
  `SCardTransmit` (the floor: one PC/SC call, nothing around it): the baselines for the host's own overhead.
  These three are measured interleaved (one round of each in turn), so load from other work hits them alike,
  and the ratios cardsmith / raw loop and cardsmith / SCardTransmit are printed;
plus the simulator's start time and `cardsmith --help` time. Needs root for pcscd when it is not running;
without PC/SC the PC/SC rows are left out and the reason is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from cardsmith.core.card import Card  # noqa: E402
from cardsmith.protocol.codes import Ins  # noqa: E402
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions  # noqa: E402

PAYLOAD = bytes(i % 256 for i in range(255))
VPCD_READER = "Virtual PCD 00 00"


def measure(label: str, round_trip, rounds: int) -> dict:
    for _ in range(10):  # warm-up (JIT, caches)
        round_trip()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        round_trip()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    return {"transport": label, "rounds": rounds, "median_ms": median * 1000,
            "p90_ms": sorted(samples)[int(rounds * 0.9)] * 1000,
            "payload_bytes_per_s": 2 * len(PAYLOAD) / median}


def measure_interleaved(rounds_of: dict[str, object], rounds: int) -> list[dict]:
    """Like measure, but one round of each in turn: the rows see the same machine load."""
    for run in rounds_of.values():
        for _ in range(10):
            run()  # type: ignore[operator]
    samples: dict[str, list[float]] = {label: [] for label in rounds_of}
    for _ in range(rounds):
        for label, run in rounds_of.items():
            start = time.perf_counter()
            run()  # type: ignore[operator]
            samples[label].append(time.perf_counter() - start)
    rows = []
    for label, got in samples.items():
        median = statistics.median(got)
        rows.append({"transport": label, "rounds": rounds, "median_ms": median * 1000,
                     "p90_ms": sorted(got)[int(rounds * 0.9)] * 1000,
                     "payload_bytes_per_s": 2 * len(PAYLOAD) / median})
    return rows


def card_echo(card: Card, extended: bool):
    card.extended = extended

    def run() -> None:
        assert card.call(Ins.ECHO, data=PAYLOAD) == PAYLOAD

    return run


def start_time(runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sim = EphemeralSimulator(SimOptions(cards=1))
        times.append(time.perf_counter() - t)
        sim.stop()
    return statistics.median(times)


def help_time(runs: int = 5) -> float:
    exe = shutil.which("cardsmith", path=str(ROOT / ".venv" / "bin")) or "cardsmith"
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([exe, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def pcsc_rows(rounds: int) -> tuple[list[dict], str | None]:
    import fcntl

    lock = open("/tmp/cardsmith-pcsc-tests.lock", "w")  # noqa: SIM115 - vpcd's ports are machine-wide
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        return _pcsc_rows(rounds)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _pcsc_rows(rounds: int) -> tuple[list[dict], str | None]:
    try:
        from smartcard.System import readers

        from cardsmith.transport.pcsc import PcscTransport, PcscUnavailable, reader_names
    except ImportError as exc:
        return [], f"pyscard missing ({exc})"
    pcscd = None
    try:
        reader_names()
    except PcscUnavailable:
        if os.geteuid() != 0 or not shutil.which("pcscd"):
            return [], "pcscd not running (and not root to start it)"
        pcscd = subprocess.Popen(["pcscd", "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    sim = EphemeralSimulator(SimOptions(cards=1, vpcd="127.0.0.1:35963"))
    rows: list[dict] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                transport = PcscTransport(VPCD_READER)
                break
            except Exception:
                if time.monotonic() > deadline:
                    return [], "the simulated card did not appear in vpcd's reader"
                time.sleep(0.2)
        card = Card(transport)
        card.select()
        rows.append(measure("pcsc (vpcd), cardsmith, short", card_echo(card, False), rounds))
        # Baselines on a second connection to the same card (shared mode), one extended APDU per round trip.
        from smartcard.pcsc.PCSCCardConnection import translateprotocolheader
        from smartcard.scard import SCARD_LEAVE_CARD, SCardTransmit

        reader = next(r for r in readers() if str(r) == VPCD_READER)
        conn = reader.createConnection()
        conn.connect(disposition=SCARD_LEAVE_CARD)
        apdu = [0x80, 0x32, 0x00, 0x00, 0x00, 0x00, len(PAYLOAD), *PAYLOAD, 0x01, 0x00]
        pcsc_conn = conn.component
        hcard, pci = pcsc_conn.hcard, translateprotocolheader(pcsc_conn.getProtocol())

        def raw() -> None:
            data, sw1, sw2 = conn.transmit(apdu)
            assert (sw1, sw2) == (0x90, 0x00) and bytes(data) == PAYLOAD

        def floor() -> None:
            hresult, response = SCardTransmit(hcard, pci, apdu)
            assert hresult == 0 and bytes(response) == PAYLOAD + b"\x90\x00"

        rows += measure_interleaved({"pcsc (vpcd), cardsmith, extended": card_echo(card, True),
                                     "pcsc (vpcd), raw pyscard loop (baseline)": raw,
                                     "pcsc (vpcd), bare SCardTransmit (floor)": floor}, rounds)
        conn.disconnect()
        card.close()
    finally:
        sim.stop()
        if pcscd:
            pcscd.terminate()
            pcscd.wait()
    return rows, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    sim = EphemeralSimulator(SimOptions(cards=1))
    card = Card(sim.transport(0))
    card.select()
    rows = [measure("embedded simulator, cardsmith, extended", card_echo(card, True), args.rounds),
            measure("embedded simulator, cardsmith, short", card_echo(card, False), args.rounds)]
    card.stats.reset()
    card.extended = False
    card.call(Ins.ECHO, data=PAYLOAD)
    short_exchanges = card.stats.exchanges
    card.close()
    sim.stop()
    more, problem = pcsc_rows(args.rounds)
    rows += more
    result = {"rows": rows, "short_apdu_exchanges_per_echo": short_exchanges,
              "simulator_start_s": start_time(), "cardsmith_help_s": help_time(), "pcsc_problem": problem}

    print(f"255-byte ECHO round trip, {args.rounds} rounds each (payload counted both ways)\n")
    print(f"| {'transport':<44} | median ms | p90 ms | payload bytes/s |")
    print(f"|{'-' * 46}|-----------|--------|-----------------|")
    for r in rows:
        rate = r["payload_bytes_per_s"]
        print(f"| {r['transport']:<44} | {r['median_ms']:9.3f} | {r['p90_ms']:6.3f} | {rate:15,.0f} |")
    print(f"\nshort APDUs: {short_exchanges} exchanges per echo (255 bytes + Le overflows jCardSim's buffer: "
          "sent without Le, answer fetched by GET RESPONSE)")
    print(f"simulator start (JVM + 1 card, to READY): {result['simulator_start_s']:.2f} s")
    print(f"cardsmith --help: {result['cardsmith_help_s'] * 1000:.0f} ms")
    by_label = {r["transport"]: r["median_ms"] for r in rows}
    ours = by_label.get("pcsc (vpcd), cardsmith, extended")
    if ours:
        raw_ms = by_label["pcsc (vpcd), raw pyscard loop (baseline)"]
        floor_ms = by_label["pcsc (vpcd), bare SCardTransmit (floor)"]
        result["ratio_to_raw_loop"] = ours / raw_ms
        result["ratio_to_scardtransmit"] = ours / floor_ms
        print(f"cardsmith over PC/SC / raw pyscard loop: {ours / raw_ms:.3f}; "
              f"/ bare SCardTransmit: {ours / floor_ms:.3f} (target: within 1.10 of the raw loop)")
    if problem:
        print(f"PC/SC rows left out: {problem}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
