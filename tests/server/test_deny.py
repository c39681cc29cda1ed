"""The deny list through HTTP: admins write card numbers and certificate serials, terminals download the whole
list or the changes after the version they hold, with the version as ETag (304 while nothing changed)."""

from __future__ import annotations

import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import client

from cardsmith.remote.client import ServerClient

LOST = "00000000000000D1"


def test_admin_writes_terminals_download_changes_and_304_when_current(deployment) -> None:
    with client(deployment.server, deployment.admin) as admin, client(deployment.server, deployment.terminal) as term:
        empty = term.get("/v1/deny")
        assert empty.status_code == 200 and empty.headers["etag"] == '"0"'
        assert empty.json() == {"version": 0, "since": None, "full": True, "entries": [], "removed": []}
        assert term.get("/v1/deny", headers={"If-None-Match": '"0"'}).status_code == 304

        made = admin.put(f"/v1/deny/card/{LOST.lower()}", json={"reason": "reported lost"})
        assert made.status_code == 201 and made.json()["value"] == LOST and made.json()["version"] == 1
        assert admin.put(f"/v1/deny/card/{LOST}", json={"reason": "reported lost"}).status_code == 200  # no change
        assert admin.put("/v1/deny/cert/0a1b2c", json={"reason": "key compromised"}).json()["version"] == 2
        assert admin.put(f"/v1/deny/card/{LOST}", json={"reason": "stolen"}).json()["version"] == 3

        stale = term.get("/v1/deny", headers={"If-None-Match": '"0"'})
        assert stale.status_code == 200 and stale.headers["etag"] == '"3"'
        assert [(e["kind"], e["value"], e["reason"]) for e in stale.json()["entries"]] == [
            ("cert", "0A1B2C", "key compromised"), ("card", LOST, "stolen")]

        assert admin.delete("/v1/deny/cert/0A1B2C").json()["active"] is False
        assert admin.delete("/v1/deny/cert/0A1B2C").status_code == 404  # not on it any more
        changes = term.get("/v1/deny", params={"since": 3}).json()
        assert (changes["version"], changes["since"], changes["full"]) == (4, 3, False)
        assert changes["entries"] == [] and [e["value"] for e in changes["removed"]] == ["0A1B2C"]
        assert [e["value"] for e in term.get("/v1/deny", params={"since": 2}).json()["entries"]] == [LOST]
        assert term.get("/v1/deny", params={"since": 4}).json()["entries"] == []
        unknown = term.get("/v1/deny", params={"since": 99}).json()  # a version this server never gave
        assert unknown["full"] is True and [e["value"] for e in unknown["entries"]] == [LOST]

        readded = admin.put("/v1/deny/cert/0A1B2C", json={"reason": "still compromised"}).json()
        assert readded["active"] is True and readded["version"] == 5


def test_the_station_client_downloads_only_changes(deployment) -> None:
    with ServerClient(deployment.server.url, deployment.terminal) as terminal:
        whole, etag = terminal.deny_list()
        again, same = terminal.deny_list(etag=etag)
        assert again is None and same == etag
        with client(deployment.server, deployment.admin) as admin:
            assert admin.put("/v1/deny/card/00000000000000D2", json={"reason": "lost"}).status_code == 201
        changes, newer = terminal.deny_list(since=whole["version"], etag=etag)
    assert newer != etag and [e["value"] for e in changes["entries"]] == ["00000000000000D2"]


@pytest.mark.parametrize("method,path,body,status", [
    ("PUT", "/v1/deny/card/00D1", {"reason": "short"}, 422),
    ("PUT", "/v1/deny/card/" + "0" * 17, {"reason": "long"}, 422),
    ("PUT", "/v1/deny/cert/" + "A" * 41, {"reason": "long"}, 422),
    ("PUT", "/v1/deny/person/0A", {"reason": "what"}, 422),
    ("PUT", "/v1/deny/cert/zz", {"reason": "not hex"}, 422),
    ("PUT", "/v1/deny/cert/0A", {"reason": ""}, 422),
    ("PUT", "/v1/deny/cert/0A", {}, 422),
    ("DELETE", "/v1/deny/card/00000000000000EE", None, 404),
])
def test_bad_deny_list_writes_are_refused_and_change_nothing(deployment, method: str, path: str, body: dict | None,
                                                             status: int) -> None:
    with client(deployment.server, deployment.admin) as admin:
        before = admin.get("/v1/deny").json()["version"]
        answer = admin.request(method, path, json=body)
        assert answer.status_code == status and "detail" in answer.json()
        assert admin.get("/v1/deny").json()["version"] == before


def test_only_admins_write_and_each_issuer_has_its_own_list(deployment) -> None:
    with client(deployment.server, deployment.terminal) as term, client(deployment.server, deployment.station) as st:
        assert term.put("/v1/deny/card/00000000000000D3", json={"reason": "x"}).status_code == 403
        assert st.delete(f"/v1/deny/card/{LOST}").status_code == 403
        assert st.get("/v1/deny").status_code == 200
    with client(deployment.server, deployment.other_station) as other:
        assert other.get("/v1/deny").json()["entries"] == []
    with client(deployment.server, None) as anonymous:
        assert anonymous.get("/v1/deny").status_code == 401
