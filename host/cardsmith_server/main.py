"""Starting the server and granting keys: what `cardsmith server ...` calls."""

from __future__ import annotations

import os

from .settings import ServerSettings, parse_listen


def app_from_env():  # noqa: ANN201 - the FastAPI app, built in each worker process
    from .app import create_app

    return create_app(ServerSettings.from_env())


def run(db_url: str | None, listen: str, workers: int = 1) -> None:
    """Serves until stopped (SIGINT/SIGTERM). ``workers`` > 1 starts that many processes on one socket."""
    import uvicorn

    from .app import create_app

    host, port = parse_listen(listen)
    settings = ServerSettings.from_env(db_url)
    os.environ["CARDSMITH_SERVER_DB"] = settings.db_url  # for worker processes
    create_app(settings)  # migrate once, and fail here (clearly) when the database is unreachable
    uvicorn.run("cardsmith_server.main:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", timeout_graceful_shutdown=5)


def add_key(db_url: str | None, issuer: str, role: str, name: str) -> dict:
    """Grants a key straight in the database (the first admin key of an issuer comes from here)."""
    from . import auth
    from .db import make_engine, migrate

    engine = make_engine(ServerSettings.from_env(db_url).db_url)
    migrate(engine)
    with engine.begin() as conn:
        who, text = auth.create_key(conn, issuer, role, name)
    engine.dispose()
    return {"key_id": who.key_id, "issuer": who.issuer, "role": who.role, "name": who.name, "key": text}
