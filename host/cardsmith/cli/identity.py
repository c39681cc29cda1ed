"""identity (issue, show, deny-file): the issuer's side of the offline identity (docs/identity.md)."""

from __future__ import annotations

import datetime
from pathlib import Path

import click

from .context import Settings, finish_personalisation, keep_open_option, pass_settings, secret, secret_file_option
from .trust import ISSUER_PASSPHRASE, passphrase


@click.group()
def identity() -> None:
    """The issuer's side of the offline identity: issue a card, show it, sign a deny file."""


def _expiry(expiry: str | None, years: int) -> datetime.date:
    from ..core.errors import UsageError

    if expiry:
        try:
            return datetime.date.fromisoformat(expiry)
        except ValueError:
            raise UsageError(f"--expiry {expiry!r}: give a date as YYYY-MM-DD") from None
    today = datetime.date.today()
    return today.replace(year=today.year + years) if not (today.month == 2 and today.day == 29) \
        else datetime.date(today.year + years, 3, 1)


@identity.command()
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True, help="The issuer's root key.")
@click.option("--nt", required=True, help="The registration number Nt (1-16 digits; the holder types it).")
@click.option("--ns", help="The set number Ns (4-16 digits; else --ns-file, $CARDSMITH_NS[_FILE], else asked twice).")
@secret_file_option("ns", "set number Ns")
@click.option("--card-number", help="The card number IDU, 16 hex digits (default: random).")
@click.option("--expiry", help="Expiry date YYYY-MM-DD (default: --years from today).")
@click.option("--years", type=int, default=5, show_default=True, help="Validity in years when no --expiry.")
@keep_open_option
@pass_settings
def issue(settings: Settings, key_path: Path, nt: str, ns: str | None, ns_file: Path | None,
          card_number: str | None, expiry: str | None, years: int, keep_open: bool) -> None:
    """Write an issuer-signed identity onto an INSTALLED card (enrolling it first), then close it.

    Stores Nt, Ns (never readable afterwards), IDU and expiry; the card answers its Ns commitment and its own
    identity key, the issuer signs SA2 and SA1 over them, and the card checks both before keeping them.

    \b
    Example:  CARDSMITH_NS=90817263 cardsmith -r "sim 1" identity issue --key issuer.key --nt 12345678
    """
    from ..identity import issue_identity, new_idu
    from ..identity.deny import card_number as parse_card_number
    from ..trust.issuer import load_issuer

    idu = parse_card_number(card_number) if card_number else new_idu()
    day = _expiry(expiry, years)
    set_number = secret(ns, "set number Ns", "CARDSMITH_NS", new=True, file=ns_file, file_option="--ns-file")
    root = load_issuer(key_path, passphrase(ISSUER_PASSPHRASE, f"the issuer key {key_path}"))
    with settings.open_card() as card:
        made = issue_identity(card, root, nt, set_number, idu, day)
        lifecycle, line = finish_personalisation(card, keep_open)
    settings.emit({"nt": made.nt_text, "card_number": made.idu.hex().upper(), "expiry": made.expiry.isoformat(),
                   "public_key": made.public_key.hex().upper(), "lifecycle": lifecycle},
                  f"identity Nt {made.nt_text}, card number {made.idu.hex().upper()}, valid until {made.expiry}, "
                  f"signed by issuer {root.key_id.hex().upper()}\n{line}")


@identity.command()
@pass_settings
def show(settings: Settings) -> None:
    """Show the card's identity and state (what GET IDENTITY answers; Ns never leaves the card).

    \b
    Example:  cardsmith -r "sim 1" identity show
    """
    from ..identity import IdentitySession

    with settings.open_card() as card:
        ident = IdentitySession(card).identity()
    st = ident.state
    data = {"nt": ident.nt_text, "card_number": ident.idu.hex().upper(), "expiry": ident.expiry.isoformat(),
            "public_key": ident.public_key.hex().upper(), "pin_set": st.pin_set, "invalid": st.invalid,
            "set_number_tries": st.ns_tries, "pin_tries": st.pin_tries, "atc": st.atc}
    settings.emit(data, "\n".join(f"{k:17} {v}" for k, v in data.items()))


@identity.command("deny-file")
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True, help="The issuer's root key.")
@click.option("--version", "version", type=int, required=True, help="The list's version (grows with every list).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The signed deny file to write.")
@click.argument("card_numbers", nargs=-1)
@pass_settings
def deny_file(settings: Settings, key_path: Path, version: int, out: Path, card_numbers: tuple[str, ...]) -> None:
    """Sign a deny list of card numbers for terminals without the server (cardsmith terminal deny-list update).

    \b
    Example:  cardsmith identity deny-file --key issuer.key --version 3 --out deny.json 1D0000000000C0DE
    """
    from ..identity.deny import card_number, write_signed
    from ..trust.issuer import load_issuer

    numbers = [card_number(n) for n in card_numbers]
    root = load_issuer(key_path, passphrase(ISSUER_PASSPHRASE, f"the issuer key {key_path}"))
    doc = write_signed(root, out, version, numbers)
    settings.emit(doc, f"deny list version {version} with {len(doc['card_numbers'])} card number(s) signed: {out}")
