"""`cardsmith server`: the issuer server (package cardsmith_server, loaded only here)."""

from __future__ import annotations

import click

from ..core.errors import EnvironmentProblem
from .context import Settings, pass_settings

DB_HELP = "Database URL: sqlite:///PATH (default: $CARDSMITH_HOME/server.sqlite) or postgresql://USER@HOST:PORT/DB."


def _server():  # noqa: ANN202 - the module cardsmith_server.main
    try:
        from cardsmith_server import main
    except ImportError as exc:
        raise EnvironmentProblem(f"the issuer server needs its packages ({exc.name} is missing): "
                                 "pip install 'cardsmith[server]'") from exc
    return main


@click.group()
def server() -> None:
    """The issuer server shared by every station: run it, grant keys."""


@server.command("run")
@click.option("--db", "db_url", envvar="CARDSMITH_SERVER_DB", help=DB_HELP)
@click.option("--listen", default="127.0.0.1:8470", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port (use PostgreSQL for more than one machine).")
def run(db_url: str | None, listen: str, workers: int) -> None:
    """Serve the API and the operator page until stopped (one JSON log line per request on stderr).

    \b
    Example:  cardsmith server run --db postgresql+psycopg://cardsmith@127.0.0.1/cardsmith --listen 0.0.0.0:8470
    """
    _server().run(db_url, listen, workers)


@server.group("key")
def key() -> None:
    """API keys (stored hashed; each has one role in one issuer)."""


@key.command("add")
@click.option("--db", "db_url", envvar="CARDSMITH_SERVER_DB", help=DB_HELP)
@click.option("--issuer", required=True, help="The issuer the key belongs to (it sees only that issuer's data).")
@click.option("--role", required=True, type=click.Choice(["admin", "station", "terminal"]))
@click.option("--name", required=True, help="Who holds it: the desk or terminal.")
@pass_settings
def key_add(settings: Settings, db_url: str | None, issuer: str, role: str, name: str) -> None:
    """Grant a key (printed once; only its hash is kept).

    \b
    Example:  cardsmith server key add --issuer acme --role station --name desk-1
    """
    granted = _server().add_key(db_url, issuer, role, name)
    settings.emit(granted, f"{granted['role']} key {granted['key_id']} for {granted['issuer']} ({granted['name']}):\n"
                  f"{granted['key']}\nshown once: keep it in the station's CARDSMITH_SERVER_KEY")
