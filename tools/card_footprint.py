#!/usr/bin/env python3
"""Memory the applet allocates at install, for the default and the largest install parameters.

    python tools/card_footprint.py            # markdown table (docs/card-requirements.md)
    python tools/card_footprint.py --json     # the raw measurements

Measured by cardsmith.sim.Footprint (applet/sim): it installs the production applet in jCardSim and walks
the applet's object graph, adding up every array by memory kind (persistent, CLEAR_ON_DESELECT,
CLEAR_ON_RESET), and every key object's payload by the memory its KeyBuilder type names. jCardSim
answers 32767 to every getAvailableMemory call, so GET INFO's free-memory
fields cannot measure this in the simulator; on a real card, GET INFO before and after install can.
Needs `ant compile` (build/cardsmith-sim.jar).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))


from cardsmith.protocol.codes import DEFAULT_PAGE_COUNT, DEFAULT_PAGE_SIZE, MAX_PAGE_COUNT  # noqa: E402
from cardsmith.transport.simulator import classpath, install_params, java  # noqa: E402

# The largest install: the biggest page size and the most pages the applet accepts (DataArea).
LARGEST_PAGE_SIZE = 256
INSTALLS: dict[str, bytes] = {
    "default": b"",
    "largest": install_params(page_size=LARGEST_PAGE_SIZE, page_count=MAX_PAGE_COUNT),
}


def measure(installs: dict[str, bytes] | None = None) -> dict[str, dict]:
    """One JVM, one measurement per install: name -> Footprint's JSON object."""
    installs = INSTALLS if installs is None else installs
    args = [p.hex().upper() or "-" for p in installs.values()]
    proc = subprocess.run(
        [java(), "-cp", classpath("prod"), "cardsmith.sim.Footprint", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cardsmith.sim.Footprint failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if len(lines) != len(installs):
        raise RuntimeError(f"expected {len(installs)} measurements, got:\n{proc.stdout}")
    return {name: json.loads(line) for name, line in zip(installs, lines, strict=True)}


def _geometry(params: str) -> str:
    size, count = DEFAULT_PAGE_SIZE, DEFAULT_PAGE_COUNT
    raw = bytes.fromhex(params)
    i = 0
    while i + 2 <= len(raw):
        tag, length = raw[i], raw[i + 1]
        value = int.from_bytes(raw[i + 2 : i + 2 + length], "big")
        if tag == 1:
            size = value
        elif tag == 2:
            count = value
        i += 2 + length
    return f"{count} pages x {size} bytes"


def markdown(results: dict[str, dict]) -> str:
    rows = [
        "| install | parameters | persistent arrays | CLEAR_ON_DESELECT | CLEAR_ON_RESET | key objects: "
        "persistent / CLEAR_ON_DESELECT | applet objects (fields) | static arrays (CAP) | platform objects |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        platform = ", ".join(f"{k.rsplit('.', 1)[-1]} x{v}" for k, v in r["platform_objects"].items())
        rows.append(
            f"| {name} | `{r['install_params'] or '(none)'}` ({_geometry(r['install_params'])}) "
            f"| {r['persistent_array_bytes']} | {r['transient_deselect_bytes']} | {r['transient_reset_bytes']} "
            f"| {r['key_bytes']['persistent']} / {r['key_bytes']['deselect']} "
            f"| {r['applet_objects']} ({r['applet_object_fields']}) | {r['static_array_bytes']} | {platform} |"
        )
    rows.append("")
    rows.append("Arrays of the default install:")
    rows.append("")
    rows.append("| field | type | bytes | memory |")
    rows.append("| --- | --- | --- | --- |")
    for a in results[next(iter(results))]["arrays"]:
        rows.append(f"| `{a['path']}` | `{a['type']}` | {a['bytes']} | {a['memory']} |")
    rows += ["", "Key objects of the default install (payload: the key value, and for EC keys the domain parameters):",
             "", "| key | KeyBuilder type | bits | bytes | memory |", "| --- | --- | --- | --- | --- |"]
    for k in results[next(iter(results))]["keys"]:
        rows.append(f"| `{k['path']}` | `{k['type']}` | {k['bits']} | {k['bytes']} | {k['memory']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the raw measurements")
    args = parser.parse_args(argv)
    results = measure()
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
