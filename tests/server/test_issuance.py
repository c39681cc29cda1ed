"""Issuance through HTTP: batches, one reservation per record, reports, the log; and 8 stations at once on one
400-record batch through two server processes sharing the database: every record issued exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import ServerProcess, client


def _batch(profile: str, n: int, sequence: int = 1) -> dict:
    return {"format": "cardsmith-batch-1", "profile": profile, "sequence": sequence, "steps": ["write"],
            "progress": {"default": "reject", "rules": []},
            "bundles": [{"record_id": f"R{i:04d}", "card_id": None, "bundle": f"{i:04x}"} for i in range(n)]}


def _card(n: int) -> str:
    return f"{n:016X}"


def test_a_batch_is_stored_once_and_a_different_one_under_its_name_is_refused(deployment) -> None:
    with client(deployment.server, deployment.station) as http:
        made = http.post("/v1/batches", json=_batch("stored-once", 3))
        assert made.status_code == 201 and made.json()["counts"] == {"free": 3, "reserved": 0, "issued": 0}
        again = http.post("/v1/batches", json=_batch("stored-once", 3))
        assert again.status_code == 200 and again.json()["batch_id"] == made.json()["batch_id"]
        clash = http.post("/v1/batches", json=_batch("stored-once", 4))
        assert clash.status_code == 409 and "new sequence" in clash.json()["detail"]
        twice = _batch("dup-ids", 2)
        twice["bundles"][1]["record_id"] = "R0000"
        assert http.post("/v1/batches", json=twice).status_code == 422
        assert http.get(f"/v1/batches/{made.json()['batch_id']}").json()["records"] == 3


def test_reserve_report_resume_and_the_log(deployment) -> None:
    with client(deployment.server, deployment.station) as desk, \
            client(deployment.server, deployment.station2) as other:
        batch_id = desk.post("/v1/batches", json=_batch("flow", 3)).json()["batch_id"]
        first = desk.post(f"/v1/batches/{batch_id}/reservations", json={}).json()
        assert first["record_id"] == "R0000" and first["entry"]["bundle"] == "0000"
        # the desk crashed and asks again: it gets its own open reservation back, not a new record
        assert desk.post(f"/v1/batches/{batch_id}/reservations", json={}).json() == first
        assert other.post(f"/v1/batches/{batch_id}/reservations", json={}).json()["record_id"] == "R0001"
        taken = other.post(f"/v1/batches/{batch_id}/reservations", json={"record_id": "R0000"})
        assert taken.status_code == 409 and "reserved by another station" in taken.json()["detail"]
        foreign = other.post(f"/v1/reservations/{first['reservation']}", json={"card_id": _card(9), "result": "issued"})
        assert foreign.status_code == 409

        r = first["reservation"]
        assert desk.post(f"/v1/reservations/{r}", json={"card_id": _card(1), "result": "interrupted"}).json()["state"] \
            == "reserved"
        done = desk.post(f"/v1/reservations/{r}", json={"card_id": _card(1), "result": "issued"})
        assert done.json() == {"reservation": r, "record_id": "R0000", "state": "issued", "repeated": False}
        repeat = desk.post(f"/v1/reservations/{r}", json={"card_id": _card(1), "result": "issued"})
        assert repeat.json()["repeated"] is True  # a retried report (answer lost) changes nothing
        other_card = desk.post(f"/v1/reservations/{r}", json={"card_id": _card(2), "result": "issued"})
        assert other_card.status_code == 409 and "already" in other_card.json()["detail"]
        again = desk.post(f"/v1/batches/{batch_id}/reservations", json={"record_id": "R0000"})
        assert again.status_code == 409 and "never issued twice" in again.json()["detail"]

        third = desk.post(f"/v1/batches/{batch_id}/reservations", json={}).json()
        assert third["record_id"] == "R0002"
        same_card = desk.post(f"/v1/reservations/{third['reservation']}",
                              json={"card_id": _card(1), "result": "issued"})
        assert same_card.status_code == 409 and "already holds record" in same_card.json()["detail"]
        rejected = desk.post(f"/v1/reservations/{third['reservation']}", json={"card_id": _card(3),
                                                                                "result": "rejected"})
        assert rejected.json()["state"] == "free"
        assert desk.post(f"/v1/reservations/{third['reservation']}",
                         json={"card_id": _card(3), "result": "rejected"}).json()["repeated"] is True
        assert desk.post(f"/v1/batches/{batch_id}/reservations", json={}).json()["record_id"] == "R0002"

        log = desk.get(f"/v1/batches/{batch_id}/log").json()
        assert [(e["record_id"], e["result"]) for e in log] == [("R0000", "interrupted"), ("R0000", "issued"),
                                                                 ("R0002", "rejected")]
        assert desk.get(f"/v1/batches/{batch_id}").json()["counts"] == {"free": 0, "reserved": 2, "issued": 1}


def test_bad_reports_are_refused(deployment) -> None:
    with client(deployment.server, deployment.station) as desk:
        assert desk.post(f"/v1/reservations/{'0' * 32}", json={"card_id": _card(1), "result": "issued"}) \
            .status_code == 404
        batch_id = desk.post("/v1/batches", json=_batch("bad", 1)).json()["batch_id"]
        r = desk.post(f"/v1/batches/{batch_id}/reservations", json={}).json()["reservation"]
        assert desk.post(f"/v1/reservations/{r}", json={"card_id": "XYZ", "result": "issued"}).status_code == 422
        assert desk.post(f"/v1/reservations/{r}", json={"card_id": _card(1), "result": "maybe"}).status_code == 422
        assert desk.post(f"/v1/batches/{batch_id}/reservations", json={"record_id": "nope"}).status_code == 404
    with client(deployment.server, deployment.admin) as admin:
        assert admin.post(f"/v1/batches/{batch_id}/reservations", json={}).status_code == 403


STATIONS, RECORDS = 8, 400


@pytest.fixture(scope="module")
def second_server(deployment):  # noqa: ANN001, ANN201
    """Another server process on the same database: stations spread over both."""
    server = ServerProcess(deployment.env, deployment.db_url).start()
    yield server
    server.stop()


def test_eight_stations_on_one_batch_issue_every_record_exactly_once(deployment, second_server) -> None:
    with client(deployment.server, deployment.admin) as admin:
        keys = [admin.post("/v1/keys", json={"role": "station", "name": f"desk {n}"}).json()["key"]
                for n in range(STATIONS)]
    with client(deployment.server, deployment.station) as http:
        batch_id = http.post("/v1/batches", json=_batch("rush", RECORDS)).json()["batch_id"]
    issued: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def station(n: int) -> None:
        server = (deployment.server, second_server)[n % 2]
        with client(server, keys[n]) as http:
            turn = 0
            while True:
                got = http.post(f"/v1/batches/{batch_id}/reservations", json={})
                if got.status_code == 409:
                    return
                if got.status_code != 200:
                    errors.append(f"{got.status_code} {got.text}")
                    return
                turn += 1
                res = got.json()
                if turn % 25 == 0:  # the card was rejected: the record goes back to be issued onto another card
                    http.post(f"/v1/reservations/{res['reservation']}", json={"card_id": _card(n << 32 | turn),
                                                                                "result": "rejected"})
                    continue
                done = http.post(f"/v1/reservations/{res['reservation']}",
                                 json={"card_id": _card(n << 32 | turn), "result": "issued"})
                if done.status_code != 200:
                    errors.append(f"{done.status_code} {done.text}")
                    return
                with lock:
                    issued.append(res["record_id"])

    threads = [threading.Thread(target=station, args=(n,)) for n in range(STATIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors
    assert sorted(issued) == [f"R{i:04d}" for i in range(RECORDS)]  # each once, none skipped
    with client(deployment.server, deployment.station) as http:
        assert http.get(f"/v1/batches/{batch_id}").json()["counts"] == {"free": 0, "reserved": 0,
                                                                          "issued": RECORDS}
        log = http.get(f"/v1/batches/{batch_id}/log").json()
    assert Counter(e["record_id"] for e in log if e["result"] == "issued") == Counter(issued)
    assert len({e["station"] for e in log}) == STATIONS
