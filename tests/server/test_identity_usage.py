"""Identity usage records on the server (docs/identity.md, "On the server"): a terminal's card-signed records
uploaded and verified through SA1 under the issuer key the server is configured with; the same upload again
stores nothing; forged, altered and other issuers' records refused and kept on the terminal; on SQLite and
PostgreSQL. Records come from a real card (the simulator)."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from server_fixtures import db_url, postgres  # noqa: F401 - fixtures
from server_helpers import ServerProcess, grant

from cardsmith.core.card import Card
from cardsmith.core.crypto import ecdsa_sign, point_of
from cardsmith.identity import Terminal, TerminalLog, issue_identity
from cardsmith.identity.formats import sa1_message
from cardsmith.identity.terminal_log import LoggedRecord
from cardsmith.identity.upload import as_upload, upload
from cardsmith.protocol.codes import Permission
from cardsmith.remote.client import ServerClient
from cardsmith.trust import Issuer
from cli_helpers import base_env
from conftest import fresh_card

ISSUER = Issuer(ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def records(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[LoggedRecord]:
    """Three charges of one simulated card, as a terminal logged them."""
    card: Card = fresh_card(request, "sim", 0)
    issue_identity(card, ISSUER, "555", "24681357", bytes.fromhex("1D00000000000555"),
                   datetime.date.today() + datetime.timedelta(days=30))
    key = ec.generate_private_key(ec.SECP256R1())
    credential = ISSUER.certify(point_of(key.public_key()), "terminal", int(Permission.IDENTITY), days=30)
    log = TerminalLog(tmp_path_factory.mktemp("term") / "t.sqlite")
    term = Terminal(ISSUER.public_key, credential, key, log=log)
    term.register_pin(card, ["555"], "24681357", "1357", "1357")
    for amount in (100, 200, 300):
        term.charge(card, amount, "1357")
    return log.records()


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811, ANN201
    env = base_env(tmp_path_factory.mktemp("serverhome"))
    env["CARDSMITH_SERVER_IDENTITY_KEYS"] = f"acme={ISSUER.public_key.hex()}"
    keys = {name: grant(env, db_url, issuer, role, name) for name, issuer, role in
            (("terminal", "acme", "terminal"), ("stranger", "globex", "terminal"), ("admin", "acme", "admin"))}
    proc = ServerProcess(env, db_url).start()
    yield proc, keys
    proc.stop()


def _log_with(tmp_path, logged: list[LoggedRecord]) -> TerminalLog:
    log = TerminalLog(tmp_path / "upload.sqlite")
    for item in logged:
        log.add(item.record, item.identity)
    return log


def test_upload_verifies_and_is_idempotent(server, records: list[LoggedRecord], tmp_path) -> None:
    proc, keys = server
    log = _log_with(tmp_path, records)
    with ServerClient(proc.url, keys["terminal"]) as client:
        first = upload(log, client)
        assert (first.stored, first.repeated, first.refused, first.left) == (3, 0, [], 0)
        assert all(r.uploaded for r in log.records())
        # the same records again (an answer lost): nothing stored twice, every one acknowledged
        again = client.upload_usage([as_upload(r) for r in records])
        assert (again["stored"], again["repeated"], again["unverified"]) == (0, 3, 0)
    with ServerClient(proc.url, keys["admin"]) as admin:
        listed = admin.request("GET", "/v1/usage", params={"card_id": "1D00000000000555"})
    assert sorted((e["counter"], e["verification"]) for e in listed) == [(1, "verified"), (2, "verified"),
                                                                          (3, "verified")]


def test_forged_and_altered_records_are_refused_and_stay_on_the_terminal(server, records: list[LoggedRecord],
                                                                          tmp_path) -> None:
    proc, keys = server
    genuine = as_upload(records[0])
    more = dict(genuine, data=dict(genuine["data"], charge=1))  # the charge the upload claims
    body = bytearray(bytes.fromhex(genuine["data"]["record"]))
    body[-1] ^= 1  # a byte the card signed
    altered = dict(genuine, data=dict(genuine["data"], record=body.hex().upper()))
    other = ec.generate_private_key(ec.SECP256R1())
    ident = records[0].identity
    forged_identity = dataclasses.replace(ident, sa1=ecdsa_sign(other, sa1_message(
        ident.nt, ident.sa2, ident.public_key, ident.idu, ident.expiry)))
    forged = dict(genuine, data=dict(genuine["data"], identity=forged_identity.encode().hex().upper()))
    later = dict(genuine, counter=9)
    with ServerClient(proc.url, keys["terminal"]) as client:
        answer = client.upload_usage([dict(r, card_id="1D00000000000666") for r in (more, altered, forged)]
                                     + [dict(later, card_id="1D00000000000666")])
    reasons = [r["reason"] for r in answer["refused"]]
    assert answer["stored"] == 0 and len(reasons) == 4, answer
    assert "charge" in reasons[0] and "card's signature" in reasons[1] and "SA1" in reasons[2]
    assert "ATC" in reasons[3]
    # through the terminal's log: a refused record stays to upload, with the reason reported
    log = _log_with(tmp_path, [LoggedRecord(records[1].record, forged_identity, None)])
    with ServerClient(proc.url, keys["terminal"]) as client:
        result = upload(log, client)
    assert result.left == 1 and "SA1" in result.refused[0]["reason"]


def test_an_issuer_without_a_configured_key_stores_them_unverified(server, records: list[LoggedRecord]) -> None:
    proc, keys = server
    with ServerClient(proc.url, keys["stranger"]) as client:
        answer = client.upload_usage([as_upload(records[2])])
    assert (answer["stored"], answer["unverified"]) == (1, 1)




def test_terminal_upload_and_deny_list_from_the_command_line(server, records: list[LoggedRecord], tmp_path) -> None:
    """`cardsmith terminal upload` twice (the second stores nothing), then a card number the issuer's admin
    denies reaches the terminal with `terminal deny-list update` (and again: up to date)."""
    import json

    import httpx

    from cardsmith.trust import keyfile
    from cli_helpers import run

    proc, keys = server
    log = _log_with(tmp_path, records)
    log.close()
    key = ec.generate_private_key(ec.SECP256R1())
    keyfile.save(tmp_path / "t.key", key, b"pass")
    ISSUER.certify(point_of(key.public_key()), "terminal", int(Permission.IDENTITY), days=30).save(tmp_path / "t.cert")
    env = dict(base_env(tmp_path), CARDSMITH_TERMINAL_LOG=str(tmp_path / "upload.sqlite"),
               CARDSMITH_SERVER=proc.url, CARDSMITH_SERVER_KEY=keys["terminal"], CARDSMITH_KEY_PASSPHRASE="pass",
               CARDSMITH_TERMINAL_CERT=str(tmp_path / "t.cert"))
    down = run(dict(env, CARDSMITH_SERVER="http://127.0.0.1:9"), "terminal", "upload")
    assert down.returncode == 1 and "Traceback" not in down.stderr, down.stderr
    assert not any(r["uploaded"] for r in json.loads(run(env, "--json", "terminal", "log").stdout)["records"])
    first = run(env, "--json", "terminal", "upload")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["left"] == 0
    second = json.loads(run(env, "--json", "terminal", "upload").stdout)
    assert (second["stored"], second["left"]) == (0, 0)
    assert all(r["uploaded"] for r in json.loads(run(env, "--json", "terminal", "log").stdout)["records"])

    denied = httpx.put(f"{proc.url}/v1/deny/card/1D00000000000555", json={"reason": "reported lost"},
                       headers={"Authorization": f"Bearer {keys['admin']}"})
    assert denied.status_code in (200, 201), denied.text
    updated = run(env, "terminal", "deny-list", "update")
    assert updated.returncode == 0 and "1 card number" in updated.stdout, updated.stderr
    assert "up to date" in run(env, "terminal", "deny-list", "update").stdout
    shown = json.loads(run(env, "--json", "terminal", "deny-list", "show").stdout)
    assert shown["source"] == "server" and shown["card_numbers"] == ["1D00000000000555"]
    nothing = run(dict(env, CARDSMITH_SERVER="http://127.0.0.1:9"), "terminal", "upload")
    assert nothing.returncode == 0 and "0 left" in nothing.stdout  # nothing to send: no server needed
    gone = run(dict(env, CARDSMITH_SERVER="http://127.0.0.1:9"), "terminal", "deny-list", "update")
    assert gone.returncode == 1 and "Traceback" not in gone.stderr, gone.stderr
    assert json.loads(run(env, "--json", "terminal", "deny-list", "show").stdout)["version"] == shown["version"]
