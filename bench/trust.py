#!/usr/bin/env python3
"""Benchmark: opening an authenticated session, and what secure messaging costs a full backup and a duplication.

    .venv/bin/python bench/trust.py [--rounds 20] [--pages 64] [--json FILE]

On the embedded simulator (production build). Session set-up: APDU exchanges after SELECT, bytes on the wire,
host time (crypto: certificate checks, ECDH, signing) and card time (the simulator's round trips), medians of
--rounds. Then a full backup of a --pages x 128-byte data area and a whole duplication, each plain and inside
a session (every APDU secured), side by side in the same run: exchanges, bytes, the bytes secure messaging
adds per APDU, wall, card and host time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from cardsmith.backup import BackupSession  # noqa: E402
from cardsmith.backup.catalogue import SqliteCatalogue  # noqa: E402
from cardsmith.core.card import Card  # noqa: E402
from cardsmith.core.crypto import point_of  # noqa: E402
from cardsmith.dataarea import DataAreaSession  # noqa: E402
from cardsmith.duplication import DuplicationSession, duplicate, personalise  # noqa: E402
from cardsmith.protocol.codes import Permission  # noqa: E402
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions, install_params  # noqa: E402
from cardsmith.trust import Issuer, TrustSession, enrol_card  # noqa: E402

PAGE = 128
ALL = sum(int(p) for p in Permission)


def fresh(sim: EphemeralSimulator, slot: int, params: bytes = b"") -> Card:
    control = sim.transport(slot)
    control.replace_card(params)
    card = Card(control)
    card.select()
    return card


def measure(cards: list[Card], fn) -> dict:  # noqa: ANN001
    for c in cards:
        c.stats.reset()
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    card_s = sum(c.stats.seconds for c in cards)
    apdus = sum(c.stats.exchanges for c in cards)
    return {"apdus": apdus, "bytes": sum(c.stats.bytes_out + c.stats.bytes_in for c in cards),
            "bytes_out": sum(c.stats.bytes_out for c in cards), "bytes_in": sum(c.stats.bytes_in for c in cards),
            "wall_ms": wall * 1000, "card_ms": card_s * 1000, "host_ms": (wall - card_s) * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--pages", type=int, default=64)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    issuer = Issuer(ec.generate_private_key(ec.SECP256R1()))
    key = ec.generate_private_key(ec.SECP256R1())
    station = issuer.certify(point_of(key.public_key()), "station", ALL)
    sim = EphemeralSimulator(SimOptions(cards=2, build="prod"))
    results: dict[str, dict] = {}
    try:
        card = fresh(sim, 0)
        enrol_card(card, issuer)
        opens = []
        for _ in range(args.rounds):
            card.reset()
            opens.append(measure([card], lambda: TrustSession(card).open(station, key)))
        results["open a session (median)"] = {k: statistics.median(o[k] for o in opens) for k in opens[0]}

        params = install_params(page_size=PAGE, page_count=args.pages)
        for secured in (False, True):
            card = fresh(sim, 0, params)
            enrol_card(card, issuer)
            data = DataAreaSession(card)
            data.define_region(1, 0, args.pages)
            BackupSession(card).load_common_key(1, bytes(range(16)))
            data.write(1, 0, os.urandom(PAGE * args.pages))
            if secured:
                TrustSession(card).open(station, key)
            with tempfile.TemporaryDirectory() as tmp:
                catalogue = SqliteCatalogue(Path(tmp) / "c.sqlite")
                results[f"full backup, {args.pages} x {PAGE} B, {'secured' if secured else 'plain'}"] = measure(
                    [card], lambda c=card, cat=catalogue, t=tmp: BackupSession(c).backup(cat, Path(t), "full"))

        for secured in (False, True):
            cards = [fresh(sim, 0), fresh(sim, 1)]
            main_s, backup_s = DuplicationSession(cards[0]), DuplicationSession(cards[1])
            key1 = os.urandom(32)
            personalise(main_s, "1234", key1)
            personalise(backup_s, "5678", key1)
            if secured:
                for c in cards:
                    enrol_card(c, issuer)
                    TrustSession(c).open(station, key)
            results[f"duplication (two cards), {'secured' if secured else 'plain'}"] = measure(
                cards, lambda m=main_s, b=backup_s: duplicate(m, b, "1234", "5678"))
    finally:
        sim.stop()

    print(f"{'flow':48} {'APDUs':>6} {'bytes':>8} {'+B/APDU':>8} {'+cmd':>5} {'+rsp':>5} {'wall ms':>9} "
          f"{'card ms':>9} {'host ms':>9}")
    plain: dict | None = None
    for name, r in results.items():
        extra = cmd = rsp = ""
        if name.endswith("plain"):
            plain = r
        elif name.endswith("secured") and plain is not None:
            extra = f"{(r['bytes'] - plain['bytes']) / r['apdus']:.1f}"
            cmd = f"{(r['bytes_out'] - plain['bytes_out']) / r['apdus']:.1f}"
            rsp = f"{(r['bytes_in'] - plain['bytes_in']) / r['apdus']:.1f}"
        print(f"{name:48} {r['apdus']:6.0f} {r['bytes']:8.0f} {extra:>8} {cmd:>5} {rsp:>5} {r['wall_ms']:9.1f} "
              f"{r['card_ms']:9.1f} {r['host_ms']:9.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
