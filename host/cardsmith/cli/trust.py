"""issuer (init, certify, show, enrol) and the passphrases of key files; `--as` opens sessions with them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..core.errors import UsageError
from .context import Settings, pass_settings

ISSUER_PASSPHRASE = "CARDSMITH_ISSUER_PASSPHRASE"
KEY_PASSPHRASE = "CARDSMITH_KEY_PASSPHRASE"


def passphrase(env: str, what: str, *, confirm: bool = False) -> bytes:
    """The passphrase of a key file: from ``env``, else asked on the terminal (never an argument)."""
    value = os.environ.get(env)
    if value:
        return value.encode()
    if not sys.stdin.isatty():
        raise UsageError(f"the passphrase of {what} is needed: set {env} (no terminal to ask on)")
    return click.prompt(f"passphrase of {what}", hide_input=True, confirmation_prompt=confirm).encode()


def open_session(settings: Settings, card: object) -> None:
    """--as CERT: an authenticated session on ``card`` (Settings.open_card calls this)."""
    from ..trust.session import open_as

    assert settings.as_cert is not None
    key = settings.as_key or settings.as_cert.with_suffix(".key")
    open_as(card, settings.as_cert, key, passphrase(KEY_PASSPHRASE, f"the key file {key}"))  # type: ignore[arg-type]


@click.group()
def issuer() -> None:
    """The issuer's root key and certificates: init, certify, show, enrol; update packages: sign-update,
    update-service."""


@issuer.command()
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True,
              help="Where to write the root key (encrypted PKCS#8; never overwritten).")
@pass_settings
def init(settings: Settings, key_path: Path) -> None:
    """Create the issuer's root key (P-256). Passphrase: $CARDSMITH_ISSUER_PASSPHRASE, else asked.

    \b
    Example:  cardsmith issuer init --key issuer.key
    """
    from ..trust.issuer import init_issuer

    made = init_issuer(key_path, passphrase(ISSUER_PASSPHRASE, "the new issuer key", confirm=True))
    settings.emit({"key_file": str(key_path), "key_id": made.key_id.hex().upper(),
                   "public_key": made.public_key.hex().upper()},
                  f"issuer key {made.key_id.hex().upper()} written to {key_path}")


@issuer.command()
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True, help="The issuer's root key.")
@click.option("--role", type=click.Choice(["station", "terminal", "service"]), default="station", show_default=True)
@click.option("--permissions", default="none", show_default=True,
              help="Comma-separated: write, read, value, backup, restore, replace, pin_reset, identity, or all.")
@click.option("--days", type=int, default=7, show_default=True, help="Validity from today (short: revocation).")
@click.option("--holder-key", type=click.Path(path_type=Path), required=True,
              help="The holder's key file (made, encrypted, if absent; passphrase $CARDSMITH_KEY_PASSPHRASE).")
@click.option("--holder-id", help="Holder id, 16 hex digits (default: from the holder's key).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The certificate file to write.")
@pass_settings
def certify(settings: Settings, key_path: Path, role: str, permissions: str, days: int, holder_key: Path,
            holder_id: str | None, out: Path) -> None:
    """Certify a station's, terminal's or service's key for sessions with the given permissions.

    \b
    Example:  cardsmith issuer certify --key issuer.key --permissions write,value --holder-key d1.key --out d1.cert
    """
    from ..core.keys import parse_hex
    from ..protocol.codes import CARD_ID_LENGTH
    from ..trust.certificate import parse_permissions
    from ..trust.issuer import certify_key_file, load_issuer

    mask = parse_permissions(permissions)
    holder = parse_hex(holder_id, "--holder-id", (CARD_ID_LENGTH,)) if holder_id else None
    root = load_issuer(key_path, passphrase(ISSUER_PASSPHRASE, f"the issuer key {key_path}"))
    credential = certify_key_file(root, holder_key, passphrase(KEY_PASSPHRASE, f"the key file {holder_key}"),
                                  out, role, mask, days=days, holder_id=holder)
    cert = credential.certificate
    settings.emit(cert.as_json(), f"{role} {cert.holder_id.hex().upper()} certified until {cert.expiry} "
                  f"({', '.join(cert.as_json()['permissions']) or 'no permission'}): {out}")


@issuer.command()
@click.argument("certificate", type=click.Path(path_type=Path))
@pass_settings
def show(settings: Settings, certificate: Path) -> None:
    """Show a certificate file and check its signature against the issuer key it carries.

    \b
    Example:  cardsmith issuer show desk1.cert
    """
    from ..trust.credential import inspect

    cert, verdict = inspect(certificate)
    data = cert.as_json() | {"signature": verdict}
    lines = [f"{k:14} {', '.join(v) if isinstance(v, list) else v}" for k, v in data.items()]
    settings.emit(data, "\n".join(lines))


@issuer.command()
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True, help="The issuer's root key.")
@pass_settings
def enrol(settings: Settings, key_path: Path) -> None:
    """Set the issuer key on an INSTALLED card, certify the card's own key (it can then prove it is genuine) and
    its two remote-update keys.

    \b
    Example:  cardsmith -r "sim 1" issuer enrol --key issuer.key
    """
    from ..trust.issuer import enrol_card, load_issuer
    from ..update.issuer import enrol_for_updates

    root = load_issuer(key_path, passphrase(ISSUER_PASSPHRASE, f"the issuer key {key_path}"))
    with settings.open_card() as card:
        cert = enrol_card(card, root)
        update = enrol_for_updates(card, root)  # the remote-update keys, certified too (docs/update.md)
    settings.emit(cert.as_json() | {"update_certificate": update.encode().hex()},
                  f"card {cert.holder_id.hex().upper()} enrolled with issuer {root.key_id.hex().upper()} (card key "
                  f"{cert.as_json()['key_id']}, until {cert.expiry}); update keys certified")


def _update_commands() -> None:
    from .update import sign_update, update_service

    issuer.add_command(sign_update)
    issuer.add_command(update_service)


_update_commands()
