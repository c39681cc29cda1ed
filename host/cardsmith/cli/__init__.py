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
    "doctor": ("cardsmith.cli.basic:doctor", "Check java, simulator, pcscd, readers and the card; say what to fix."),
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
    "issuance": ("cardsmith.cli.selfissue:issuance", "The issuance log: which card received which record."),
    # trust
    "issuer": ("cardsmith.cli.trust:issuer", "The issuer's root key and certificates: init, certify, show, enrol."),
    # offline identity
    "identity": ("cardsmith.cli.identity:identity", "Offline identity, the issuer's side: issue, show, deny-file."),
    "terminal": ("cardsmith.cli.terminal:terminal", "An identity terminal: verify, register-pin, charge, log, upload."),
    # remote update
    "update": ("cardsmith.cli.update:update", "Fetch and apply the issuer's updates for this card from the server."),
    # the issuer server
    "sync": ("cardsmith.cli.remote:sync", "Upload what this station did offline to the issuer server."),
    "server": ("cardsmith.cli.server:server", "The issuer server shared by every station: run it, grant keys."),
}


class LazyGroup(click.Group):
    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: ANN201 - click's own signature
        name = args[0] if args else ""
        if name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint} (`cardsmith --help` lists them)")
        return super().resolve_command(ctx, args)

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
4 card refused the command, 5 simulator or build missing, 6 bad or tampered data,
130 interrupted. Global options may also follow the command (cardsmith info --json).
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
@click.version_option(None, "-V", "--version", package_name="cardsmith")
@click.pass_context
def cli(ctx: click.Context, reader: str | None, verbose: bool, as_json: bool, server: str | None,
        as_cert: Path | None, as_key: Path | None) -> None:
    """cardsmith: issue, back up, restore and duplicate smart cards."""
    ctx.obj = Settings(reader=reader, verbose=verbose, as_json=as_json, server=server, as_cert=as_cert,
                       as_key=as_key)


GLOBAL_FLAGS = {"-v", "--verbose", "--json"}
GLOBAL_VALUED = {"-r", "--reader", "--server", "--as", "--as-key"}


def lift_global_options(argv: list[str]) -> list[str]:
    """Global options given after the subcommand (`cardsmith info --json`, as gp users write) moved before it.

    Only -v/--verbose, --json, -r/--reader NAME, --server URL, --as CERT and --as-key KEY are lifted (no
    subcommand has options of these names); the
    rest stays where it was, and nothing after `--` moves."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    seen_command = False
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if not seen_command:
            if arg in GLOBAL_VALUED and i + 1 < len(argv):
                front += argv[i:i + 2]
                i += 2
                continue
            if not arg.startswith("-"):
                seen_command = True
            (rest if seen_command else front).append(arg)
        elif arg in GLOBAL_FLAGS or arg.startswith("--reader="):
            front.append(arg)
        elif arg in GLOBAL_VALUED and i + 1 < len(argv):
            front += argv[i:i + 2]
            i += 2
            continue
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> None:
    from ..core.errors import CardsmithError
    from .exitcodes import EXIT_INTERRUPTED, exit_code

    args = lift_global_options(sys.argv[1:] if argv is None else list(argv))
    try:
        cli.main(args=args, prog_name="cardsmith", standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C (click turns KeyboardInterrupt into Abort) or end of input at a prompt
        click.echo("interrupted: nothing more was sent to the card", err=True)
        sys.exit(EXIT_INTERRUPTED)
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
        click.echo("interrupted: nothing more was sent to the card", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0)
