"""The `cardsmith` command line. Subcommands are imported only when run, so `--help` stays fast."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from .context import Settings

# name -> "module:attribute" under cardsmith.cli; one line per command.
COMMANDS: dict[str, tuple[str, str]] = {
    "readers": ("cardsmith.cli.basic:readers", "List readers (simulated and PC/SC) with card presence and ATR."),
    "info": ("cardsmith.cli.basic:info", "Show the card's applet version, id, lifecycle, memory and geometry."),
    "apdu": ("cardsmith.cli.basic:apdu", "Send raw APDUs given in hex (like `opensc-tool -s`)."),
    "sim": ("cardsmith.cli.sim:sim", "Start, inspect and stop the simulated cards (jCardSim)."),
    # backup and restore
    "backup": ("cardsmith.cli.backup:backup", "Back up the card's data area, encrypted by the card (full or diff)."),
    "restore": ("cardsmith.cli.backup:restore", "Restore a backup chain onto this card or a replacement card."),
    "backups": ("cardsmith.cli.backup:backups", "The backup catalogue: list, show, verify, export, import."),
    "data": ("cardsmith.cli.backup:data", "The card's data area: regions, read, write, define."),
    # duplication and files
    "duplicate": ("cardsmith.cli.dup:duplicate", "Make a backup card holding the main card's key (exported once)."),
    "key": ("cardsmith.cli.dup:key", "The card's key pair and key group: personalise, generate, public, status, lock."),
    "pin": ("cardsmith.cli.dup:pin", "The holder PIN: verify, change, reset."),
    "files": ("cardsmith.cli.dup:files", "Files encrypted to a card: encrypt, decrypt, share, recover."),
    # self-issuance
    "prepare": ("cardsmith.cli.selfissue:prepare", "Seal one bundle per cardholder from a profile and a CSV."),
    "issue": ("cardsmith.cli.selfissue:issue", "Write a card's bundle and START it; resumes pulled cards."),
    "bundle-status": ("cardsmith.cli.selfissue:bundle_status_cmd", "Show the card's self-issuance progress."),
    "bundle-clear": ("cardsmith.cli.selfissue:bundle_clear", "Erase the bundle and what it wrote (not after ISSUED)."),
    "personalise": ("cardsmith.cli.selfissue:personalise", "Conventional command-by-command personalisation."),
    # trust
    "issuer": ("cardsmith.cli.trust:issuer", "The issuer's root key and certificates: init, certify, show, enrol."),
    # the issuer server
    "sync": ("cardsmith.cli.remote:sync", "Upload what this station did offline to the issuer server."),
    "server": ("cardsmith.cli.server:server", "The issuer server shared by every station: run it, grant keys."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help straight from COMMANDS: listing commands must not import them.
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EPILOG = """\b
Exit codes: 0 ok, 1 other failure, 2 usage error, 3 no reader / no card / card removed,
4 card refused the command, 5 simulator or build missing, 6 bad or tampered data.
With no --reader, cardsmith uses simulated card 0 (the `cardsmith sim` service if it runs,
otherwise a simulator started for this command only)."""


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-r", "--reader", envvar="CARDSMITH_READER", help="Reader name, or a unique part of it.")
@click.option("-v", "--verbose", is_flag=True, help="Print the APDU trace (PINs and keys masked) to stderr.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--server", envvar="CARDSMITH_SERVER", metavar="URL",
              help="The issuer server (backup, restore, issue, sync); the key from CARDSMITH_SERVER_KEY or the "
                   "file CARDSMITH_SERVER_KEY_FILE. Unreachable: the station works locally, `sync` uploads later.")
@click.option("--as", "as_cert", type=click.Path(path_type=Path), envvar="CARDSMITH_AS",
              help="Run in an authenticated session as this certificate file (`issuer certify`).")
@click.option("--as-key", type=click.Path(path_type=Path), help="Its key file (default: CERT with .key).")
@click.version_option(package_name="cardsmith")
@click.pass_context
def cli(ctx: click.Context, reader: str | None, verbose: bool, as_json: bool, server: str | None,
        as_cert: Path | None, as_key: Path | None) -> None:
    """cardsmith: issue, back up, restore and duplicate smart cards."""
    ctx.obj = Settings(reader=reader, verbose=verbose, as_json=as_json, server=server, as_cert=as_cert,
                       as_key=as_key)


def main(argv: list[str] | None = None) -> None:
    from ..core.errors import CardsmithError
    from .exitcodes import exit_code

    try:
        cli.main(args=argv, prog_name="cardsmith", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except CardsmithError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code(exc))
    except OSError as exc:  # disk full, permissions, a missing folder: say which file, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}: check the path, its permissions and free space "
                   "(CARDSMITH_HOME sets where cardsmith keeps its files)", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(0)
