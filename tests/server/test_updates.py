"""Remote update through the server (docs/update.md), on SQLite and PostgreSQL, with simulated cards: the
service's set-up, packages, the whole chain from the client, refusals at each server step, faults (server
restarted mid-chain, client killed before the acknowledgement, card pulled), and 20 cards at once."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures
from server_helpers import client

from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.core.crypto import point_of
from cardsmith.remote.client import ServerClient
from cardsmith.update.chain import run_update
from cardsmith.update.package import seal_for_service
from cardsmith.update.session import UpdateSession
from conftest import fresh_card

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "update"))
from update_helpers import PIN, issuer, other_issuer, package, ready  # noqa: E402 - the update group's helpers

pytestmark = pytest.mark.card


@pytest.fixture(scope="module")
def service(deployment) -> dict:  # noqa: ANN001
    """The issuer's update service set up as an admin does: the key made by the server, certified offline."""
    with ServerClient(deployment.server.url, deployment.admin) as admin:
        point = bytes.fromhex(admin.update_service_key()["public_key"])
        cert = issuer().certify(point, "service", 0, days=30).certificate
        view = admin.put_update_service(cert.encode(), issuer().public_key)
    assert view["ready"]
    return view


def upload(deployment, *packages) -> list[dict]:  # noqa: ANN001
    with ServerClient(deployment.server.url, deployment.station) as station:
        return [station.upload_update(p.encode())[0] for p in packages]


def chain(deployment, card: Card, pin: str = PIN, steps: list | None = None):  # noqa: ANN001, ANN201
    with ServerClient(deployment.server.url, deployment.terminal) as terminal:
        return run_update(card, terminal, issuer().public_key, pin,
                          (lambda s, d: steps.append((s, d))) if steps is not None else (lambda s, d: None))


def states(deployment, card_id: bytes) -> list[tuple[int, int, str]]:  # noqa: ANN001
    with ServerClient(deployment.server.url, deployment.admin) as admin:
        return [(p["record"], p["version"], p["state"]) for p in admin.update_packages(card_id.hex().upper())]


def test_the_chain_applies_adds_replacements_deletions_in_both_modes_and_marks_them_delivered(
        deployment, service, card: Card) -> None:  # noqa: ANN001
    cert = ready(card)
    first = [package(cert, record=0, payload=b"password-1"), package(cert, record=1, payload=b"token", mode="store"),
             package(cert, record=2, payload=b"x" * 500)]
    entries = upload(deployment, *first)
    assert [e["state"] for e in entries] == ["pending"] * 3
    steps: list = []
    result = chain(deployment, card, steps=steps)
    assert [s for s, _ in steps[:4]] == ["issuer check (client)", "holder PIN", "issuer check (server)",
                                         "device authentication"]
    assert [(c.record, c.version, c.result) for c in result.changes] == [(0, 1, "applied"), (1, 1, "applied"),
                                                                        (2, 1, "applied")]
    assert not any(b"password-1".hex() in d or "password-1" in d for _, d in steps)
    assert states(deployment, cert.card_id) == [(0, 1, "delivered"), (1, 1, "delivered"), (2, 1, "delivered")]
    card.reset()
    from update_helpers import verify_pin

    verify_pin(card)
    assert UpdateSession(card).read_record(0) == b"password-1"
    upload(deployment, package(cert, record=0, op="replace", version=2, payload=b"password-2"),
           package(cert, record=2, op="delete", version=2, payload=b""))
    card.reset()
    result = chain(deployment, card)
    assert [(c.record, c.version, c.op, c.result) for c in result.changes] == [(0, 2, "replace", "applied"),
                                                                              (2, 2, "delete", "applied")]
    verify_pin(card)
    assert UpdateSession(card).read_record(0) == b"password-2"
    assert UpdateSession(card).status().records[2].state_name == "empty"
    card.reset()
    assert chain(deployment, card).changes == []  # nothing pending any more
    with client(deployment.server, deployment.admin) as admin:
        page = admin.get("/operator").text
    section = page[page.index('<h2 id="updates">'):page.index('<h2 id="deny">')]
    card_hex = cert.card_id.hex().upper()
    assert f"<tr><td>{card_hex}</td><td>0</td><td>5</td><td>0</td></tr>" in section  # pending, delivered, refused
    assert section.count(f"<td>{card_hex}</td>") >= 6 and "<td>delete</td>" in section


def test_uploads_are_checked_and_never_overwrite(deployment, service, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    card = fresh_card(request, "sim", 0)
    cert = ready(card)
    with ServerClient(deployment.server.url, deployment.station) as station:
        pkg = package(cert, payload=b"a")
        entry, created = station.upload_update(pkg.encode())
        assert created and entry["sha256"] == pkg.digest.hex()
        assert station.upload_update(pkg.encode()) == (entry, False)  # the same again: nothing changes
        with pytest.raises(errors.ServerConflict):  # another package under the same version
            station.upload_update(package(cert, payload=b"b").encode())
        with pytest.raises(errors.ServerError) as forged:  # not the issuer's signature
            station.upload_update(package(cert, version=5, by=other_issuer()).encode())
        assert forged.value.status == 422
        altered = bytearray(package(cert, version=6).encode())
        altered[100] ^= 1
        with pytest.raises(errors.ServerError):
            station.upload_update(bytes(altered))
    with ServerClient(deployment.server.url, deployment.terminal) as terminal, pytest.raises(errors.ServerAuthError):
        terminal.upload_update(package(cert, version=7).encode())  # terminals do not upload
    with ServerClient(deployment.server.url, deployment.other_station) as other, pytest.raises(errors.ServerError):
        other.upload_update(package(cert, version=8).encode())  # globex has no update service: 409
    with client(deployment.server, deployment.admin) as admin:
        wrong_key = admin.put("/v1/updates/service", json={
            "certificate": issuer().certify(point_of(other_issuer().key.public_key()), "service", 0).certificate
            .encode().hex(), "issuer_key": issuer().public_key.hex()})
        assert wrong_key.status_code == 422 and "another key" in wrong_key.json()["detail"]


def test_each_server_step_refuses_what_does_not_follow_the_chain(deployment, service,  # noqa: ANN001
                                                                 request: pytest.FixtureRequest) -> None:
    card = fresh_card(request, "sim", 0)
    cert = ready(card)
    upload(deployment, package(cert, payload=b"z"))
    with ServerClient(deployment.server.url, deployment.terminal) as t:
        service_point = bytes.fromhex(t.update_service()["certificate"])[22:87]
        # a card of another issuer: the server's issuer check refuses it
        from cardsmith.update.package import UpdateCertificate

        foreign = UpdateCertificate.issue(other_issuer().key, cert.card_id, cert.auth_key, cert.decryption_key)
        with pytest.raises(errors.ServerError) as bad:
            t.update_issuer_check(seal_for_service(service_point, foreign))
        assert bad.value.status == 422 and "another issuer" in str(bad.value)
        # sealed to another key: it does not open
        with pytest.raises(errors.ServerError):
            t.update_issuer_check(seal_for_service(point_of(other_issuer().key.public_key()), cert))
        session = t.update_issuer_check(seal_for_service(service_point, cert))["session"]
        with pytest.raises(errors.ServerConflict):  # delivery before device authentication
            t.update_delivery(session, 0)
        nonce = t.update_challenge(session)
        with pytest.raises(errors.ServerConflict):  # one challenge per session
            t.update_challenge(session)
        card_nonce, sig = UpdateSession(card).authenticate(os.urandom(32))  # signed over another nonce
        with pytest.raises(errors.ServerError) as failed:
            t.update_authenticate(session, card_nonce, sig)
        assert failed.value.status == 422
        with pytest.raises(errors.ServerConflict):  # a failed session is over
            t.update_authenticate(session, *UpdateSession(card).authenticate(nonce))
        session = t.update_issuer_check(seal_for_service(service_point, cert))["session"]
        nonce = t.update_challenge(session)
        card_nonce, sig = UpdateSession(card).authenticate(nonce)
        assert len(t.update_authenticate(session, card_nonce, sig)["pending"]) == 1
        with pytest.raises(errors.ServerConflict):  # the answer replayed: a nonce is used once
            t.update_authenticate(session, card_nonce, sig)
        d = t.update_delivery(session, 0)
        from cardsmith.update.package import Package

        ack = UpdateSession(card).deliver(bytes.fromhex(d["service_certificate"]), d["date"],
                                          bytes.fromhex(d["signature"]), Package.parse(bytes.fromhex(d["package"])))
        forged = bytearray(ack.encode())
        forged[-3] ^= 1
        with pytest.raises(errors.ServerError):  # not the card's signature
            t.update_ack(session, d["package_id"], ack=bytes(forged))
        assert states(deployment, cert.card_id) == [(0, 1, "pending")]
        assert t.update_ack(session, d["package_id"], ack=ack.encode())["repeated"] is False
        assert t.update_ack(session, d["package_id"], ack=ack.encode())["repeated"] is True
        assert t.update_delivery(session, 0) == {"done": True, "package_id": None, "package": None,
                                                 "service_certificate": None, "date": None, "signature": None,
                                                 "record": None, "version": None}
    assert states(deployment, cert.card_id) == [(0, 1, "delivered")]


def test_a_wrong_or_blocked_pin_and_a_foreign_issuer_stop_the_chain_before_any_server_step(
        deployment, service, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    card = fresh_card(request, "sim", 0)
    cert = ready(card)
    upload(deployment, package(cert))
    calls: list[str] = []

    class Watched(ServerClient):
        def send(self, method: str, path: str, **kw):  # noqa: ANN003, ANN201
            calls.append(path)
            return super().send(method, path, **kw)

    with Watched(deployment.server.url, deployment.terminal) as t:
        card.reset()
        with pytest.raises(errors.NotGenuineError):
            run_update(card, t, other_issuer().public_key, PIN)
        for _ in range(3):
            card.reset()
            with pytest.raises((errors.WrongPinError, errors.BlockedError)):
                run_update(card, t, issuer().public_key, "0000")
        card.reset()
        with pytest.raises(errors.BlockedError):
            run_update(card, t, issuer().public_key, PIN)
    assert calls == []
    assert states(deployment, cert.card_id) == [(0, 1, "pending")]


def test_faults_server_restart_lost_acknowledgement_and_a_pulled_card(
        deployment, service, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    card = fresh_card(request, "sim", 0)
    cert = ready(card)
    upload(deployment, package(cert, payload=b"one"))
    with ServerClient(deployment.server.url, deployment.terminal) as t:
        point = bytes.fromhex(t.update_service()["certificate"])[22:87]
        session = t.update_issuer_check(seal_for_service(point, cert))["session"]
        nonce = t.update_challenge(session)
        t.update_authenticate(session, *UpdateSession(card).authenticate(nonce))
        # the server restarted between device authentication and delivery: the session is in the database
        deployment.server.stop()
        deployment.server.start()
        d = t.update_delivery(session, 0)
        from cardsmith.update.package import Package

        ack = UpdateSession(card).deliver(bytes.fromhex(d["service_certificate"]), d["date"],
                                          bytes.fromhex(d["signature"]), Package.parse(bytes.fromhex(d["package"])))
        assert ack.status_name == "applied"
        # the client is killed here: the acknowledgement never reaches the server
    assert states(deployment, cert.card_id) == [(0, 1, "pending")]
    card.reset()
    result = chain(deployment, card)  # the next run acknowledges without applying again
    assert [(c.record, c.version, c.result) for c in result.changes] == [(0, 1, "already")]
    assert states(deployment, cert.card_id) == [(0, 1, "delivered")]
    # a card pulled in the middle of a delivery: the package stays pending, the card keeps the old record
    upload(deployment, package(cert, op="replace", version=2, payload=b"two" * 150))

    original = UpdateSession.deliver

    def pull(self, *args):  # noqa: ANN001, ANN002, ANN202
        self.card.call(0xAC, p1=0, data=args[0] + args[1].to_bytes(2, "big") + args[2] + args[3].header,
                       expect_data=False)
        self.card.reset()  # the card left the reader after the first command
        return original(self, *args)

    card.reset()
    UpdateSession.deliver = pull  # type: ignore[method-assign]
    try:
        with pytest.raises(errors.CardNotReadyError, match="still pending"):
            chain(deployment, card)
    finally:
        UpdateSession.deliver = original  # type: ignore[method-assign]
    # the reset card lost its PIN and update session: nothing changed, the package stays pending
    assert states(deployment, cert.card_id) == [(0, 1, "delivered"), (0, 2, "pending")]
    card.reset()
    from update_helpers import verify_pin

    verify_pin(card)
    assert UpdateSession(card).read_record(0) == b"one"
    card.reset()
    assert [c.result for c in chain(deployment, card).changes] == ["applied"]
    verify_pin(card)
    assert UpdateSession(card).read_record(0) == b"two" * 150
    assert states(deployment, cert.card_id) == [(0, 1, "delivered"), (0, 2, "delivered")]


@pytest.fixture(scope="module")
def simulator20() -> Iterator[object]:
    """A simulator JVM of its own with 20 cards, for this module."""
    from cardsmith.transport.simulator import EphemeralSimulator, SimOptions

    sim = EphemeralSimulator(SimOptions(cards=20))
    yield sim
    sim.stop()


@pytest.fixture
def twenty_cards(simulator20) -> Iterator[list[Card]]:  # noqa: ANN001
    cards = []
    for i in range(20):
        transport = simulator20.transport(i)
        transport.replace_card(b"")  # a new card (new id, blank) in each slot
        cards.append(Card(transport))
        cards[-1].select()
    yield cards
    for c in cards:
        c.close()


def test_twenty_cards_updated_at_once_through_one_server_each_exactly_once(deployment, service,  # noqa: ANN001
                                                                           twenty_cards: list[Card]) -> None:
    certs = [ready(c) for c in twenty_cards]
    upload(deployment, *[package(cert, payload=f"card {i}".encode()) for i, cert in enumerate(certs)])
    results: dict[int, object] = {}

    def run(i: int) -> None:
        twenty_cards[i].reset()
        try:
            results[i] = chain(deployment, twenty_cards[i])
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, cert in enumerate(certs):
        assert [(c.record, c.version, c.result) for c in results[i].changes] == [(0, 1, "applied")], results[i]
        assert states(deployment, cert.card_id) == [(0, 1, "delivered")]
    with ServerClient(deployment.server.url, deployment.admin) as admin:
        delivered = [p for p in admin.update_packages(state="delivered") if p["card_id"] in
                     {c.card_id.hex().upper() for c in certs}]
    assert len(delivered) == 20 and all(p["attempts"] == 1 for p in delivered)


def test_the_server_going_away_is_one_clear_line_about_what_the_card_holds(deployment, service,  # noqa: ANN001
                                                                           request: pytest.FixtureRequest) -> None:
    card = fresh_card(request, "sim", 0)
    cert = ready(card)
    upload(deployment, package(cert, payload=b"first"))

    class AckLost(ServerClient):
        """The network dies right after the card applied the package: the acknowledgement never arrives."""

        def update_ack(self, *args, **kw):  # noqa: ANN002, ANN003, ANN201
            raise errors.ServerUnavailable(f"the issuer server {self.url} is unavailable (ConnectError); ...")

    card.reset()
    with AckLost(deployment.server.url, deployment.terminal) as t, \
            pytest.raises(errors.ServerUnavailable, match="applied record 0 version 1 but") as lost:
        run_update(card, t, issuer().public_key, PIN)
    assert "acknowledges it without applying it again" in str(lost.value)
    assert states(deployment, cert.card_id) == [(0, 1, "pending")]
    card.reset()
    assert [c.result for c in chain(deployment, card).changes] == ["already"]
    # no server at all: nothing changed, said so
    card.reset()
    with ServerClient("http://127.0.0.1:9", deployment.terminal, attempts=1) as nowhere, \
            pytest.raises(errors.ServerUnavailable, match="nothing else changed on the card"):
        run_update(card, nowhere, issuer().public_key, PIN)
