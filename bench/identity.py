#!/usr/bin/env python3
"""Benchmark: offline identity (docs/identity.md): verification, PIN registration and one charge, side by side
with an EMV-style baseline in the same run; the host's verification rate; the server's record verification.

    .venv/bin/python bench/identity.py [--rounds 20] [--n 2000] [--json FILE]

On the embedded simulator (production build). Per flow, medians of --rounds: APDU exchanges after SELECT,
bytes on the wire, wall, card (the simulator's round trips) and host time. The baseline is what an EMV
offline transaction does with the same card: read the static data (GET_IDENTITY), VERIFY the PIN in clear
(ISO 20), one card signature over the terminal's nonce (AUTHENTICATE_CARD P1=00). Then, with no card, on one
core: the terminal's offline checks of one card (SA1 and the card's signature over a nonce; --n times,
cards/s) and the server's check of one uploaded record (SA1, the record's signature and fields; records/s).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from cardsmith.core.card import Card  # noqa: E402
from cardsmith.core.crypto import ecdsa_verify_der, point_of  # noqa: E402
from cardsmith.identity import IdentitySession, Terminal, TerminalLog, issue_identity  # noqa: E402
from cardsmith.identity.formats import su_message  # noqa: E402
from cardsmith.identity.terminal_log import LoggedRecord  # noqa: E402
from cardsmith.identity.upload import as_upload  # noqa: E402
from cardsmith.protocol.codes import ID_PURPOSE_CARD, PIN_REFERENCE, Ins, Permission  # noqa: E402
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions  # noqa: E402
from cardsmith.trust import Issuer  # noqa: E402
from cardsmith_server.identity_records import check_identity_record  # noqa: E402

NT, NS, PIN = "12345678", "90817263", "4321"


def measure(card: Card, fn) -> dict:  # noqa: ANN001
    card.reset()  # SELECT; what follows is counted
    card.channel = None
    card.stats.reset()
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    s = card.stats
    return {"apdus": s.exchanges, "bytes": s.bytes_out + s.bytes_in, "wall_ms": wall * 1000,
            "card_ms": s.seconds * 1000, "host_ms": (wall - s.seconds) * 1000}


def median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--n", type=int, default=2000, help="host-only verifications to time")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    issuer = Issuer(ec.generate_private_key(ec.SECP256R1()))
    key = ec.generate_private_key(ec.SECP256R1())
    credential = issuer.certify(point_of(key.public_key()), "terminal", int(Permission.IDENTITY), days=30)
    sim = EphemeralSimulator(SimOptions(cards=1, build="prod"))
    results: dict[str, dict] = {}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        log = TerminalLog(Path(tmp) / "t.sqlite")
        term = Terminal(issuer.public_key, credential, key, log=log)
        try:
            control = sim.transport(0)
            control.replace_card(b"")
            card = Card(control)
            card.select()
            issue_identity(card, issuer, NT, NS, bytes.fromhex("1D0000000000C0DE"),
                           datetime.date.today() + datetime.timedelta(days=365))
            card.close_personalisation()
            flows = {
                "PIN registration (Nt, Ns, new PIN)": lambda: term.register_pin(card, [NT], NS, PIN, PIN),
                "offline verification (no PIN)": lambda: term.verify(card),
                "offline verification + PIN": lambda: term.verify(card, PIN),
                "charge, PIN in a session": lambda: term.charge(card, 100, PIN),
                "charge, PIN in clear": lambda: term.charge(card, 100, PIN, secure=False),
            }

            def emv_baseline() -> None:
                identity = IdentitySession(card).identity()
                assert identity.sa1_valid(issuer.public_key)
                card.call(Ins.VERIFY, p2=PIN_REFERENCE, data=PIN.encode(), expect_data=False, sensitive=True)
                r = os.urandom(16)
                x, sig = IdentitySession(card).authenticate(r)
                assert ecdsa_verify_der(identity.public_key, su_message(ID_PURPOSE_CARD, r, x, identity.nt,
                                                                             identity.idu), sig)

            flows["EMV-style baseline (read, VERIFY, 1 signature)"] = emv_baseline
            for name, fn in flows.items():
                results[name] = median([measure(card, fn) for _ in range(args.rounds)])
            identity = IdentitySession(card).identity()
            r = os.urandom(16)
            x, sig = IdentitySession(card).authenticate(r)
            logged: LoggedRecord = log.records()[-1]
        finally:
            sim.stop()

    start = time.perf_counter()
    for _ in range(args.n):
        assert identity.sa1_valid(issuer.public_key)
        assert ecdsa_verify_der(identity.public_key, su_message(ID_PURPOSE_CARD, r, x, identity.nt, identity.idu), sig)
    cards_per_s = args.n / (time.perf_counter() - start)
    upload = as_upload(logged)
    record = dict(upload, card_id=upload["card_id"].upper())
    start = time.perf_counter()
    for _ in range(args.n):
        check_identity_record(issuer.public_key, record)
    records_per_s = args.n / (time.perf_counter() - start)

    print(f"{'flow (after SELECT)':50} {'APDUs':>6} {'bytes':>7} {'wall ms':>9} {'card ms':>9} {'host ms':>9}")
    for name, res in results.items():
        print(f"{name:50} {res['apdus']:6.0f} {res['bytes']:7.0f} {res['wall_ms']:9.2f} {res['card_ms']:9.2f} "
              f"{res['host_ms']:9.2f}")
    print(f"host offline verification, one core: {cards_per_s:,.0f} cards/s (SA1 + the card's signature)")
    print(f"server record verification, one core: {records_per_s:,.0f} records/s (SA1 + record signature + fields)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"flows": results, "cards_per_s": cards_per_s,
                                         "records_per_s": records_per_s}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
