"""Remote update from the command line, as an issuer, an admin and a cardholder do it (docs/update.md): the
real `cardsmith` process against the simulator service and a real server, on SQLite and PostgreSQL, and
every mistake as one line with its exit code."""

from __future__ import annotations

import datetime
import http.server
import json
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from server_fixtures import db_url, deployment, postgres  # noqa: F401 - fixtures

from cli_helpers import CARDSMITH, run

pytestmark = pytest.mark.card

PIN = "2468"
KEY1 = "11" * 32


def ok(env: dict[str, str], *args: str) -> str:
    done = run(env, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def fails(env: dict[str, str], code: int, *args: str) -> str:
    done = run(env, *args)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.strip(), done.stderr
    return done.stderr


def test_issuer_signs_admin_sets_up_holder_updates(deployment, service: dict[str, str], tmp_path: Path) -> None:  # noqa: ANN001
    reader = "sim 0" if deployment.db_url.startswith("sqlite") else "sim 1"  # the service's cards outlive a module
    env = service | {"CARDSMITH_ISSUER_PASSPHRASE": "issuer pass", "CARDSMITH_SERVER": deployment.server.url}
    made = json.loads(ok(env, "--json", "issuer", "init", "--key", str(tmp_path / "issuer.key")))
    (tmp_path / "issuer.pub").write_text(made["public_key"])
    ok(env, "-r", reader, "issuer", "enrol", "--key", str(tmp_path / "issuer.key"))
    ok(env | {"CARDSMITH_NEW_PIN": PIN, "CARDSMITH_KEY1": KEY1}, "-r", reader, "key", "personalise")
    cert = json.loads(ok(env, "--json", "-r", reader, "update", "certificate"))
    (tmp_path / "card.cert").write_text(cert["update_certificate"])
    assert "record 0: empty, version 0" in ok(env, "-r", reader, "update", "status")

    ok(env | {"CARDSMITH_SERVER_KEY": deployment.admin}, "issuer", "update-service", "--key",
       str(tmp_path / "issuer.key"))
    (tmp_path / "secret.txt").write_bytes(b"vpn-password-2027")
    expiry = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    station = env | {"CARDSMITH_SERVER_KEY": deployment.station}
    signed = ok(station, "issuer", "sign-update", "--key", str(tmp_path / "issuer.key"), "--card-cert",
                str(tmp_path / "card.cert"), "--record", "0", "--op", "add", "--version", "1", "--expiry", expiry,
                "--payload-file", str(tmp_path / "secret.txt"), "--out", str(tmp_path / "pkgs"), "--upload")
    assert f"card {cert['card_id']} record 0 version 1 add (apply, 17 bytes)" in signed and "uploaded" in signed

    holder = env | {"CARDSMITH_SERVER_KEY": deployment.terminal, "MY_PIN": PIN}
    # mistakes first: each one line, its exit code, nothing changed
    assert "--pin-from-env UNSET" in fails(holder, 2, "-r", reader, "update", "--issuer-key",
                                           str(tmp_path / "issuer.pub"), "--pin-from-env", "UNSET")
    assert "issuer's public key" in fails(holder, 2, "-r", reader, "update", "--pin-from-env", "MY_PIN")
    (tmp_path / "other.pub").write_text("04" + "11" * 64)
    fails(holder, 6, "-r", reader, "update", "--issuer-key", str(tmp_path / "other.pub"), "--pin-from-env", "MY_PIN")
    assert "--server" in fails(holder | {"CARDSMITH_SERVER": ""}, 2, "-r", reader, "update", "--issuer-key",
                               str(tmp_path / "issuer.pub"), "--pin-from-env", "MY_PIN")
    wrong = fails(holder | {"BAD": "0000"}, 4, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"),
                  "--pin-from-env", "BAD")
    assert "PIN" in wrong or "verification" in wrong
    gone = fails(holder | {"CARDSMITH_SERVER": "http://127.0.0.1:9"}, 1, "-r", reader, "update", "--issuer-key",
                 str(tmp_path / "issuer.pub"), "--pin-from-env", "MY_PIN")
    assert "nothing else changed on the card" in gone and gone.count("\n") == 1
    assert "version 0" in ok(env, "-r", reader, "update", "status")

    out = ok(holder, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"), "--pin-from-env", "MY_PIN")
    for step in ("issuer check (client)", "holder PIN", "issuer check (server)", "device authentication",
                 "delivery", "acknowledgement"):
        assert step + ":" in out
    assert "record 0 version 1 add (apply): applied" in out and "vpn-password" not in out
    assert "no update pending" in ok(holder, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"),
                                     "--pin-from-env", "MY_PIN")
    assert json.loads(ok(holder, "--json", "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"),
                         "--pin-from-env", "MY_PIN"))["changes"] == []
    ok(holder, "-r", reader, "update", "read", "0", "--out", str(tmp_path / "got.txt"), "--pin-from-env", "MY_PIN")
    assert (tmp_path / "got.txt").read_bytes() == b"vpn-password-2027"

    # a package the card refuses (expired before it arrives): reported refused, exit 6, the server knows why
    past = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    ok(station, "issuer", "sign-update", "--key", str(tmp_path / "issuer.key"), "--card-cert",
       str(tmp_path / "card.cert"), "--record", "0", "--op", "replace", "--version", "2", "--expiry", past,
       "--payload-file", str(tmp_path / "secret.txt"), "--out", str(tmp_path / "pkgs"), "--upload")
    refused = run(holder, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"), "--pin-from-env",
                  "MY_PIN")
    assert refused.returncode == 6 and "version 2 replace (apply): refused" in refused.stdout, refused
    assert "Traceback" not in refused.stderr
    # many cards from the issuer's CSV (here one row), stored mode
    (tmp_path / "cards.csv").write_text(f"holder,update_certificate\nA. Holder,{cert['update_certificate']}\n")
    many = json.loads(ok(station, "--json", "issuer", "sign-update", "--key", str(tmp_path / "issuer.key"),
                         "--cards", str(tmp_path / "cards.csv"), "--record", "1", "--op", "add", "--version", "1",
                         "--expiry", expiry, "--mode", "store", "--payload-file", str(tmp_path / "secret.txt"),
                         "--out", str(tmp_path / "pkgs"), "--upload"))
    assert [(r["card_id"], r["mode"], r["uploaded"]) for r in many] == [(cert["card_id"], "store", True)]
    stored = ok(holder, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"), "--pin-from-env",
                "MY_PIN")
    assert "record 1 version 1 add (store): applied" in stored
    assert "record 1: stored, version 1, 17 bytes" in ok(env, "-r", reader, "update", "status")
    # signing mistakes
    assert "--payload-file" in fails(station, 2, "issuer", "sign-update", "--key", str(tmp_path / "issuer.key"),
                                     "--card-cert", str(tmp_path / "card.cert"), "--record", "0", "--op", "add",
                                     "--version", "3", "--expiry", expiry, "--out", str(tmp_path / "pkgs"))
    (tmp_path / "bad.cert").write_text("zz")
    fails(station, 6, "issuer", "sign-update", "--key", str(tmp_path / "issuer.key"), "--card-cert",
          str(tmp_path / "bad.cert"), "--record", "0", "--op", "delete", "--version", "3", "--expiry", expiry,
          "--out", str(tmp_path / "pkgs"))

    # the client killed (SIGKILL) after the card applied version 3 and before its acknowledgement reached the
    # server: the card holds version 3, the server still has it pending; the next run acknowledges it again
    # without applying it twice
    ok(station, "issuer", "sign-update", "--key", str(tmp_path / "issuer.key"), "--card-cert",
       str(tmp_path / "card.cert"), "--record", "0", "--op", "replace", "--version", "3", "--expiry", expiry,
       "--payload-file", str(tmp_path / "secret.txt"), "--out", str(tmp_path / "pkgs"), "--upload")
    with KillAtAck(deployment.server.url) as proxy:
        client = subprocess.Popen([*CARDSMITH, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"),
                                   "--pin-from-env", "MY_PIN"], env=holder | {"CARDSMITH_SERVER": proxy.url},
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proxy.client = client
        out, _ = client.communicate(timeout=120)
    assert client.returncode == -signal.SIGKILL and proxy.acks_held == 1, (client.returncode, out)
    assert "delivery: record 0 version 3 (replace, apply): applied" in out and "marked delivered" not in out
    assert "record 0: applied, version 3" in ok(env, "-r", reader, "update", "status")
    again = ok(holder, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"), "--pin-from-env",
               "MY_PIN")
    assert "record 0 version 3 (replace, apply): held already" in again, again
    assert "record 0 version 3 marked delivered" in again and "record 0 version 3 replace (apply): already" in again
    assert "no update pending" in ok(holder, "-r", reader, "update", "--issuer-key", str(tmp_path / "issuer.pub"),
                                     "--pin-from-env", "MY_PIN")


class KillAtAck:
    """An HTTP relay in front of the server that kills the client process when it sends an acknowledgement,
    before the server sees it: the client dies exactly between the card's apply and the server's record."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.client: subprocess.Popen[str] | None = None
        self.acks_held = 0
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.relay(None)

            def do_POST(self) -> None:
                self.relay(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

            def relay(self, body: bytes | None) -> None:
                if self.path.endswith("/ack") and relay.client is not None:
                    relay.acks_held += 1
                    relay.client.send_signal(signal.SIGKILL)
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                got = httpx.request(self.command, relay.upstream + self.path, content=body, headers=headers)
                self.send_response(got.status_code)
                self.send_header("Content-Type", got.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(got.content)))
                self.end_headers()
                self.wfile.write(got.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> KillAtAck:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
