#!/usr/bin/env python3
"""Self-issuance versus conventional personalisation, side by side in one run.

    .venv/bin/python bench/issuance.py [--cards 20] [--profile P.toml] [--json]

For a batch of cards (fresh simulated cards, one after another in one reader) it personalises each from the
same profile and generated cardholder records, four ways: self-issuance (PUT_BUNDLE + START_BUNDLE of a
sealed bundle) and conventional (every inner command sent in clear), each with extended-length APDUs and with
short APDUs (card.extended = False: ISO chaining, 61xx). Counts come from Card.stats (exchanges, bytes on the
wire both ways); wall time is per card, from the first APDU to the last (SELECT and the fresh card excluded).
Every card is checked afterwards (lifecycle ISSUED, bundle DONE).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from cardsmith.core.card import Card  # noqa: E402
from cardsmith.issuance import IssuanceSession  # noqa: E402
from cardsmith.issuance.bundle import DEV_PERSO_KEY  # noqa: E402
from cardsmith.issuance.profile import Profile, build_plan, prepare_batch  # noqa: E402
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions  # noqa: E402

EXAMPLES = ROOT / "docs" / "examples" / "self-issuance"
MASTER = bytes(range(32))


def default_profile() -> Path:
    full = EXAMPLES / "staff-card.toml"
    if full.exists():
        return full
    return EXAMPLES / "core-demo.toml"


def records(n: int) -> list[dict[str, str]]:
    return [{"id": f"E{2000 + i}", "name": f"Holder Number {i:04d}", "employee": f"{2000 + i}",
             "department": "Field Operations", "expiry": "20301231", "balance": str(100 + i),
             "pin": f"{1000 + i}"} for i in range(n)]


def open_transport(sim: EphemeralSimulator, pcsc: bool):  # -> (transport, control)
    control = sim.transport(0)
    if not pcsc:
        return control, control
    from cardsmith.transport.pcsc import PcscTransport

    return PcscTransport("Virtual PCD 00 00"), control


def run(sim: EphemeralSimulator, profile: Profile, rows: list[dict[str, str]], method: str,
        extended: bool, pcsc: bool = False) -> dict:
    batch = prepare_batch(profile, rows, DEV_PERSO_KEY, master=MASTER, sequence=int(time.time()))
    plans = [build_plan(profile, r, MASTER) for r in rows]
    per_card = []
    transport, control = open_transport(sim, pcsc)
    try:
        for entry, plan in zip(batch["bundles"], plans, strict=True):
            control.replace_card(b"")
            card = Card(transport)
            card.select()
            card.extended = extended
            card.stats.reset()
            t0 = time.perf_counter()
            if method == "self-issuance":
                IssuanceSession(card).put_bundle(bytes.fromhex(entry["bundle"]))
                result = IssuanceSession(card).start()
                assert result.complete, result.describe()
            else:
                IssuanceSession(card).personalise_conventional(plan.commands)
            seconds = time.perf_counter() - t0
            ex, out, inn = card.stats.exchanges, card.stats.bytes_out, card.stats.bytes_in
            assert card.info().lifecycle_name == "ISSUED"
            if method == "self-issuance":
                assert IssuanceSession(card).status().name == "DONE"
            per_card.append((ex, out + inn, seconds))
    finally:
        transport.close()
        if control is not transport:
            control.close()
    exchanges = {p[0] for p in per_card}
    wire = [p[1] for p in per_card]
    secs = [p[2] for p in per_card]
    return {"method": method, "apdus": "extended" if extended else "short", "cards": len(per_card),
            "inner_commands": len(plans[0].commands),
            "exchanges_per_card": max(exchanges), "bytes_per_card": round(statistics.mean(wire)),
            "ms_per_card": round(1000 * statistics.mean(secs), 2),
            "ms_per_card_median": round(1000 * statistics.median(secs), 2),
            "cards_per_minute": round(60 / statistics.mean(secs), 1),
            "bundle_bytes": round(statistics.mean(len(b["bundle"]) // 2 for b in batch["bundles"]))
            if method == "self-issuance" else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cards", type=int, default=20)
    ap.add_argument("--profile", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--pcsc", action="store_true",
                    help="through pcscd + vpcd (the path of a physical reader; needs root or a running pcscd)")
    args = ap.parse_args()
    profile_path = args.profile or default_profile()
    profile = Profile.load(profile_path)
    rows = records(args.cards)
    rig = None
    if args.pcsc:
        sys.path.insert(0, str(ROOT / "tests"))  # tests/ is not a package: its helpers import by name
        from conftest import PcscRig  # pcscd (if none runs) + simulator on vpcd, under the PC/SC lock

        rig = PcscRig()
        rig.start()
        assert rig.sim is not None
        sim = rig.sim
    else:
        sim = EphemeralSimulator(SimOptions(cards=1))
    results = []
    try:
        # warm the JVM up once so the first measured card is not paying for class loading
        run(sim, profile, rows[:2], "self-issuance", True, args.pcsc)
        run(sim, profile, rows[:2], "conventional", True, args.pcsc)
        for extended in (True, False):
            for method in ("self-issuance", "conventional"):
                results.append(run(sim, profile, rows, method, extended, args.pcsc))
    finally:
        if rig:
            rig.stop()
        else:
            sim.stop()
    if args.json:
        print(json.dumps({"profile": str(profile_path.relative_to(ROOT)), "pcsc": args.pcsc, "results": results},
                         indent=2))
        return
    where = "jCardSim behind pcscd + vpcd (PC/SC)" if args.pcsc else "embedded jCardSim"
    print(f"profile {profile_path.relative_to(ROOT)}: {results[0]['inner_commands']} inner commands per card, "
          f"{args.cards} cards per run, {where}")
    print(f"{'APDUs':<9} {'method':<14} {'exchanges':>9} {'bytes':>7} {'ms/card':>8} {'cards/min':>10}")
    for r in results:
        print(f"{r['apdus']:<9} {r['method']:<14} {r['exchanges_per_card']:>9} {r['bytes_per_card']:>7} "
              f"{r['ms_per_card']:>8} {r['cards_per_minute']:>10}")


if __name__ == "__main__":
    main()
