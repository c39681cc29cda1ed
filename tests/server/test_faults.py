"""Faults with real processes: the database going away (503, then service again with nothing lost) and the
server killed with SIGKILL and restarted (a station resumes its reservation; a retried report is not doubled)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_fixtures import postgres  # noqa: F401 - fixtures
from server_helpers import Postgres, ServerProcess, client, grant

from cli_helpers import base_env


@pytest.fixture(scope="module")
def own_postgres(postgres: Postgres) -> Iterator[Postgres]:
    """A PostgreSQL of this module alone, so stopping it disturbs no other test."""
    pg = Postgres()
    yield pg
    pg.destroy()


def _batch(profile: str) -> dict:
    return {"format": "t", "profile": profile, "sequence": 1,
            "bundles": [{"record_id": f"F{i}", "bundle": "00"} for i in range(3)]}


def test_database_unreachable_is_a_clear_503_and_nothing_is_lost(own_postgres: Postgres, tmp_path) -> None:
    env = base_env(tmp_path)
    url = own_postgres.create_database("faults")
    key = grant(env, url, "acme", "station", "desk")
    server = ServerProcess(env, url).start()
    try:
        with client(server, key) as http:
            batch_id = http.post("/v1/batches", json=_batch("before")).json()["batch_id"]
            own_postgres.stop()
            try:
                down = http.get(f"/v1/batches/{batch_id}")
                assert down.status_code == 503 and down.headers["retry-after"] == "5"
                assert "database is unavailable" in down.json()["detail"]
                assert httpx.get(f"{server.url}/readyz").status_code == 503
                assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive, not ready
            finally:
                own_postgres.start()
            assert http.get(f"/v1/batches/{batch_id}").json()["counts"]["free"] == 3
            assert httpx.get(f"{server.url}/readyz").status_code == 200
    finally:
        server.stop()


def test_server_killed_and_restarted_loses_no_reservation(own_postgres: Postgres, tmp_path) -> None:
    env = base_env(tmp_path)
    url = own_postgres.create_database("killed")
    key = grant(env, url, "acme", "station", "desk")
    server = ServerProcess(env, url).start()
    try:
        with client(server, key) as http:
            batch_id = http.post("/v1/batches", json=_batch("killed")).json()["batch_id"]
            held = http.post(f"/v1/batches/{batch_id}/reservations", json={}).json()
            report = {"card_id": "00000000000000AA", "result": "issued"}
            assert http.post(f"/v1/reservations/{held['reservation']}", json=report).status_code == 200
        server.kill()
        with pytest.raises(httpx.TransportError), client(server, key) as http:
            http.get("/v1/whoami")
        server.start()
        with client(server, key) as http:
            # the station never saw the answer and sends the report again: it is not counted twice
            assert http.post(f"/v1/reservations/{held['reservation']}", json=report).json()["repeated"] is True
            nxt = http.post(f"/v1/batches/{batch_id}/reservations", json={}).json()
            server.kill()
            server.start()
            assert http.post(f"/v1/batches/{batch_id}/reservations", json={}).json() == nxt  # resumed, not skipped
            assert http.get(f"/v1/batches/{batch_id}").json()["counts"] == {"free": 1, "reserved": 1, "issued": 1}
    finally:
        server.stop()
