"""The real parts of the server tests: a PostgreSQL of our own (Debian's, run as the `postgres` user, its own
data directory, a loopback port) and `cardsmith server run` as a real process on a loopback port."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from cli_helpers import CARDSMITH, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql): run `make setup` as root")
    return found[-1]


class Postgres:
    """initdb + postgres in a temporary folder, owned by the `postgres` system user (it refuses root)."""

    USER = "cardsmith"

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise RuntimeError("starting PostgreSQL needs root (to run it as the postgres user)")
        self.root = Path(tempfile.mkdtemp(prefix="cardsmith-pg-"))
        shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", self.USER, "--no-sync",
                          "-E", "UTF8")
        self.start()

    def _as_postgres(self, *cmd: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                          f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200", "start")

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class ServerProcess:
    """`cardsmith server run` on a free loopback port, with its stderr (the request log) kept in a file."""

    def __init__(self, env: dict[str, str], db_url: str, workers: int = 1) -> None:
        self.env, self.db_url, self.workers = env, db_url, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(env["CARDSMITH_HOME"]) / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([*CARDSMITH, "server", "run", "--db", self.db_url, "--listen",
                                      f"127.0.0.1:{self.port}", "--workers", str(self.workers)], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not get ready in 60 s: {self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL to the whole process group (workers too): a crash, not a shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_lines(self, until: str | None = None, wait: float = 10.0) -> list[str]:
        """The server's log; with ``until``, first waits (at most ``wait`` s) for a line holding it: the
        request log line is written after the response went out, so a fast client can read before it."""
        deadline = time.monotonic() + wait
        while True:
            lines = self.log_path.read_text().splitlines()
            if until is None or any(until in line for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


def grant(env: dict[str, str], db_url: str, issuer: str, role: str, name: str) -> str:
    """A key granted through the CLI, as an operator does."""
    import json

    done = run(env, "--json", "server", "key", "add", "--db", db_url, "--issuer", issuer, "--role", role,
               "--name", name)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["key"]


def client(server: ServerProcess, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)
