"""Server fixtures (imported by each server test module: a conftest.py here would shadow tests/conftest.py,
which other groups import by name): one PostgreSQL per module that needs one; per module, a database (SQLite file
or a fresh PostgreSQL database) and a server process on it, with keys for two issuers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from server_helpers import Postgres, ServerProcess, grant

from cli_helpers import base_env


def _require_postgres() -> bool:
    return os.environ.get("CARDSMITH_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        pg = Postgres()
    except Exception as exc:  # noqa: BLE001 - turned into skip or failure
        if _require_postgres():
            pytest.fail(f"PostgreSQL unavailable and CARDSMITH_REQUIRE_POSTGRES=1: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield pg
    pg.destroy()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('serverdb') / 'server.sqlite'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.create_database(f"t_{uuid.uuid4().hex[:12]}")


@dataclass
class Deployment:
    server: ServerProcess
    db_url: str
    env: dict[str, str]
    admin: str  # keys of issuer "acme"
    station: str
    station2: str
    terminal: str
    other_station: str  # a station of issuer "globex"


@pytest.fixture(scope="module")
def deployment(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    env = base_env(tmp_path_factory.mktemp("serverhome"))
    keys = {name: grant(env, db_url, issuer, role, name) for name, issuer, role in [
        ("admin", "acme", "admin"), ("station", "acme", "station"), ("station2", "acme", "station"),
        ("terminal", "acme", "terminal"), ("other_station", "globex", "station")]}
    server = ServerProcess(env, db_url).start()
    yield Deployment(server, db_url, env, **keys)
    server.stop()
