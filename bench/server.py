#!/usr/bin/env python3
"""The issuer server under load: usage-record upload and catalogue listing, SQLite against PostgreSQL, 1 and 4
server processes, side by side in one run.

    .venv/bin/python bench/server.py [--threads 8] [--requests 100] [--batch 10] [--entries 200] [--json]

Each configuration gets a fresh database (a SQLite file; a fresh database on a PostgreSQL of its own, Debian's,
started here as in the tests: needs root), keys granted through the CLI, and `cardsmith server run --workers N`
as a real process on a loopback port. The load generator is bounded: ``--threads`` threads, each with its own
httpx client (keep-alive), each sending ``--requests`` requests one after another, after 5 warm-up requests
each. Usage upload: POST /v1/usage with ``--batch`` new records per request (every record a new (card,
counter)). Catalogue listing: GET /v1/backups?limit=100 over ``--entries`` catalogue rows written straight
into the database beforehand (the listing reads rows; it never opens a file). Requests per second is all
requests over the wall time of the whole phase; p50/p99 are per request, as the client saw them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "host"), str(ROOT / "tests"), str(ROOT / "tests" / "server")]

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from server_helpers import Postgres, ServerProcess, grant  # noqa: E402 - the tests' real parts

from cardsmith_server.db import backups, make_engine, migrate  # noqa: E402
from cli_helpers import base_env  # noqa: E402 - the tests' environment for a CLI run

WARMUP = 5


def seed_catalogue(db_url: str, issuer: str, n: int) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    rows = [{"issuer": issuer, "digest": f"{i:064x}", "card_id": f"{i // 10:016X}", "seq": i % 10,
             "type": "full" if i % 10 == 0 else "diff", "key_version": 1, "prev_hash": f"{i:064x}",
             "chain_hash": f"{i + 1:064x}", "pages": 16, "records": 4, "size": 4096,
             "created": "2026-01-01T00:00:00Z", "uploaded_by": "bench", "data": b"\0"} for i in range(n)]
    with engine.begin() as conn:
        conn.execute(sa.insert(backups), rows)
    engine.dispose()


def load(url: str, key: str, threads: int, requests: int, make_request) -> dict:  # noqa: ANN001
    """``threads`` clients, ``requests`` each (after the warm-up); ``make_request(http, thread, i)`` sends one
    and returns the response. Every answer must be 200."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    ready = threading.Barrier(threads)
    spans: list[tuple[float, float]] = []

    def worker(t: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            for i in range(WARMUP):
                make_request(http, t, -1 - i)
            ready.wait()
            began = time.perf_counter()
            for i in range(requests):
                start = time.perf_counter()
                answer = make_request(http, t, i)
                latencies[t].append(time.perf_counter() - start)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code} {answer.text[:200]}")
            spans.append((began, time.perf_counter()))

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    wall = max(end for _, end in spans) - min(began for began, _ in spans)
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    flat = sorted(x for per in latencies for x in per)
    q = statistics.quantiles(flat, n=100, method="inclusive")
    return {"requests": len(flat), "rps": len(flat) / wall, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


def run_config(db: str, workers: int, db_url: str, args: argparse.Namespace, home: Path) -> dict:
    env = base_env(home)
    terminal = grant(env, db_url, "bench", "terminal", "bench terminal")
    station = grant(env, db_url, "bench", "station", "bench station")
    seed_catalogue(db_url, "bench", args.entries)
    server = ServerProcess(env, db_url, workers=workers).start()
    try:
        def upload(http: httpx.Client, t: int, i: int) -> httpx.Response:
            card = f"{(workers << 40) | (t + 1) << 20:016X}"
            base = (i + WARMUP) * args.batch
            return http.post("/v1/usage", json={"records": [
                {"card_id": card, "counter": base + k, "time": "2026-01-02T03:04:05+00:00", "event": "entry",
                 "data": {"gate": t}} for k in range(args.batch)]})

        def listing(http: httpx.Client, _t: int, i: int) -> httpx.Response:
            return http.get("/v1/backups", params={"limit": 100, "after": (i * 37) % max(args.entries - 100, 1)})

        out = {"db": db, "workers": workers,
               "usage upload": load(server.url, terminal, args.threads, args.requests, upload),
               "catalogue listing": load(server.url, station, args.threads, args.requests, listing)}
    finally:
        server.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100, help="requests per thread and phase")
    parser.add_argument("--batch", type=int, default=10, help="usage records per upload")
    parser.add_argument("--entries", type=int, default=200, help="catalogue rows seeded for the listing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="cardsmith-bench-server-"))
    pg = Postgres()
    results = []
    try:
        for db in ("sqlite", "postgresql"):
            for workers in (1, 4):
                name = f"{db}-{workers}"
                url = (f"sqlite:///{root / name}.sqlite" if db == "sqlite"
                       else pg.create_database(f"bench_{workers}_{os.getpid()}"))
                (root / name).mkdir()
                results.append(run_config(db, workers, url, args, root / name))
                print(f"  done: {db}, {workers} process(es)", file=sys.stderr)
    finally:
        pg.destroy()

    if args.json:
        print(json.dumps({"args": vars(args), "cpus": os.cpu_count(), "results": results}, indent=2))
        return 0
    print(f"{args.threads} client threads x {args.requests} requests per phase, {args.batch} records per upload, "
          f"{args.entries} catalogue rows, {os.cpu_count()} CPUs, client and server on one machine")
    print(f"{'database':<11} {'procs':>5} | {'upload req/s':>12} {'rec/s':>7} {'p50 ms':>7} {'p99 ms':>7} | "
          f"{'list req/s':>10} {'p50 ms':>7} {'p99 ms':>7}")
    for r in results:
        u, c = r["usage upload"], r["catalogue listing"]
        print(f"{r['db']:<11} {r['workers']:>5} | {u['rps']:>12.0f} {u['rps'] * args.batch:>7.0f} "
              f"{u['p50_ms']:>7.1f} {u['p99_ms']:>7.1f} | {c['rps']:>10.0f} {c['p50_ms']:>7.1f} {c['p99_ms']:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
