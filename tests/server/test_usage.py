"""Usage records through HTTP: batched uploads by terminal keys, shape checked, de-duplicated by (card, counter),
conflicts refused and reported, gaps in a card's counter in its view, the verification hook; and 8 terminals
uploading 5,000 records each through two server processes on PostgreSQL, every 10th upload repeated."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import Postgres, ServerProcess, client, grant

from cardsmith.remote.client import ServerClient
from cardsmith_server import usage
from cardsmith_server.auth import Principal
from cardsmith_server.db import make_engine, migrate, usage_records
from cli_helpers import base_env

CARD = "00000000000000C1"
BAD = "00000000000000C3"  # only malformed uploads name it


def record(card: str, counter: int, event: str = "entry", **extra: object) -> dict:
    return {"card_id": card, "counter": counter, "time": "2026-11-02T10:00:00Z", "event": event,
            "data": {"gate": 3}, **extra}


def test_upload_repeat_conflict_and_the_card_view_with_its_gaps(deployment) -> None:
    with client(deployment.server, deployment.terminal) as term, client(deployment.server, deployment.admin) as admin:
        first = term.post("/v1/usage", json={"records": [record(CARD, n) for n in (1, 2, 3, 7, 8, 12)]})
        assert first.status_code == 200
        assert first.json() == {"stored": 6, "repeated": 0, "unverified": 6, "refused": []}
        # the same batch again (an answer lost on the way) stores nothing
        again = term.post("/v1/usage", json={"records": [record(CARD, n) for n in (1, 2, 3, 7, 8, 12)]})
        assert again.json() == {"stored": 0, "repeated": 6, "unverified": 0, "refused": []}
        # another record under a stored counter is refused and the stored one stays; the rest of the batch lands
        mixed = term.post("/v1/usage", json={"records": [record(CARD, 4), record(CARD.lower(), 2, "payment"),
                                                          record(CARD, 4)]}).json()
        assert (mixed["stored"], mixed["repeated"]) == (1, 1)
        assert [(r["index"], r["counter"]) for r in mixed["refused"]] == [(1, 2)]
        assert "stored already" in mixed["refused"][0]["reason"]
        inside = term.post("/v1/usage", json={"records": [record(CARD, 20), record(CARD, 20, "exit")]}).json()
        assert inside["stored"] == 1 and "the batch holds another" in inside["refused"][0]["reason"]

        view = admin.get(f"/v1/usage/cards/{CARD}").json()
        assert (view["records"], view["first"], view["last"], view["unverified"]) == (8, 1, 20, 8)
        assert view["missing"] == 12
        assert view["gaps"] == [{"after": 4, "before": 7, "missing": 2}, {"after": 8, "before": 12, "missing": 3},
                                {"after": 12, "before": 20, "missing": 7}]
        listed = admin.get("/v1/usage", params={"card_id": CARD}).json()
        assert [r["counter"] for r in listed] == [1, 2, 3, 7, 8, 12, 4, 20]
        assert listed[1]["event"] == "entry" and listed[1]["verification"] == "unverified"
        assert listed[0]["terminal"] == deployment.terminal.split("_")[1]
        page = admin.get("/v1/usage", params={"card_id": CARD, "after": listed[3]["id"], "limit": 2}).json()
        assert [r["counter"] for r in page] == [8, 12]
        assert any(c["card_id"] == CARD and c["missing"] == 12 for c in admin.get("/v1/usage/cards").json())
        assert admin.get("/v1/usage/cards/00000000000000FF").status_code == 404


def test_a_signature_is_kept_and_the_record_stays_unverified_until_card_keys_exist(deployment) -> None:
    signed = record("00000000000000C2", 1, signature="30450221aabb")
    with client(deployment.server, deployment.terminal) as term, client(deployment.server, deployment.admin) as admin:
        assert term.post("/v1/usage", json={"records": [signed]}).json()["unverified"] == 1
        (kept,) = admin.get("/v1/usage", params={"card_id": "00000000000000C2"}).json()
    assert kept["signature"] == "30450221AABB" and kept["verification"] == "unverified"
    assert kept["format"] == "cardsmith-usage/1"


@pytest.mark.parametrize("bad", [
    {"records": []},
    {"records": [record("C1", 1)]},
    {"records": [record(BAD, -1)]},
    {"records": [record(BAD, 2**32)]},
    {"records": [record(BAD, 1) | {"time": "yesterday"}]},
    {"records": [record(BAD, 1, "Not An Event")]},
    {"records": [record(BAD, 1, signature="xyz")]},
    {"records": [record(BAD, 1, format="cardsmith-usage/9")]},
    {"records": [record(BAD, 1, colour="red")]},
    {"records": [record(BAD, n) for n in range(1001)]},
])
def test_malformed_uploads_are_refused_and_store_nothing(deployment, bad: dict) -> None:
    with client(deployment.server, deployment.terminal) as term, client(deployment.server, deployment.admin) as admin:
        answer = term.post("/v1/usage", json=bad)
        assert answer.status_code == 422
        assert "detail" in answer.json()
        assert admin.get(f"/v1/usage/cards/{BAD}").status_code == 404
        assert admin.get("/v1/usage", params={"card_id": BAD}).json() == []


def test_only_terminals_upload_and_each_issuer_sees_its_own(deployment) -> None:
    one = {"records": [record("00000000000000C4", 1)]}
    with client(deployment.server, deployment.station) as station:
        assert station.post("/v1/usage", json=one).status_code == 403
    with client(deployment.server, deployment.terminal) as term:
        assert term.get("/v1/usage").status_code == 403
        assert term.post("/v1/usage", json=one).json()["stored"] == 1
    with client(deployment.server, None) as anonymous:
        assert anonymous.post("/v1/usage", json=one).status_code == 401
    with client(deployment.server, deployment.other_station) as other:
        assert other.get("/v1/usage/cards/00000000000000C4").status_code == 404
        assert other.get("/v1/usage").json() == []


def test_the_verification_hook_decides_what_is_stored(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hook.sqlite'}")
    migrate(engine)
    who = Principal("k1", "acme", "terminal", "gate")
    seen: list[bytes] = []

    def verifier(_conn: sa.Connection, _who: Principal, rec: dict) -> str:
        seen.append(usage.signed_bytes(rec))
        if rec["signature"] is None:
            return "unverified"
        if rec["signature"] != "AA":
            raise usage.InvalidRecord("not the card's signature")
        return "verified"

    batch = [record(CARD, 1, signature="aa"), record(CARD, 2, signature="bb"), record(CARD, 3)]
    with engine.begin() as conn:
        out = usage.upload(conn, who, batch, verifier)
        stored = conn.execute(sa.select(usage_records.c.counter, usage_records.c.verification)
                              .order_by(usage_records.c.counter)).all()
    engine.dispose()
    assert (out["stored"], out["unverified"]) == (2, 1)
    assert [(r["counter"], r["reason"]) for r in out["refused"]] == [(2, "verification failed: not the card's "
                                                                         "signature")]
    assert stored == [(1, "verified"), (3, "unverified")]
    assert seen[0] == (b'{"card_id":"00000000000000C1","counter":1,"data":{"gate":3},"event":"entry",'
                       b'"format":"cardsmith-usage/1","time":"2026-11-02T10:00:00Z"}')


TERMINALS, PER_TERMINAL, BATCH = 8, 5000, 250


@pytest.fixture(scope="module")
def pg_pair(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory):
    """Two server processes on one fresh PostgreSQL database."""
    env = base_env(tmp_path_factory.mktemp("usagehome"))
    url = postgres.create_database("usage_load")
    admin = grant(env, url, "acme", "admin", "operator")
    servers = [ServerProcess(env, url).start(), ServerProcess(env, url).start()]
    yield servers, admin
    for server in servers:
        server.stop()


def test_eight_terminals_upload_5000_records_each_and_every_record_is_stored_once(pg_pair) -> None:
    servers, admin_key = pg_pair
    with client(servers[0], admin_key) as admin:
        keys = [admin.post("/v1/keys", json={"role": "terminal", "name": f"gate {n}"}).json()["key"]
                for n in range(TERMINALS)]
    totals = [[0, 0] for _ in range(TERMINALS)]
    errors: list[str] = []

    def terminal(n: int) -> None:
        # each terminal sees its own 100 cards, 50 uses each, in counter order; every 10th upload is sent twice
        recs = [record(f"{n:08X}{c:08X}", k) for k in range(PER_TERMINAL // 100) for c in range(100)]
        with client(servers[n % 2], keys[n]) as http:
            for i in range(0, PER_TERMINAL, BATCH):
                for _ in range(2 if (i // BATCH) % 10 == 9 else 1):
                    got = http.post("/v1/usage", json={"records": recs[i:i + BATCH]})
                    if got.status_code != 200 or got.json()["refused"]:
                        errors.append(f"{got.status_code} {got.text[:200]}")
                        return
                    totals[n][0] += got.json()["stored"]
                    totals[n][1] += got.json()["repeated"]

    threads = [threading.Thread(target=terminal, args=(n,)) for n in range(TERMINALS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors
    assert totals == [[PER_TERMINAL, 2 * BATCH]] * TERMINALS  # 20 uploads a terminal, 2 of them repeats
    with client(servers[1], admin_key) as admin:
        cards = admin.get("/v1/usage/cards", params={"limit": 10000}).json()
        assert len(cards) == TERMINALS * 100
        assert {(c["records"], c["first"], c["last"], c["missing"]) for c in cards} == {(50, 0, 49, 0)}
        seen: list[tuple[str, int]] = []
        after = 0
        while page := admin.get("/v1/usage", params={"after": after, "limit": 10000}).json():
            seen += [(r["card_id"], r["counter"]) for r in page]
            after = page[-1]["id"]
    assert len(seen) == len(set(seen)) == TERMINALS * PER_TERMINAL


def test_a_terminal_client_retries_across_a_killed_server_and_nothing_is_lost_or_doubled(pg_pair) -> None:
    servers, admin_key = pg_pair
    server = servers[0]
    with client(server, admin_key) as admin:
        key = admin.post("/v1/keys", json={"role": "terminal", "name": "gate under fire"}).json()["key"]
    recs = [record(f"FF{c:014X}", k) for k in range(40) for c in range(50)]  # 2,000 records, 20 uploads of 100
    answers: list[dict] = []
    failure: list[BaseException] = []
    progress = threading.Event()

    def upload() -> None:
        try:
            with ServerClient(server.url, key, attempts=40) as terminal:
                for i in range(0, len(recs), 100):
                    answers.append(terminal.upload_usage(recs[i:i + 100]))
                    if len(answers) == 5:
                        progress.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)
            progress.set()

    worker = threading.Thread(target=upload)
    worker.start()
    assert progress.wait(60)
    server.kill()  # SIGKILL while uploads are on the way
    server.start()
    worker.join(timeout=120)
    assert not failure and len(answers) == 20
    assert all(not a["refused"] for a in answers)
    assert sum(a["stored"] for a in answers) <= len(recs)  # an answer lost in the kill comes back as repeated
    assert sum(a["stored"] + a["repeated"] for a in answers) >= len(recs)
    with client(servers[1], admin_key) as admin:
        mine = [c for c in admin.get("/v1/usage/cards", params={"after": "FE" + "F" * 14, "limit": 100}).json()]
    assert len(mine) == 50 and {(c["records"], c["missing"], c["last"]) for c in mine} == {(40, 0, 39)}
