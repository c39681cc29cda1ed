"""terminal (verify, register-pin, charge, log, upload, deny-list): an identity terminal (docs/identity.md).

The terminal is its certificate (``--cert``, from ``cardsmith issuer certify --role terminal``; it carries the
issuer key cards are checked against), its key (``--key``, default beside the certificate), and its log
(``--log``, SQLite: usage records, pending charges, the deny list). No network except for upload and a
deny-list update from the server.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .context import Settings, confirm, pass_settings, secret, secret_file_option, yes_option
from .trust import KEY_PASSPHRASE, passphrase


def _terminal_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--log", "log_path", type=click.Path(path_type=Path),
                     help="The terminal log (default $CARDSMITH_TERMINAL_LOG, else CARDSMITH_HOME/terminal.sqlite).")(f)
    f = click.option("--key", "key_path", type=click.Path(path_type=Path),
                     help="The terminal's key file (default: the certificate's path with .key).")(f)
    return click.option("--cert", "cert_path", type=click.Path(path_type=Path), envvar="CARDSMITH_TERMINAL_CERT",
                        required=True, help="The terminal's certificate ($CARDSMITH_TERMINAL_CERT).")(f)


def _log_path(log_path: Path | None) -> Path:
    from ..core.paths import home

    return log_path or Path(os.environ.get("CARDSMITH_TERMINAL_LOG") or home() / "terminal.sqlite")


def _terminal(cert_path: Path, key_path: Path | None, log_path: Path | None, *, need_key: bool = True):  # noqa: ANN202
    from ..identity import Terminal, TerminalLog
    from ..trust import Credential, keyfile

    credential = Credential.load(cert_path)
    key = None
    if need_key:
        path = key_path or cert_path.with_suffix(".key")
        key = keyfile.load(path, passphrase(KEY_PASSPHRASE, f"the key file {path}"))
    log = TerminalLog(_log_path(log_path))
    return Terminal(credential.issuer_key, credential, key, deny=log.deny(), log=log)


@click.group()
def terminal() -> None:
    """An offline identity terminal: verify cards, register PINs, charge, keep and upload the records."""


@terminal.command()
@click.option("--with-pin", is_flag=True, help="Also check the holder PIN (asked, or $CARDSMITH_PIN).")
@secret_file_option("pin", "holder PIN")
@_terminal_options
@pass_settings
def verify(settings: Settings, with_pin: bool, pin_file: Path | None, cert_path: Path, key_path: Path | None,
           log_path: Path | None) -> None:
    """Verify the card offline: SA1 under the issuer key, expiry, deny list, and its key over a fresh nonce.

    \b
    Example:  cardsmith -r "sim 1" terminal verify --cert door.cert
    """
    term = _terminal(cert_path, key_path, log_path, need_key=False)
    pin = secret(None, "PIN", "CARDSMITH_PIN", file=pin_file, file_option="--pin-file") if with_pin else None
    with settings.open_card() as card:
        ident = term.verify(card, pin)
    data = {"verdict": "genuine", "nt": ident.nt_text, "card_number": ident.idu.hex().upper(),
            "expiry": ident.expiry.isoformat(), "pin": "verified" if with_pin else "not checked"}
    settings.emit(data, f"genuine card: Nt {ident.nt_text}, card number {ident.idu.hex().upper()}, valid until "
                  f"{ident.expiry}" + (", PIN verified" if with_pin else ""))


@terminal.command("register-pin")
@click.option("--nt", help="The registration number as the holder typed it (else asked, up to 3 tries).")
@secret_file_option("ns", "set number Ns")
@secret_file_option("new-pin", "new PIN")
@_terminal_options
@pass_settings
def register_pin(settings: Settings, nt: str | None, ns_file: Path | None, new_pin_file: Path | None,
                 cert_path: Path, key_path: Path | None, log_path: Path | None) -> None:
    """Register (or replace) the holder PIN: Nt typed (3 tries), the set number Ns, the new PIN twice.

    Ns: --ns-file, $CARDSMITH_NS[_FILE], else asked; the new PIN: --new-pin-file, $CARDSMITH_NEW_PIN[_FILE],
    else asked twice. Three wrong set numbers make the card invalid for good.

    \b
    Example:  CARDSMITH_NS=90817263 CARDSMITH_NEW_PIN=4321 cardsmith terminal register-pin --cert t.cert --nt 12345678
    """
    import sys

    from ..core.errors import UsageError

    if not nt and not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the registration number: give it with --nt")
    term = _terminal(cert_path, key_path, log_path)
    attempts = [nt] if nt else (click.prompt("registration number (Nt)") for _ in range(3))
    ns = secret(None, "set number Ns", "CARDSMITH_NS", file=ns_file, file_option="--ns-file")
    pin = secret(None, "new PIN", "CARDSMITH_NEW_PIN", new=True, file=new_pin_file, file_option="--new-pin-file")
    with settings.open_card() as card:
        ident = term.register_pin(card, attempts, ns, pin, pin)
    settings.emit({"nt": ident.nt_text, "card_number": ident.idu.hex().upper(), "pin": "registered"},
                  f"PIN registered on card {ident.idu.hex().upper()} (Nt {ident.nt_text})")


@terminal.command()
@click.argument("amount", type=click.IntRange(0, 0xFFFFFFFF))
@secret_file_option("pin", "holder PIN")
@click.option("--plain", is_flag=True, help="Send the PIN in clear (no session): the EMV-style baseline.")
@_terminal_options
@pass_settings
def charge(settings: Settings, amount: int, pin_file: Path | None, plain: bool, cert_path: Path,
           key_path: Path | None, log_path: Path | None) -> None:
    """Charge AMOUNT (minor units): PIN, then the card signs the usage record (ATC + 1), kept in the log.

    \b
    Example:  CARDSMITH_PIN=4321 cardsmith -r "sim 1" terminal charge 250 --cert t.cert
    """
    term = _terminal(cert_path, key_path, log_path, need_key=not plain)
    pin = secret(None, "PIN", "CARDSMITH_PIN", file=pin_file, file_option="--pin-file")
    with settings.open_card() as card:
        record = term.charge(card, amount, pin, secure=not plain)
    settings.emit({"card_number": record.idu.hex().upper(), "nt": record.nt.decode(), "charge": record.charge,
                   "atc": record.atc, "time": record.time.isoformat()},
                  f"charged {record.charge} to card {record.idu.hex().upper()} (ATC {record.atc}), record signed "
                  "by the card and logged")


@terminal.command("mark-invalid")
@yes_option
@_terminal_options
@pass_settings
def mark_invalid(settings: Settings, yes: bool, cert_path: Path, key_path: Path | None, log_path: Path | None) -> None:
    """Mark the card invalid for good (fraud suspected): afterwards it answers only GET INFO and GET IDENTITY.

    \b
    Example:  cardsmith -r "sim 1" terminal mark-invalid --cert t.cert --yes
    """
    term = _terminal(cert_path, key_path, log_path)
    confirm("Mark this card invalid for good? It can never be used again.", yes)
    with settings.open_card() as card:
        ident = term.mark_invalid(card)
    settings.emit({"card_number": ident.idu.hex().upper(), "invalid": True},
                  f"card {ident.idu.hex().upper()} is marked invalid for good")


@terminal.command()
@click.option("--log", "log_path", type=click.Path(path_type=Path), help="The terminal's log (default as above).")
@pass_settings
def log(settings: Settings, log_path: Path | None) -> None:
    """List the card-signed usage records in the terminal's log (and charges whose answer was lost).

    \b
    Example:  cardsmith terminal log --json
    """
    from ..identity import TerminalLog

    store = TerminalLog(_log_path(log_path))
    rows = [r.as_json() for r in store.records()]
    pending = [{"nonce": n, "card_number": c, "charge": a} for n, c, a in store.pending()]
    lines = [f"{r['card_number']} ATC {r['atc']:>5} {r['charge']:>10} {r['time']} "
             f"{'uploaded' if r['uploaded'] else 'to upload'}" for r in rows]
    lines += [f"{p['card_number']} pending charge {p['charge']} (answer lost; settled at the card's next insertion)"
              for p in pending]
    settings.emit({"records": rows, "pending": pending}, "\n".join(lines) or "no usage record")


@terminal.command()
@click.option("--log", "log_path", type=click.Path(path_type=Path), help="The terminal's log (default as above).")
@pass_settings
def upload(settings: Settings, log_path: Path | None) -> None:
    """Upload the records the server has not acknowledged yet (safe to repeat; records stay until acknowledged).

    \b
    Example:  CARDSMITH_SERVER_KEY=... cardsmith --server http://127.0.0.1:8470 terminal upload
    """
    from ..identity import TerminalLog
    from ..identity.upload import upload as run_upload

    store = TerminalLog(_log_path(log_path))
    with settings.server_client(required=True) as client:
        result = run_upload(store, client)  # type: ignore[arg-type]
    lines = [f"uploaded: {result.stored} stored, {result.repeated} already held, {result.left} left to upload"]
    lines += [f"refused: card {r['card_id']} ATC {r['counter']}: {r['reason']}" for r in result.refused]
    settings.emit(result.as_json(), "\n".join(lines))


@terminal.group("deny-list")
def deny_list() -> None:
    """The terminal's deny list of card numbers: update (from the server or a signed file), show."""


@deny_list.command("update")
@click.option("--file", "file", type=click.Path(path_type=Path), help="A deny file signed by the issuer.")
@_terminal_options
@pass_settings
def deny_update(settings: Settings, file: Path | None, cert_path: Path, key_path: Path | None,
                log_path: Path | None) -> None:
    """Replace the deny list from the issuer server (changes since the version held) or a signed file.

    \b
    Example:  cardsmith terminal deny-list update --cert t.cert --file deny.json
    """
    from ..core.errors import BadDataError
    from ..identity import deny

    term = _terminal(cert_path, key_path, log_path, need_key=False)
    store = term.log
    assert store is not None
    held = store.deny_version()
    if file is not None:
        version, numbers = deny.read_signed(file, term.issuer_point)
        if held and held[0] == "file" and version < held[1]:
            raise BadDataError(f"{file} is deny list version {version}, older than the version {held[1]} this "
                               "terminal holds: an old list could let a stolen card in; nothing changed")
        store.replace_deny("file", version, numbers, set(), full=True)
    else:
        with settings.server_client(required=True) as client:
            since = held[1] if held and held[0] == "server" else None
            answer, etag = client.deny_list(since, held[2] if held and held[0] == "server" else None)  # type: ignore[union-attr]
        if answer is None:
            settings.emit({"version": held[1] if held else 0, "changed": False}, "the deny list is up to date")
            return
        version, add, remove, full = deny.from_server(answer)
        store.replace_deny("server", version, add, remove, full=full, etag=etag)
    count = len(store.deny())
    settings.emit({"version": version, "card_numbers": count, "changed": True},
                  f"deny list version {version}: {count} card number(s) refused by this terminal")


@deny_list.command("show")
@click.option("--log", "log_path", type=click.Path(path_type=Path), help="The terminal's log (default as above).")
@pass_settings
def deny_show(settings: Settings, log_path: Path | None) -> None:
    """Show the card numbers this terminal refuses and where the list came from.

    \b
    Example:  cardsmith terminal deny-list show
    """
    from ..identity import TerminalLog

    store = TerminalLog(_log_path(log_path))
    held = store.deny_version()
    numbers = sorted(n.hex().upper() for n in store.deny())
    data = {"source": held[0] if held else None, "version": held[1] if held else 0, "card_numbers": numbers}
    head = f"deny list version {data['version']} from {data['source'] or 'nowhere yet'}"
    settings.emit(data, "\n".join([head, *numbers]))
