"""The service itself, through a real server process and real HTTP: health, readiness, the request log, the
OpenAPI description kept in the repository, keys and roles, issuer scope, oversized bodies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import client

from cardsmith_server.db import head_revision

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))


def test_health_and_readiness_answer_without_a_key(deployment) -> None:
    assert httpx.get(f"{deployment.server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{deployment.server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["schema_revision"] == head_revision()
    assert ready["database"] == deployment.db_url.split(":")[0]


def test_the_openapi_description_in_the_repository_is_the_served_one(deployment) -> None:
    import gen_openapi

    kept = (ROOT / "docs" / "openapi.json").read_text()
    assert kept == gen_openapi.render(), "docs/openapi.json is stale: run python tools/gen_openapi.py"
    assert httpx.get(f"{deployment.server.url}/openapi.json").json() == json.loads(kept)


def test_every_request_is_one_json_log_line_without_the_key(deployment) -> None:
    with client(deployment.server, deployment.station) as http:
        assert http.get("/v1/whoami").status_code == 200
        assert http.get("/v1/batches/999999").status_code == 404
    lines = [json.loads(line) for line in deployment.server.log_lines(until="/v1/batches/999999")
             if line.startswith("{")]
    mine = [entry for entry in lines if entry["path"] in ("/v1/whoami", "/v1/batches/999999")]
    assert [(e["method"], e["status"]) for e in mine[-2:]] == [("GET", 200), ("GET", 404)]
    key_id = deployment.station.split("_")[1]
    assert mine[-1]["key"] == key_id and {"ts", "ms", "in"} <= set(mine[-1])
    secret = deployment.station.split("_")[2]
    assert secret not in deployment.server.log_path.read_text()


def test_no_key_a_wrong_key_and_a_revoked_key_are_refused(deployment) -> None:
    with client(deployment.server, None) as http:
        refused = http.get("/v1/backups")
        assert refused.status_code == 401 and "Authorization: Bearer" in refused.json()["detail"]
    key_id = deployment.station.split("_")[1]
    forged = f"csk_{key_id}_{'0' * 64}"
    with client(deployment.server, forged) as http:
        assert http.get("/v1/backups").status_code == 401
    with client(deployment.server, deployment.admin) as admin:
        made = admin.post("/v1/keys", json={"role": "station", "name": "temporary desk"})
        assert made.status_code == 201 and made.json()["key"].startswith("csk_")
        new_key, new_id = made.json()["key"], made.json()["key_id"]
        with client(deployment.server, new_key) as http:
            assert http.get("/v1/whoami").json()["issuer"] == "acme"
            assert admin.delete(f"/v1/keys/{new_id}").status_code == 204
            assert http.get("/v1/whoami").status_code == 401
        listed = {k["key_id"]: k for k in admin.get("/v1/keys").json()}
        assert listed[new_id]["revoked"] is True and listed[new_id]["key"] is None
        own = deployment.admin.split("_")[1]
        itself = admin.delete(f"/v1/keys/{own}")  # that would lock the operator out
        assert itself.status_code == 409 and "another admin key" in itself.json()["detail"]
        assert admin.get("/v1/whoami").status_code == 200


def test_roles_limit_what_a_key_may_do(deployment) -> None:
    with client(deployment.server, deployment.terminal) as terminal:
        assert terminal.get("/v1/whoami").json()["role"] == "terminal"
        assert terminal.get("/v1/backups").status_code == 403
        assert terminal.put("/v1/backups/" + "0" * 64, content=b"x").status_code == 403
    with client(deployment.server, deployment.station) as station:
        denied = station.post("/v1/keys", json={"role": "admin", "name": "me, promoted"})
        assert denied.status_code == 403 and "admin" in denied.json()["detail"]


def test_a_station_never_sees_another_issuers_data(deployment) -> None:
    batch = {"format": "t", "profile": "scope", "sequence": 1, "bundles": [{"record_id": "r1", "bundle": "00"}]}
    with client(deployment.server, deployment.station) as acme:
        batch_id = acme.post("/v1/batches", json=batch).json()["batch_id"]
    with client(deployment.server, deployment.other_station) as globex:
        assert globex.get(f"/v1/batches/{batch_id}").status_code == 404
        assert globex.post(f"/v1/batches/{batch_id}/reservations", json={}).status_code == 404
        assert all(b["profile"] != "scope" for b in globex.get("/v1/batches").json())
    with client(deployment.server, deployment.station) as acme:
        assert acme.get(f"/v1/batches/{batch_id}").json()["counts"] == {"free": 1, "reserved": 0, "issued": 0}


def test_an_oversized_body_is_refused_before_it_is_read(deployment) -> None:
    with client(deployment.server, deployment.station) as http:
        refused = http.put("/v1/backups/" + "0" * 64, content=b"\0" * (4 * 1024 * 1024 + 1))
        assert refused.status_code == 413 and "larger than" in refused.json()["detail"]
        assert http.get("/v1/backups").json() == []
