#!/usr/bin/env python3
"""Remote update through the whole chain against the same data written by a local issuer session, side by
side in one run; then server throughput with 20 clients at once.

    .venv/bin/python bench/update.py [--json FILE]

Per payload size (64 B, 1 KiB, 4 KiB): a fresh simulated card (production build, embedded transport, two
4 KiB update records), trust-enrolled, update keys certified, PIN set; one package signed and uploaded; then
`run_update` (issuer check, PIN, issuer server check, challenge, device authentication, delivery,
acknowledgement) against `cardsmith server run` on loopback (SQLite). Counted: APDU exchanges and bytes
both ways (Card.stats), HTTP requests and bytes both ways (httpx event hooks), wall time of the chain. The
baseline is the technician's way: a station session (OPEN_SESSION + AUTHENTICATE, permission write) on an
ISSUED card, then the same bytes written into a data-area region with WRITE_DATA under secure messaging.
Throughput: 20 cards with one 1 KiB package each, 20 client threads each running the chain on its own card
at once through one server process, on SQLite and (as root: Debian's PostgreSQL started as the tests do) on
PostgreSQL; updates per second over the wall time. Single runs: treat differences
under about 20 % as noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "host"), str(ROOT / "tests"), str(ROOT / "tests" / "server"),
                str(ROOT / "tests" / "update")]

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from server_helpers import ServerProcess, grant  # noqa: E402 - the tests' real parts
from update_helpers import PIN, install_params, issuer, package, ready  # noqa: E402

from cardsmith.core.card import Card  # noqa: E402
from cardsmith.core.crypto import point_of  # noqa: E402
from cardsmith.dataarea import DataAreaSession  # noqa: E402
from cardsmith.protocol.codes import Permission  # noqa: E402
from cardsmith.remote.client import ServerClient  # noqa: E402
from cardsmith.transport.simulator import EphemeralSimulator, SimOptions  # noqa: E402
from cardsmith.trust import TrustSession, enrol_card  # noqa: E402
from cardsmith.update.chain import run_update  # noqa: E402
from cli_helpers import base_env  # noqa: E402

SIZES = (64, 1024, 4096)
CLIENTS = 20


class Counted(ServerClient):
    """A ServerClient that counts its HTTP requests and the bytes of their bodies both ways."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(url, key)
        self.requests = self.sent = self.received = 0

        def on_request(request) -> None:  # noqa: ANN001
            self.requests += 1
            self.sent += len(request.content)

        def on_response(response) -> None:  # noqa: ANN001
            response.read()
            self.received += len(response.content)

        self._http.event_hooks = {"request": [on_request], "response": [on_response]}


def fresh(sim: EphemeralSimulator, slot: int, params: bytes = b"") -> Card:
    transport = sim.transport(slot)
    transport.replace_card(params)
    card = Card(transport)
    card.select()
    return card


def chain_run(sim: EphemeralSimulator, server: ServerProcess, keys: dict[str, str], size: int) -> dict:
    card = fresh(sim, 0, install_params(records=2, record_size=4096))
    cert = ready(card)
    with ServerClient(server.url, keys["station"]) as station:
        station.upload_update(package(cert, payload=os.urandom(size)).encode())
    card.reset()
    with Counted(server.url, keys["terminal"]) as terminal:
        card.stats.reset()
        start = time.perf_counter()
        result = run_update(card, terminal, issuer().public_key, PIN)
        wall = time.perf_counter() - start
        assert [c.result for c in result.changes] == ["applied"], result
        return {"flow": f"remote update, {size} B", "apdus": card.stats.exchanges,
                "apdu_bytes": card.stats.bytes_out + card.stats.bytes_in, "http_requests": terminal.requests,
                "http_bytes": terminal.sent + terminal.received, "wall_ms": round(wall * 1000, 1)}


def local_run(sim: EphemeralSimulator, size: int) -> dict:
    card = fresh(sim, 1)
    enrol_card(card, issuer())
    DataAreaSession(card).define_region(1, 0, 32)
    card.close_personalisation()
    key = ec.generate_private_key(ec.SECP256R1())
    credential = issuer().certify(point_of(key.public_key()), "station", int(Permission.WRITE), days=1)
    data = os.urandom(size)
    card.reset()
    card.stats.reset()
    start = time.perf_counter()
    TrustSession(card).open(credential, key)
    DataAreaSession(card).write(1, 0, data)
    wall = time.perf_counter() - start
    stats = (card.stats.exchanges, card.stats.bytes_out + card.stats.bytes_in)
    assert DataAreaSession(card).read(1, 0, size) == data
    card.channel = None
    return {"flow": f"local issuer session, {size} B", "apdus": stats[0], "apdu_bytes": stats[1],
            "http_requests": 0, "http_bytes": 0, "wall_ms": round(wall * 1000, 1)}


def throughput(sim: EphemeralSimulator, server: ServerProcess, keys: dict[str, str]) -> dict:
    cards = [fresh(sim, i, install_params(records=2, record_size=1024)) for i in range(CLIENTS)]
    certs = [ready(c) for c in cards]
    with ServerClient(server.url, keys["station"]) as station:
        for cert in certs:
            station.upload_update(package(cert, payload=os.urandom(1024)).encode())
    for c in cards:
        c.reset()
    results: list[object] = [None] * CLIENTS
    barrier = threading.Barrier(CLIENTS)

    def work(i: int) -> None:
        with ServerClient(server.url, keys["terminal"]) as t:
            barrier.wait()
            results[i] = run_update(cards[i], t, issuer().public_key, PIN)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    assert all([c.result for c in r.changes] == ["applied"] for r in results), results  # type: ignore[union-attr]
    return {"clients": CLIENTS, "updates": CLIENTS, "wall_s": round(wall, 2), "updates_per_s": round(CLIENTS / wall, 1)}


def start_server(env: dict[str, str], db: str) -> tuple[ServerProcess, dict[str, str]]:
    """A server process on ``db`` with keys and its update service set up, as an admin does it."""
    keys = {role: grant(env, db, "acme", role, f"bench-{role}") for role in ("admin", "station", "terminal")}
    server = ServerProcess(env, db).start()
    with ServerClient(server.url, keys["admin"]) as admin:
        point = bytes.fromhex(admin.update_service_key()["public_key"])
        admin.put_update_service(issuer().certify(point, "service", 0, days=30).certificate.encode(),
                                 issuer().public_key)
    return server, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL throughput run")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-update-"))
    env = base_env(home)
    sim = EphemeralSimulator(SimOptions(cards=CLIENTS))
    rows: list[dict] = []
    tps: dict[str, dict] = {}
    try:
        server, keys = start_server(env, f"sqlite:///{home / 'server.sqlite'}")
        try:
            for size in SIZES:
                rows.append(chain_run(sim, server, keys, size))
                rows.append(local_run(sim, size))
            tps["SQLite"] = throughput(sim, server, keys)
        finally:
            server.stop()
        if not args.no_postgres:
            from server_helpers import Postgres

            try:
                pg = Postgres()
            except Exception as exc:  # noqa: BLE001 - reported, the SQLite figures stand
                print(f"PostgreSQL unavailable ({exc}): its throughput is not measured", file=sys.stderr)
            else:
                try:
                    server, keys = start_server(env, pg.create_database("bench_update"))
                    try:
                        tps["PostgreSQL"] = throughput(sim, server, keys)
                    finally:
                        server.stop()
                finally:
                    pg.destroy()
    finally:
        sim.stop()
    print("| flow | APDUs | APDU bytes | HTTP requests | HTTP bytes | wall ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['flow']} | {r['apdus']} | {r['apdu_bytes']:,} | {r['http_requests']} | {r['http_bytes']:,} | "
              f"{r['wall_ms']} |")
    for db, tp in tps.items():
        print(f"\n{tp['clients']} clients at once, one 1 KiB update each, one server process ({db}): "
              f"{tp['wall_s']} s, {tp['updates_per_s']} updates/s")
    if args.json:
        args.json.write_text(json.dumps({"flows": rows, "throughput": tps}, indent=2))


if __name__ == "__main__":
    main()
