"""What every command gets: the global options, and ways to open the card and print results."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..core.card import Card
    from ..remote import ServerClient


@dataclass
class Settings:
    reader: str | None
    verbose: bool
    as_json: bool
    server: str | None = None  # --server / CARDSMITH_SERVER: the issuer server's URL
    as_cert: Path | None = None  # --as: every card opened runs in a session as this certificate
    as_key: Path | None = None

    def trace(self, line: str) -> None:
        click.echo(line, err=True)

    def open_card(self, reader: str | None = None) -> Card:
        """The card in ``reader`` (default: the global --reader), applet selected; traced with -v."""
        from ..transport.readers import open_card

        card = open_card(reader or self.reader, trace=self.trace if self.verbose else None)
        if self.as_cert is not None:
            from .trust import open_session

            try:
                open_session(self, card)
            except BaseException:
                card.close()
                raise
        if getattr(card.transport, "ephemeral", False) and not self.as_json:
            self.notice(f"no `cardsmith sim` service runs, so {card.transport.name} lives for this command only "
                        "(whatever it changes is gone afterwards; `cardsmith sim start` keeps cards)")
        return card

    @contextlib.contextmanager
    def server_client(self, required: bool = False) -> Iterator[ServerClient | None]:
        """The issuer server's client when --server / CARDSMITH_SERVER is set (else None, or with ``required``
        a UsageError), with the station's key from CARDSMITH_SERVER_KEY or CARDSMITH_SERVER_KEY_FILE."""
        if not self.server:
            if required:
                from ..core.errors import UsageError

                raise UsageError("this needs the issuer server: give --server URL or set CARDSMITH_SERVER")
            yield None
            return
        from ..remote import connect

        client = connect(self.server)
        try:
            yield client
        finally:
            client.close()

    def notice(self, line: str) -> None:
        """A sentence the technician should read, on stderr (so --json output stays one document)."""
        click.echo(f"note: {line}", err=True)

    def emit(self, data: Any, text: str) -> None:
        """Prints ``text`` for people, or ``data`` as JSON with --json."""
        if self.as_json:
            json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
            sys.stdout.write("\n")
        else:
            click.echo(text)

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Callable[[int, int], None] | None]:
        """A progress callback ``(done, total)`` drawing a bar on stderr; none with --json or when stderr is
        not a terminal (a log or a pipe gets the result lines only, not stray labels)."""
        if self.as_json or not sys.stderr.isatty():
            yield None
            return
        bar = click.progressbar(length=1000, label=label, file=sys.stderr)
        shown = [0]

        def update(done: int, total: int) -> None:
            target = done * 1000 // max(total, 1)
            bar.update(target - shown[0])
            shown[0] = target

        with bar:
            yield update


def secret(value: str | None, what: str, env: str, *, new: bool = False, file: Path | None = None,
           file_option: str = "") -> str:
    """A secret from its option, else from the file of its ``--...-file`` option, else from the environment
    variable ``env``, else from the file named by ``${env}_FILE``, else asked on the terminal (hidden; a new one
    twice). Files are read by ``core.keys.read_secret_file`` (one line). Without a terminal it is a usage error
    naming the ways, never a hanging prompt or a GetPassWarning (as ykman does)."""
    from ..core.errors import UsageError
    from ..core.keys import read_secret_file

    if value:
        return value
    if file is not None:
        return read_secret_file(file, file_option or what)
    if os.environ.get(env):
        return os.environ[env]
    if os.environ.get(f"{env}_FILE"):
        return read_secret_file(os.environ[f"{env}_FILE"], f"${env}_FILE")
    if not sys.stdin.isatty():
        raise UsageError(f"no terminal to ask for the {what}: give it with its option, in ${env}, "
                         f"or in a file named by ${env}_FILE")
    return click.prompt(what, hide_input=True, confirmation_prompt=new)


def secret_file_option(name: str, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--NAME-file FILE``: the secret read from a file (one line), for scripts."""
    return click.option(f"--{name}-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                        help=f"Read the {what} from FILE (one line).")


def confirm(question: str, yes: bool) -> None:
    """Asks before something that cannot be undone; ``--yes`` skips it. Without a terminal it refuses unless
    ``--yes`` (a script must say so), and a "no" stops the command before anything is sent or written."""
    from ..core.errors import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} There is no terminal to confirm it: add --yes to go ahead")
    if not click.confirm(question, default=False, err=True):
        raise UsageError("not confirmed: nothing was done")


keep_open_option = click.option(
    "--keep-open", is_flag=True,
    help="Leave personalisation open (lifecycle INSTALLED: a development card); by default the card ends ISSUED.")


def finish_personalisation(card: Card, keep_open: bool) -> tuple[str, str]:
    """Closes personalisation on ``card`` unless ``keep_open``; returns its lifecycle name and the line that
    says so (the CLI flows that leave a card for the field end ISSUED unless the user asks otherwise)."""
    info = card.info()
    card_id = info.card_id.hex().upper()
    if not info.installed:
        return info.lifecycle_name, f"card {card_id} is {info.lifecycle_name} (personalisation was closed before)"
    if keep_open:
        return "INSTALLED", (f"card {card_id} left INSTALLED (--keep-open): personalisation stays open, so its "
                             "issuer-only commands still run in clear; not for the field")
    card.close_personalisation()
    return "ISSUED", f"card {card_id} is now ISSUED: personalisation closed for good"


yes_option = click.option("--yes", "-y", "yes", is_flag=True, help="Do not ask for confirmation.")

pass_settings = click.make_pass_decorator(Settings)
