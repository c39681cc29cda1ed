"""duplicate, key, pin and files: card-to-card duplication and files encrypted to a card."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .context import (
    Settings,
    confirm,
    finish_personalisation,
    keep_open_option,
    pass_settings,
    secret,
    secret_file_option,
    yes_option,
)

if TYPE_CHECKING:
    from ..duplication import DuplicationSession

PIN_HELP = "Holder PIN (else --pin-file, $CARDSMITH_PIN, $CARDSMITH_PIN_FILE, else asked)."
pin_file_option = secret_file_option("pin", "holder PIN")


def _pin(value: str | None, prompt: str = "PIN", file: Path | None = None, env: str = "CARDSMITH_PIN",
         file_option: str = "--pin-file") -> str:
    return secret(value, prompt, env, file=file, file_option=file_option)


@contextlib.contextmanager
def _session(settings: Settings, reader: str | None = None, *, verify: bool = False, pin: str | None = None,
             prompt: str = "PIN", pin_file: Path | None = None, env: str = "CARDSMITH_PIN",
             file_option: str = "--pin-file") -> Iterator[DuplicationSession]:
    """The duplication session of the card in ``reader``; with ``verify``, the PIN (given or asked) verified."""
    from ..duplication import DuplicationSession

    with settings.open_card(reader) as card:
        session = DuplicationSession(card)
        if verify:
            session.verify_pin(_pin(pin, prompt, pin_file, env, file_option))
        yield session


@click.command()
@click.option("--from", "src_reader", required=True, help="Reader holding the main card.")
@click.option("--to", "dst_reader", required=True, help="Reader holding the blank backup card.")
@click.option("--from-pin", help="Main card PIN (else --from-pin-file, $CARDSMITH_FROM_PIN[_FILE], else asked).")
@secret_file_option("from-pin", "main card PIN")
@click.option("--to-pin", help="Backup card PIN (else --to-pin-file, $CARDSMITH_TO_PIN[_FILE], else asked).")
@secret_file_option("to-pin", "backup card PIN")
@click.option("--ask-keys", is_flag=True, help="Type Key2/Key3 (64 hex digits each) instead of generating them.")
@click.option("--private-only", is_flag=True, help="Copy only the private key: the backup can decrypt only.")
@click.option("--no-lock", is_flag=True, help="Leave the key groups unlocked afterwards.")
@keep_open_option
@pass_settings
def duplicate(settings: Settings, src_reader: str, dst_reader: str, from_pin: str | None,
              from_pin_file: Path | None, to_pin: str | None, to_pin_file: Path | None, ask_keys: bool,
              private_only: bool, no_lock: bool, keep_open: bool) -> None:
    """Make the card in --to a backup of the main card in --from (same private key, exported once).

    Both cards end ISSUED (personalisation closed for good) unless --keep-open.

    \b
    Example:  cardsmith duplicate --from "sim 3" --to "sim 4"   (PINs asked)
    """
    from ..core.keys import parse_hex
    from ..duplication import duplicate as run
    from ..duplication.session import SLOT_LENGTH
    from ..protocol.codes import KEY_TYPE_PAIR, KEY_TYPE_PRIVATE

    keys = None
    if ask_keys:
        keys = [parse_hex(click.prompt(f"Key{i} (64 hex digits)", hide_input=True), f"Key{i}", (SLOT_LENGTH,))
                for i in (2, 3)]
    with _session(settings, src_reader) as src, _session(settings, dst_reader) as dst:
        result = run(src, dst, _pin(from_pin, "main card PIN", from_pin_file, "CARDSMITH_FROM_PIN", "--from-pin-file"),
                     _pin(to_pin, "backup card PIN", to_pin_file, "CARDSMITH_TO_PIN", "--to-pin-file"),
                     holder_keys=keys, lock=not no_lock, key_type=KEY_TYPE_PRIVATE if private_only else KEY_TYPE_PAIR,
                     progress=None if settings.as_json else (lambda s: click.echo(f"  {s}", err=True)))
        (main_state, main_line), (backup_state, backup_line) = (finish_personalisation(src.card, keep_open),
                                                                finish_personalisation(dst.card, keep_open))
    settings.emit(dict(result.as_json(), main_lifecycle=main_state, backup_lifecycle=backup_state),
                  f"backup card {result.backup_id.hex().upper()} now holds key "
                  f"{result.key_id.hex().upper()} of main card {result.main_id.hex().upper()}\n"
                  f"{main_line}\n{backup_line}")


@click.group()
def key() -> None:
    """The card's key pair and key group: personalise, generate, public, status, lock."""


@key.command()
@click.option("--pin", help="Initial holder PIN (else --pin-file, $CARDSMITH_NEW_PIN[_FILE], else asked twice).")
@secret_file_option("pin", "initial holder PIN")
@click.option("--key1", "key1_hex", help="Key1 of the key group (64 hex digits, the issuer's; else --key1-file, "
              "$CARDSMITH_KEY1[_FILE], else asked).")
@secret_file_option("key1", "Key1 in hex")
@keep_open_option
@pass_settings
def personalise(settings: Settings, pin: str | None, pin_file: Path | None, key1_hex: str | None,
                key1_file: Path | None, keep_open: bool) -> None:
    """Issuer step (card lifecycle INSTALLED): set the initial PIN and Key1, then close personalisation.

    The card ends ISSUED for good (no PUT_PIN, Key1, common key, region or issuer enrolment afterwards; Key2,
    Key3, key generation, duplication and files keep working under the PIN) unless --keep-open.

    \b
    Example:  CARDSMITH_KEY1=<64 hex> cardsmith -r "sim 1" key personalise   (PIN asked twice)
    """
    from ..core.keys import parse_hex
    from ..duplication import personalise as run
    from ..duplication.session import SLOT_LENGTH

    pin = secret(pin, "new PIN", "CARDSMITH_NEW_PIN", new=True, file=pin_file, file_option="--pin-file")
    key1 = parse_hex(secret(key1_hex, "Key1 (64 hex digits)", "CARDSMITH_KEY1", file=key1_file,
                            file_option="--key1-file"), "--key1", (SLOT_LENGTH,))
    with _session(settings) as kc:
        run(kc, pin, key1)
        state, line = finish_personalisation(kc.card, keep_open)
    settings.emit({"card_id": kc.card_id.hex().upper(), "lifecycle": state},
                  f"card {kc.card_id.hex().upper()}: PIN and Key1 set\n{line}")


@key.command()
@click.option("--pin", help=PIN_HELP)
@pin_file_option
@pass_settings
def generate(settings: Settings, pin: str | None, pin_file: Path | None) -> None:
    """Generate the card's P-256 key pair on the card (once in its life).

    \b
    Example:  cardsmith -r "sim 3" key generate   (PIN asked)
    """
    from ..core.crypto import key_id

    with _session(settings, verify=True, pin=pin, pin_file=pin_file) as kc:
        point = kc.generate()
    kid = key_id(point).hex().upper()
    settings.emit({"public_key": point.hex().upper(), "key_id": kid}, f"key id {kid}\npublic key {point.hex().upper()}")


@key.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the 65-byte key to a file.")
@pass_settings
def public(settings: Settings, output: Path | None) -> None:
    """Print (or save) the card's public key.

    \b
    Example:  cardsmith key public -o card.pub
    """
    from ..core.crypto import key_id
    from ..core.fileio import atomic_write

    with _session(settings) as kc:
        point = kc.public_key()
    if output:
        atomic_write(output, point)
    settings.emit({"public_key": point.hex().upper(), "key_id": key_id(point).hex().upper()}, point.hex().upper())


@key.command()
@pass_settings
def status(settings: Settings) -> None:
    """Role, PIN state, key group, export state.

    \b
    Example:  cardsmith key status --json
    """
    with _session(settings) as kc:
        j = kc.status().as_json()
    settings.emit(j, "\n".join(f"{k:<12} {v}" for k, v in j.items()))


@key.command()
@click.option("--pin", help=PIN_HELP)
@pin_file_option
@yes_option
@pass_settings
def lock(settings: Settings, pin: str | None, pin_file: Path | None, yes: bool) -> None:
    """Lock the key group for good (no key set, no export).

    \b
    Example:  cardsmith key lock --yes   (PIN from $CARDSMITH_PIN)
    """
    confirm("Locking the key group is for good: no key can be set or exported afterwards. Lock it?", yes)
    with _session(settings, verify=True, pin=pin, pin_file=pin_file) as kc:
        kc.lock()
    settings.emit({"locked": True}, "key group locked")


@click.group()
def pin() -> None:
    """The holder PIN: verify, change, reset."""


@pin.command("verify")
@click.option("--pin", "value", help=PIN_HELP)
@pin_file_option
@pass_settings
def pin_verify(settings: Settings, value: str | None, pin_file: Path | None) -> None:
    """Check the PIN (spends a try when wrong).

    \b
    Example:  CARDSMITH_PIN=1234 cardsmith pin verify
    """
    with _session(settings, verify=True, pin=value, pin_file=pin_file):
        pass
    settings.emit({"verified": True}, "PIN correct")


@pin.command("change")
@click.option("--old", help="Current PIN (else --old-file, $CARDSMITH_PIN[_FILE], else asked).")
@secret_file_option("old", "current PIN")
@click.option("--new", help="New PIN (else --new-file, $CARDSMITH_NEW_PIN[_FILE], else asked twice).")
@secret_file_option("new", "new PIN")
@pass_settings
def pin_change(settings: Settings, old: str | None, old_file: Path | None, new: str | None,
               new_file: Path | None) -> None:
    """Change the PIN.

    \b
    Example:  cardsmith pin change   (both PINs asked, the new one twice)
    """
    old = secret(old, "current PIN", "CARDSMITH_PIN", file=old_file, file_option="--old-file")
    new = secret(new, "new PIN", "CARDSMITH_NEW_PIN", new=True, file=new_file, file_option="--new-file")
    with _session(settings) as kc:
        kc.change_pin(old, new)
    settings.emit({"changed": True}, "PIN changed")


@pin.command("reset")
@click.option("--new", "value", help="New PIN (else --new-file, $CARDSMITH_PIN[_FILE], else asked).")
@secret_file_option("new", "new PIN")
@pass_settings
def pin_reset(settings: Settings, value: str | None, new_file: Path | None) -> None:
    """Set a new PIN and give every try back (unblocks): needs --as with permission pin_reset.

    \b
    Example:  cardsmith --as desk1.cert pin reset
    """
    with _session(settings) as kc:
        kc.reset_pin(_pin(value, "new PIN", new_file, file_option="--new-file"))
    settings.emit({"reset": True}, "PIN reset: every try is back")


@click.group()
def files() -> None:
    """Files encrypted to a card: encrypt, decrypt, share, recover."""


def _confirm_overwrite(targets: list[Path], yes: bool) -> None:
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        confirm(f"{existing[0]}{more} exists and would be replaced. Replace?", yes)


def _written(settings: Settings, paths: list[Path], card_id: bytes | None) -> None:
    out = [str(p) for p in paths]
    settings.emit({"written": out, "card_id": card_id.hex().upper() if card_id else None}, "\n".join(out))


@files.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", type=click.Path(exists=True, path_type=Path),
              help="Encrypt to this saved public key instead of the card's.")
@yes_option
@pass_settings
def encrypt(settings: Settings, inputs: tuple[Path, ...], public_key: Path | None, yes: bool) -> None:
    """Encrypt files to the card's public key: writes NAME.csef beside each.

    \b
    Example:  cardsmith -r "sim 3" files encrypt notes.txt
    """
    from ..duplication.files import encrypt_files, encrypted_name, read_public_key

    _confirm_overwrite([encrypted_name(p) for p in inputs], yes)
    card_id = None  # with --public-key no card is involved
    if public_key:
        point = read_public_key(public_key)
    else:
        with _session(settings) as kc:
            point, card_id = kc.public_key(), kc.card_id
    _written(settings, encrypt_files(inputs, point), card_id)


@files.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pin", help=PIN_HELP)
@pin_file_option
@yes_option
@pass_settings
def decrypt(settings: Settings, inputs: tuple[Path, ...], pin: str | None, pin_file: Path | None, yes: bool) -> None:
    """Decrypt NAME.csef files with the card (main or backup): writes NAME beside each.

    \b
    Example:  cardsmith -r "sim 3" files decrypt notes.txt.csef
    """
    from ..duplication.files import decrypt_files, decrypted_name

    _confirm_overwrite([decrypted_name(p) for p in inputs], yes)
    with _session(settings, verify=True, pin=pin, pin_file=pin_file) as kc:
        written = decrypt_files(inputs, kc)
    _written(settings, written, kc.card_id)


@files.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--peer-key", required=True, type=click.Path(exists=True, path_type=Path),
              help="The peer card's public key (from `cardsmith key public -o`).")
@click.option("--pin", help=PIN_HELP)
@pin_file_option
@yes_option
@pass_settings
def share(settings: Settings, inputs: tuple[Path, ...], peer_key: Path, pin: str | None,
          pin_file: Path | None, yes: bool) -> None:
    """Re-encrypt files for a peer card inside this card: writes NAME.peer-KEYID beside each.

    \b
    Example:  cardsmith files share notes.txt.csef --peer-key peer.pub
    """
    from ..duplication.files import read_public_key, share_files, shared_name

    point = read_public_key(peer_key)
    _confirm_overwrite([shared_name(p, point) for p in inputs], yes)
    with _session(settings, verify=True, pin=pin, pin_file=pin_file) as kc:
        written = share_files(inputs, kc, point)
    _written(settings, written, kc.card_id)


@files.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "backup_reader", required=True, help="Reader holding the backup card.")
@click.option("--to", "new_reader", required=True, help="Reader holding the new main card.")
@click.option("--from-pin", help="Backup card PIN (else --from-pin-file, $CARDSMITH_FROM_PIN[_FILE], else asked).")
@secret_file_option("from-pin", "backup card PIN")
@click.option("--to-pin", help="New card PIN (else --to-pin-file, $CARDSMITH_TO_PIN[_FILE], else asked).")
@secret_file_option("to-pin", "new card PIN")
@pass_settings
def recover(settings: Settings, inputs: tuple[Path, ...], backup_reader: str, new_reader: str,
            from_pin: str | None, from_pin_file: Path | None, to_pin: str | None, to_pin_file: Path | None) -> None:
    """Move files from the backup card's key to the new main card's key, in place (resumable).

    \b
    Example:  cardsmith files recover *.csef --from "sim 4" --to "sim 5"
    """
    from ..duplication.files import recover as run

    with _session(settings, backup_reader, verify=True, pin=from_pin, prompt="backup card PIN",
                  pin_file=from_pin_file, env="CARDSMITH_FROM_PIN", file_option="--from-pin-file") as backup, \
            _session(settings, new_reader, verify=True, pin=to_pin, prompt="new card PIN",
                     pin_file=to_pin_file, env="CARDSMITH_TO_PIN", file_option="--to-pin-file") as new:
        report = run(inputs, backup, new, progress=None if settings.as_json else
                     (lambda n, total, name: click.echo(f"  [{n}/{total}] {name}", err=True)))
    settings.emit(report.as_json(), f"recovered {len(report.done)}, already done {len(report.already)}, "
                  f"skipped (other key) {len(report.skipped)}")
