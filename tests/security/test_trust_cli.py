"""`cardsmith issuer ...` and `--as CERT`: a station writes a purse and resets a blocked PIN in a session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run

pytestmark = pytest.mark.card

CARD = ("-r", "sim 0")


def test_issuer_station_and_a_session_from_the_command_line(service: dict[str, str], tmp_path: Path) -> None:
    env = service | {"CARDSMITH_ISSUER_PASSPHRASE": "root pass", "CARDSMITH_KEY_PASSPHRASE": "station pass"}
    root, station, cert = tmp_path / "root.key", tmp_path / "station.key", tmp_path / "station.cert"
    made = run(env, "--json", "issuer", "init", "--key", str(root))
    assert made.returncode == 0, made.stderr
    assert root.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    again = run(env, "issuer", "init", "--key", str(root))
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    key_id = json.loads(made.stdout)["key_id"]

    # personalisation: a purse, the PIN, the card enrolled with the issuer, then ISSUED
    assert run(env, *CARD, "data", "define", "2", "--first-page", "4", "--pages", "1",
               "--value").returncode == 0
    kept = run(env, *CARD, "key", "personalise", "--pin", "1234", "--key1", "11" * 32, "--keep-open")
    assert kept.returncode == 0 and "left INSTALLED (--keep-open)" in kept.stdout, kept.stderr
    enrol = run(env, *CARD, "--json", "issuer", "enrol", "--key", str(root))
    assert enrol.returncode == 0, enrol.stderr
    assert json.loads(enrol.stdout)["role"] == "card"
    assert run(env, *CARD, "apdu", "803C0000").returncode == 0  # CLOSE_PERSONALISATION

    out = run(env, "issuer", "certify", "--key", str(root), "--permissions", "write,value,pin_reset",
              "--holder-key", str(station), "--out", str(cert))
    assert out.returncode == 0, out.stderr
    assert station.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    shown = json.loads(run(env, "--json", "issuer", "show", str(cert)).stdout)
    assert shown["role"] == "station" and shown["permissions"] == ["write", "value", "pin_reset"]
    assert shown["issuer_key_id"] == key_id and shown["signature"] == "valid"

    purse = ("data", "write", "2", "--hex", "000001F4")
    refused = run(env, *CARD, *purse)
    assert refused.returncode == 4 and "6982" in refused.stderr  # no session: not even with a PIN
    written = run(env, *CARD, "-v", "--as", str(cert), *purse)
    assert written.returncode == 0, written.stderr
    assert "= secured WRITE_DATA" in written.stderr and "9000" in written.stderr
    read = run(env, *CARD, "--as", str(cert), "data", "read", "2", "--length", "4")
    assert read.returncode == 0 and "000001F4" in read.stdout.replace(" ", "").upper()

    for _ in range(3):  # the holder forgets the PIN
        assert run(env, *CARD, "pin", "verify", "--pin", "0000").returncode == 4
    assert run(env, *CARD, "pin", "reset", "--new", "4321").returncode == 4  # no session
    reset = run(env, *CARD, "-v", "--as", str(cert), "pin", "reset", "--new", "4321")
    assert reset.returncode == 0, reset.stderr
    assert "= secured RESET_RETRY_COUNTER 02 81 ** masked **" in reset.stderr
    assert b"4321".hex().upper() not in reset.stderr.replace(" ", "")
    assert run(env, *CARD, "pin", "verify", "--pin", "4321").returncode == 0


def test_bad_passphrases_certificates_and_issuers_get_one_line(service: dict[str, str], tmp_path: Path) -> None:
    env = service | {"CARDSMITH_ISSUER_PASSPHRASE": "root pass", "CARDSMITH_KEY_PASSPHRASE": "station pass"}
    root, other, cert = tmp_path / "root.key", tmp_path / "other.key", tmp_path / "st.cert"
    assert run(env, "issuer", "init", "--key", str(root)).returncode == 0
    assert run(env, *("-r", "sim 1"), "issuer", "enrol", "--key", str(root)).returncode == 0
    assert run(env, "issuer", "certify", "--key", str(root), "--permissions", "all", "--holder-key",
               str(tmp_path / "st.key"), "--out", str(cert)).returncode == 0
    card = ("-r", "sim 1")
    assert run(env, *card, "--as", str(cert), "info").returncode == 0

    wrong = run(env | {"CARDSMITH_KEY_PASSPHRASE": "guess"}, *card, "--as", str(cert), "info")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr and "Traceback" not in wrong.stderr
    unset = {k: v for k, v in env.items() if k != "CARDSMITH_KEY_PASSPHRASE"}
    asked = run(unset, *card, "--as", str(cert), "info")
    assert asked.returncode == 2 and "CARDSMITH_KEY_PASSPHRASE" in asked.stderr

    tampered = bytearray(cert.read_bytes())
    # a base64 digit of the certificate's signature changed into another base64 digit (a flip that leaves the
    # alphabet would test the file's encoding, not the signature)
    at = next(i for i in range(38 + 200, len(tampered)) if chr(tampered[i] ^ 0x01).isalnum())
    tampered[at] ^= 0x01
    (tmp_path / "bad.cert").write_bytes(bytes(tampered))
    (tmp_path / "bad.key").write_bytes((tmp_path / "st.key").read_bytes())
    bad = run(env, *card, "--as", str(tmp_path / "bad.cert"), "info")
    assert bad.returncode in (4, 6) and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    shown = json.loads(run(env, "--json", "issuer", "show", str(tmp_path / "bad.cert")).stdout)
    assert shown["signature"].startswith("INVALID")

    # a station of another issuer: the host does not take this card for its issuer's
    assert run(env, "issuer", "init", "--key", str(other)).returncode == 0
    assert run(env, "issuer", "certify", "--key", str(other), "--holder-key", str(tmp_path / "o.key"),
               "--out", str(tmp_path / "o.cert")).returncode == 0
    foreign = run(env, *card, "--as", str(tmp_path / "o.cert"), "info")
    assert foreign.returncode == 6 and "another issuer" in foreign.stderr
    assert "Traceback" not in foreign.stderr


@pytest.fixture(scope="module")
def two_cards(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Its own service: both cards are enrolled and end ISSUED."""
    from cli_helpers import base_env

    env = base_env(tmp_path_factory.mktemp("two"))
    assert run(env, "sim", "start", "--cards", "2").returncode == 0
    yield env
    run(env, "sim", "stop")


def test_a_two_reader_duplication_runs_secured_on_both_cards(two_cards: dict[str, str], tmp_path: Path) -> None:
    env = two_cards | {"CARDSMITH_ISSUER_PASSPHRASE": "root pass", "CARDSMITH_KEY_PASSPHRASE": "station pass"}
    root, cert = tmp_path / "root.key", tmp_path / "desk.cert"
    assert run(env, "issuer", "init", "--key", str(root)).returncode == 0
    for reader, pin in (("sim 0", "1234"), ("sim 1", "5678")):  # the issuer's desk: personalise, enrol
        assert run(env, "-r", reader, "key", "personalise", "--pin", pin, "--key1", "22" * 32,
                   "--keep-open").returncode == 0
        assert run(env, "-r", reader, "issuer", "enrol", "--key", str(root)).returncode == 0
    assert run(env, "issuer", "certify", "--key", str(root), "--holder-key", str(tmp_path / "desk.key"),
               "--out", str(cert)).returncode == 0

    pins = {"CARDSMITH_FROM_PIN": "1234", "CARDSMITH_TO_PIN": "5678"}
    out = run(env | pins, "-v", "--as", str(cert), "duplicate", "--from", "sim 0", "--to", "sim 1")
    assert out.returncode == 0, out.stderr
    trace = out.stderr
    assert trace.count("> AUTHENTICATE") == 2  # a session on each card
    for name in ("VERIFY", "PUT_KEY_GROUP_SLOT", "GENERATE_KEY_PAIR", "EXPORT_KEY", "IMPORT_KEY", "CONFIRM_EXPORT",
                 "DECRYPT", "LOCK_KEY_GROUP", "CLOSE_PERSONALISATION"):
        assert f"= secured {name}" in trace, name
    assert trace.count("= secured VERIFY") == 2 and trace.count("= secured CLOSE_PERSONALISATION") == 2
    assert b"1234".hex().upper() not in trace.replace(" ", "") and b"5678".hex().upper() not in trace.replace(" ", "")
    wire = [line for line in trace.splitlines() if line.startswith(("> VERIFY:", "> EXPORT_KEY:", "> IMPORT_KEY:"))]
    assert len(wire) >= 4 and all(int(line.split(": ")[1][:2], 16) & 0x04 for line in wire)  # CLA 84 / 04
    assert out.stdout.count("is now ISSUED: personalisation closed for good") == 2
