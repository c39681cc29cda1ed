"""`cardsmith sync`: what this station did offline (backups, issuance outcomes), to the issuer server."""

from __future__ import annotations

from pathlib import Path

import click

from .backup import dir_option
from .context import Settings, pass_settings


@click.command()
@dir_option
@pass_settings
def sync(settings: Settings, directory: Path | None) -> None:
    """Upload this station's backups the server lacks and the issuance outcomes it has not heard yet.

    \b
    Example:  CARDSMITH_SERVER=http://issuer.example:8470 cardsmith sync
    """
    from ..backup import default_dir, open_catalogue
    from ..remote import Outbox
    from ..remote import sync as run

    with settings.server_client(required=True) as server:
        report = run(server, open_catalogue(directory or default_dir()), Outbox())  # type: ignore[arg-type]
    settings.emit(report.as_json(), report.describe())
    report.raise_for_conflicts()
