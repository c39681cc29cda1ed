"""What every command gets: the global options, and ways to open the card and print results."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click


@dataclass
class Settings:
    reader: str | None
    verbose: bool
    as_json: bool

    def trace(self, line: str) -> None:
        click.echo(line, err=True)

    def open_card(self):  # -> cardsmith.card.Card
        from ..card import open_card

        return open_card(self.reader, trace=self.trace if self.verbose else None)

    def emit(self, data: Any, text: str) -> None:
        """Prints ``text`` for people, or ``data`` as JSON with --json."""
        if self.as_json:
            json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
            sys.stdout.write("\n")
        else:
            click.echo(text)


pass_settings = click.make_pass_decorator(Settings)
