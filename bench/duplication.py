#!/usr/bin/env python3
"""Benchmark: a whole duplication, and recovering 100 files from the backup card onto a new main card.

    .venv/bin/python bench/duplication.py [--transport sim|pcsc|both] [--files 100]

For each transport: APDU exchanges and bytes (Card.stats), wall time, and the split between time spent in
card exchanges (transmit round trips: card + transport) and host time (everything else: crypto, files).
Recovery is shown beside a baseline in the same run: the patent's way (the backup card returns each data
key, the host wraps it to the new card itself), which exposes every data key to the host.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from cardsmith.core import crypto  # noqa: E402
from cardsmith.core.card import Card  # noqa: E402
from cardsmith.duplication import DuplicationSession, duplicate, personalise  # noqa: E402
from cardsmith.duplication import files as cardfiles  # noqa: E402
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions  # noqa: E402


def _cards(kind: str, sim: EphemeralSimulator) -> list[Card]:
    cards = []
    for slot in range(2):
        control = sim.transport(slot)
        control.replace_card(b"")
        if kind == "sim":
            transport = control
        else:
            control.close()
            from cardsmith.transport.pcsc import PcscTransport

            transport = PcscTransport(f"Virtual PCD 00 0{slot}")
        card = Card(transport)
        card.select()
        cards.append(card)
    return cards


def _measure(cards: list[Card], fn) -> dict:
    for c in cards:
        c.stats.reset()
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    card_s = sum(c.stats.seconds for c in cards)
    return {"apdus": sum(c.stats.exchanges for c in cards),
            "bytes": sum(c.stats.bytes_out + c.stats.bytes_in for c in cards),
            "wall_ms": wall * 1000, "card_ms": card_s * 1000, "host_ms": (wall - card_s) * 1000, "result": result}


def _start_pcscd() -> subprocess.Popen | None:
    """pcscd for the PC/SC run, started here (and stopped afterwards) only if none is running."""
    from cardsmith.transport import pcsc

    try:
        pcsc.reader_names()
        return None
    except pcsc.PcscUnavailable:
        if not shutil.which("pcscd") or os.geteuid() != 0:
            raise RuntimeError("pcscd is not running and cannot be started here (needs root)") from None
        proc = subprocess.Popen(["pcscd", "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        return proc


def _wait_for_vpcd_cards() -> None:
    from cardsmith.transport import pcsc

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if sum(1 for r in pcsc.describe_readers() if r.name.startswith("Virtual PCD") and r.card_present) >= 2:
                return
        except pcsc.PcscUnavailable:
            pass
        time.sleep(0.2)
    raise RuntimeError("the simulated cards did not appear in pcscd's vpcd readers")


def run(kind: str, n_files: int) -> list[tuple[str, dict]]:
    options = SimOptions(cards=2, build="prod", vpcd="127.0.0.1:35963" if kind == "pcsc" else None)
    sim = EphemeralSimulator(options)
    rows = []
    try:
        if kind == "pcsc":
            _wait_for_vpcd_cards()
        main_c, backup_c = _cards(kind, sim)
        main, backup = DuplicationSession(main_c), DuplicationSession(backup_c)
        key1 = os.urandom(32)
        personalise(main, "1234", key1)
        personalise(backup, "5678", key1)
        rows.append(("duplication (whole)", _measure([main_c, backup_c],
                                                     lambda: duplicate(main, backup, "1234", "5678"))))
        point = main.public_key()
        with tempfile.TemporaryDirectory() as tmp:
            paths = [Path(tmp) / f"f{i:03d}.dat" for i in range(n_files)]
            for p in paths:
                p.write_bytes(cardfiles.encrypt_bytes(os.urandom(4096), point))
            # the main card is lost: a new card in its reader
            control = sim.transport(0)
            control.replace_card(b"")
            control.close()
            main_c.reset()
            new = DuplicationSession(main_c)
            personalise(new, "2468", os.urandom(32))
            new.verify_pin("2468")
            new.generate()
            backup.verify_pin("5678")
            new_point = new.public_key()

            def baseline() -> int:  # the patent's S303-S308: data keys pass through the host
                for p in paths:
                    cf = cardfiles.CardFile.read(p)
                    env = crypto.ecies_wrap(new_point, backup.decrypt(cf.envelope))
                    cardfiles.CardFile(cf.kcv, env, cf.content).encode()
                return len(paths)

            rows.append((f"recover {n_files} files, baseline (host re-wraps, no write)",
                         _measure([main_c, backup_c], baseline)))
            rows.append((f"recover {n_files} files (in-card re-encrypt, write + verify)",
                         _measure([main_c, backup_c], lambda: cardfiles.recover(paths, backup, new))))
    finally:
        sim.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transport", choices=["sim", "pcsc", "both"], default="both")
    ap.add_argument("--files", type=int, default=100)
    args = ap.parse_args()
    kinds = ["sim", "pcsc"] if args.transport == "both" else [args.transport]
    print(f"{'transport':<9} {'operation':<58} {'APDUs':>6} {'bytes':>8} {'wall ms':>9} {'card ms':>9} {'host ms':>9}")
    for kind in kinds:
        lock = None
        pcscd = None
        try:
            if kind == "pcsc":
                lock = open("/tmp/cardsmith-pcsc-tests.lock", "w")  # noqa: SIM115 - vpcd ports are machine-wide
                fcntl.flock(lock, fcntl.LOCK_EX)
                pcscd = _start_pcscd()
            rows = run(kind, args.files)
        except Exception as exc:  # noqa: BLE001 - reported, the other transport still runs
            print(f"{kind:<9} unavailable: {exc}")
            continue
        finally:
            if pcscd:
                pcscd.terminate()
                pcscd.wait(timeout=10)
            if lock:
                fcntl.flock(lock, fcntl.LOCK_UN)
                lock.close()
        for name, m in rows:
            print(f"{kind:<9} {name:<58} {m['apdus']:>6} {m['bytes']:>8} {m['wall_ms']:>9.1f} "
                  f"{m['card_ms']:>9.1f} {m['host_ms']:>9.1f}")


if __name__ == "__main__":
    main()
