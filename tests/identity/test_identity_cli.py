"""The identity and terminal commands as a user runs them (a `cardsmith sim` service, real processes):
issue, verify, register a PIN, charge, the log, a signed deny list, and every refusal's line and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run

CARD = ["-r", "sim 1"]
IDU = "1D0000000000C0DE"


@pytest.fixture(scope="module")
def desk(service: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("desk")
    env = dict(service, CARDSMITH_ISSUER_PASSPHRASE="issuer pass", CARDSMITH_KEY_PASSPHRASE="terminal pass",
               CARDSMITH_TERMINAL_LOG=str(work / "terminal.sqlite"), WORK=str(work))
    assert run(env, "issuer", "init", "--key", str(work / "issuer.key")).returncode == 0
    made = run(env, "issuer", "certify", "--key", str(work / "issuer.key"), "--role", "terminal", "--permissions",
               "identity", "--days", "30", "--holder-key", str(work / "t.key"), "--out", str(work / "t.cert"))
    assert made.returncode == 0, made.stderr
    env["CARDSMITH_TERMINAL_CERT"] = str(work / "t.cert")
    return env


def test_issue_verify_register_charge_log(desk: dict[str, str]) -> None:
    work = Path(desk["WORK"])
    issued = run(dict(desk, CARDSMITH_NS="90817263"), *CARD, "identity", "issue", "--key", str(work / "issuer.key"),
                 "--nt", "12345678", "--card-number", IDU)
    assert issued.returncode == 0, issued.stderr
    assert f"card number {IDU}" in issued.stdout and "ISSUED" in issued.stdout
    again = run(dict(desk, CARDSMITH_NS="90817263"), *CARD, "identity", "issue", "--key", str(work / "issuer.key"),
                "--nt", "1", "--card-number", IDU)
    assert again.returncode == 4 and "INSTALLED" in again.stderr and "Traceback" not in again.stderr

    verified = run(desk, *CARD, "terminal", "verify")
    assert verified.returncode == 0 and "genuine card: Nt 12345678" in verified.stdout, verified.stderr

    no_pin = run(dict(desk, CARDSMITH_PIN="4321"), *CARD, "terminal", "charge", "250")
    assert no_pin.returncode == 4 and "no PIN yet" in no_pin.stderr

    secrets = dict(desk, CARDSMITH_NS="90817263", CARDSMITH_NEW_PIN="4321")
    wrong_nt = run(secrets, *CARD, "terminal", "register-pin", "--nt", "11111111")
    assert wrong_nt.returncode == 4 and "registration number" in wrong_nt.stderr
    wrong_ns = run(dict(secrets, CARDSMITH_NS="00000000"), *CARD, "terminal", "register-pin", "--nt", "12345678")
    assert wrong_ns.returncode == 4 and "wrong set number: 2 tries left" in wrong_ns.stderr
    registered = run(secrets, *CARD, "terminal", "register-pin", "--nt", "12345678")
    assert registered.returncode == 0 and "PIN registered" in registered.stdout, registered.stderr

    charged = run(dict(desk, CARDSMITH_PIN="4321"), *CARD, "--json", "terminal", "charge", "250")
    assert charged.returncode == 0, charged.stderr
    assert json.loads(charged.stdout)["atc"] == 1 and json.loads(charged.stdout)["charge"] == 250
    bad_pin = run(dict(desk, CARDSMITH_PIN="9999"), *CARD, "terminal", "charge", "250")
    assert bad_pin.returncode == 4 and "wrong PIN: 2 tries left" in bad_pin.stderr

    logged = json.loads(run(desk, "--json", "terminal", "log").stdout)
    assert [(r["card_number"], r["atc"], r["charge"], r["uploaded"]) for r in logged["records"]] == \
        [(IDU, 1, 250, None)]
    shown = json.loads(run(desk, *CARD, "--json", "identity", "show").stdout)
    assert shown["atc"] == 1 and shown["pin_set"] and shown["set_number_tries"] == 3


def test_deny_list_from_a_signed_file(desk: dict[str, str]) -> None:
    work = Path(desk["WORK"])
    signed = run(desk, "identity", "deny-file", "--key", str(work / "issuer.key"), "--version", "2", "--out",
                 str(work / "deny.json"), IDU)
    assert signed.returncode == 0, signed.stderr
    updated = run(desk, "terminal", "deny-list", "update", "--file", str(work / "deny.json"))
    assert updated.returncode == 0 and "1 card number" in updated.stdout, updated.stderr
    refused = run(desk, *CARD, "terminal", "verify")
    assert refused.returncode == 4 and "deny list" in refused.stderr and "Traceback" not in refused.stderr
    # an altered file, and an older list, change nothing
    doc = json.loads((work / "deny.json").read_text())
    (work / "tampered.json").write_text(json.dumps(dict(doc, card_numbers=[])))
    tampered = run(desk, "terminal", "deny-list", "update", "--file", str(work / "tampered.json"))
    assert tampered.returncode == 6 and "issuer's signature" in tampered.stderr
    assert run(desk, "identity", "deny-file", "--key", str(work / "issuer.key"), "--version", "1", "--out",
               str(work / "old.json")).returncode == 0
    old = run(desk, "terminal", "deny-list", "update", "--file", str(work / "old.json"))
    assert old.returncode == 6 and "older" in old.stderr
    shown = json.loads(run(desk, "--json", "terminal", "deny-list", "show").stdout)
    assert shown == {"source": "file", "version": 2, "card_numbers": [IDU]}


def test_mark_invalid(desk: dict[str, str]) -> None:
    asked = run(desk, *CARD, "terminal", "mark-invalid")
    assert asked.returncode == 2 and "--yes" in asked.stderr  # no terminal to confirm on: nothing sent
    marked = run(desk, *CARD, "terminal", "mark-invalid", "--yes")  # deny-listed by the test before: marked anyway
    assert marked.returncode == 0 and "invalid for good" in marked.stdout, marked.stderr
    refused = run(dict(desk, CARDSMITH_PIN="4321"), *CARD, "terminal", "charge", "1")
    assert refused.returncode == 4 and "marked invalid" in refused.stderr
    shown = json.loads(run(desk, *CARD, "--json", "identity", "show").stdout)  # GET IDENTITY still answers
    assert shown["invalid"] is True
    assert run(desk, *CARD, "info").returncode == 0
    again = run(desk, *CARD, "terminal", "mark-invalid", "--yes")
    assert again.returncode == 0 and "invalid for good" in again.stdout
