"""Benchmark: full versus differential backup, data areas of 4, 16 and 32 KiB, 1 / 5 / 50 % of pages changed.

For each area and change rate, on a fresh simulated card (prod build) in one simulator: personalise, fill
every page, take a full backup, change the pages, then measure side by side a differential backup and a
full backup of the same state. Reported: APDU exchanges (Card.stats), bytes on the wire (both directions),
wall time (whole host flow: card, file write, catalogue commit), and wire efficiency = card data bytes
(pages carried x page size) / bytes on the wire. Short APDUs by default (61xx + GET RESPONSE), as the issue
asks; --extended lets the transport use extended length.

Then the data area filled whole (the host splits WRITE_DATA by GET INFO's largest write): on the prod build,
whose jCardSim reports a 32767-byte commit buffer (largest write 1008), against the test build's 512-byte
buffer (largest write 384), what a card with the smallest buffer the applet supports does.

    .venv/bin/python bench/backup.py [--extended] [--page-size 128]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from cardsmith.backup import BackupSession
from cardsmith.backup.catalogue import SqliteCatalogue
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions, install_params

AREAS_KIB = (4, 16, 32)
CHANGED_PCT = (1, 5, 50)
KEY = bytes(range(16))


def personalise(card: Card, page_size: int, pages: int) -> None:
    per_region = 32767 // page_size
    first, rid = 0, 1
    while first < pages:
        n = min(per_region, pages - first)
        DataAreaSession(card).define_region(rid, first, n)
        first += n
        rid += 1
    BackupSession(card).load_common_key(1, KEY)


def write_page(card: Card, page_size: int, page: int, payload: bytes) -> None:
    per_region = 32767 // page_size
    DataAreaSession(card).write(1 + page // per_region, (page % per_region) * page_size, payload)


def measure(card: Card, catalogue: SqliteCatalogue, folder: Path, kind: str, page_size: int) -> dict:
    card.stats.reset()
    start = time.perf_counter()
    entry = BackupSession(card).backup(catalogue, folder, kind)
    wall = time.perf_counter() - start
    wire = card.stats.bytes_out + card.stats.bytes_in
    payload = entry.pages * page_size
    return {"apdus": card.stats.exchanges, "wire": wire, "ms": wall * 1000, "pages": entry.pages,
            "eff": payload / wire, "file": entry.size}


def fill(build: str, extended: bool, page_size: int, rng: random.Random) -> list[tuple]:
    """(area KiB, largest write, WRITE_DATA exchanges, wire bytes, ms) for filling each area whole."""
    sim = EphemeralSimulator(SimOptions(cards=1, build=build))
    rows = []
    try:
        for kib in AREAS_KIB:
            pages = kib * 1024 // page_size
            transport = sim.transport(0)
            transport.replace_card(install_params(page_size=page_size, page_count=pages))
            card = Card(transport)
            card.select()
            card.extended = extended
            personalise(card, page_size, pages)
            per_region = 32767 // page_size
            card.stats.reset()
            start = time.perf_counter()
            for first in range(0, pages, per_region):
                n = min(per_region, pages - first)
                DataAreaSession(card).write(1 + first // per_region, 0, rng.randbytes(n * page_size))
            wall = time.perf_counter() - start
            rows.append((kib, card.info().max_write, card.stats.exchanges, card.stats.bytes_out + card.stats.bytes_in,
                         wall * 1000))
            card.close()
    finally:
        sim.stop()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extended", action="store_true", help="allow extended-length APDUs")
    ap.add_argument("--page-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sim = EphemeralSimulator(SimOptions(cards=1, build="prod"))
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("CARDSMITH_HOME", tmp)
            for kib in AREAS_KIB:
                pages = kib * 1024 // args.page_size
                for pct in CHANGED_PCT:
                    transport = sim.transport(0)
                    transport.replace_card(install_params(page_size=args.page_size, page_count=pages))
                    card = Card(transport)
                    card.select()
                    card.extended = args.extended
                    personalise(card, args.page_size, pages)
                    for p in range(pages):
                        write_page(card, args.page_size, p, rng.randbytes(args.page_size))
                    folder = Path(tmp) / f"{kib}-{pct}"
                    catalogue = SqliteCatalogue(folder / "catalogue.sqlite")
                    BackupSession(card).backup(catalogue, folder, "full")
                    k = max(1, round(pages * pct / 100))
                    for p in sorted(rng.sample(range(pages), k)):
                        write_page(card, args.page_size, p, rng.randbytes(args.page_size))
                    diff = measure(card, catalogue, folder, "diff", args.page_size)
                    full = measure(card, catalogue, folder, "full", args.page_size)
                    rows.append((kib, pages, pct, k, diff, full))
                    catalogue.close()
                    card.close()
    finally:
        sim.stop()
    mode = "extended length allowed" if args.extended else "short APDUs (61xx + GET RESPONSE)"
    print(f"page size {args.page_size} bytes, {mode}")
    print("| area | pages | changed | diff APDUs | diff wire B | diff ms | diff eff | full APDUs | full wire B "
          "| full ms | full eff | diff/full wire |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kib, pages, pct, k, d, f in rows:
        print(f"| {kib} KiB | {pages} | {pct}% ({k}) | {d['apdus']} | {d['wire']} | {d['ms']:.1f} | {d['eff']:.1%} "
              f"| {f['apdus']} | {f['wire']} | {f['ms']:.1f} | {f['eff']:.1%} | {d['wire'] / f['wire']:.1%} |")
    big = fill("prod", args.extended, args.page_size, rng)
    small = fill("test", args.extended, args.page_size, rng)
    print()
    print("filling the area whole (WRITE_DATA split by the largest write GET INFO reports)")
    print("| area | largest write (prod, jCardSim) | APDUs | wire B | ms | largest write (512-byte buffer) | APDUs "
          "| wire B | ms | APDUs 512 / prod |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (kib, w1, n1, b1, t1), (_, w2, n2, b2, t2) in zip(big, small, strict=True):
        print(f"| {kib} KiB | {w1} | {n1} | {b1} | {t1:.1f} | {w2} | {n2} | {b2} | {t2:.1f} | {n2 / n1:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
