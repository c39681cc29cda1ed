"""cardsmith backup, restore, backups status|list|show|verify|export|import, data regions|read|write|define|
load-common-key. Each command parses its options, calls one library function, and formats the result."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..core.errors import UsageError
from .context import Settings, confirm, pass_settings, yes_option

dir_option = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                          envvar="CARDSMITH_BACKUP_DIR",
                          help="Backup folder and catalogue (default: $CARDSMITH_HOME/backups).")


def _dir(directory: Path | None) -> Path:
    from ..backup import default_dir

    return directory or default_dir()


@click.command()
@click.option("--full", "kind", flag_value="full", help="Back up every page.")
@click.option("--diff", "kind", flag_value="diff", help="Back up the pages changed since the last backup.")
@dir_option
@pass_settings
def backup(settings: Settings, kind: str | None, directory: Path | None) -> None:
    """Back up the card's data area, encrypted by the card (differential when a chain exists); with --server
    the server's chain first, the new backup uploaded after.

    \b
    Example:  cardsmith backup --full
    """
    from ..backup import BackupSession, open_catalogue
    from ..remote.backups import backup as run

    root = _dir(directory)
    catalogue = open_catalogue(root)
    with settings.server_client() as server, settings.open_card() as card, settings.progress("backup") as progress:
        done = run(BackupSession(card), catalogue, root, server, kind or "auto", progress, settings.notice)
    entry = done.entry
    where = {None: "", True: ", on the server", False: ", kept here for `cardsmith sync`"}[done.uploaded]
    settings.emit(done.as_json(), f"backup {entry.backup_id}: {entry.type}, {entry.pages} pages in "
                  f"{entry.records} records, {entry.size} bytes -> {entry.path}{where}")


@click.command()
@click.argument("backup_id", required=False)
@click.option("--latest", is_flag=True, help="The latest backup of the card (the default without BACKUP_ID).")
@click.option("--onto-new-card", is_flag=True, help="Restore onto a replacement card of the same family.")
@click.option("--from-card", metavar="CARD_ID", help="With --latest --onto-new-card: the lost card's id.")
@click.option("--discard-unfinished", is_flag=True,
              help="Give up a restore that stopped half way (zeroes the regions it touched).")
@dir_option
@yes_option
@pass_settings
def restore(settings: Settings, backup_id: str | None, latest: bool, onto_new_card: bool, from_card: str | None,
            discard_unfinished: bool, directory: Path | None, yes: bool) -> None:
    """Restore a backup chain (full + its differentials, in order) onto this card or a replacement; with
    --server the chain is fetched from the server first.

    \b
    Example:  cardsmith -r "sim 1" restore --latest --onto-new-card --from-card 0123456789ABCDEF --yes
    """
    from ..backup import BackupSession, open_catalogue
    from ..remote.backups import restore_target

    root = _dir(directory)
    catalogue = open_catalogue(root)
    with settings.server_client() as server, settings.open_card() as card:
        session = BackupSession(card)
        if discard_unfinished:
            confirm("Giving up the unfinished restore zeroes every region it touched. Give it up?", yes)
            session.discard_unfinished()
            settings.emit({"discarded": True}, "unfinished restore given up: the regions it touched are zeroed")
            return
        if backup_id and latest:
            raise UsageError("give either BACKUP_ID or --latest, not both")
        card_hex = session.state().card_hex
        blobs = restore_target(server, catalogue, root, card_hex, backup_id, onto_new=onto_new_card,
                               from_card=from_card, notify=settings.notice)
        if onto_new_card:
            confirm(f"Restoring {blobs[-1].backup_id} onto card {card_hex} replaces its whole data area with the "
                    "lost card's. Restore?", yes)
        with settings.progress("restore") as progress:
            session.restore_chain(blobs, onto_new=onto_new_card, progress=progress)
    ids = [b.backup_id for b in blobs]
    settings.emit({"restored": ids, "card_id": card_hex},
                  f"restored {' + '.join(ids)} onto card {card_hex}; value regions zero themselves "
                  "before their first use; the next backup of this card is a full one")


@click.group()
def backups() -> None:
    """The backup catalogue (list, show, verify, export, import) and the card's backup state (status)."""


@backups.command()
@pass_settings
def status(settings: Settings) -> None:
    """The card's backup state: family key version, chain, dirty pages, unfinished restore.

    \b
    Example:  cardsmith backups status
    """
    from ..backup import BackupSession

    with settings.open_card() as card:
        st = BackupSession(card).state()
    info = st.as_json()
    lines = [f"card {st.card_hex}",
             f"family key     {('version ' + str(st.key_version)) if st.common_key else 'none (not personalised)'}",
             f"last backup    {info['last_backup'] or 'none'}"
             + ("" if st.chain else "  (next backup is full)"),
             f"changed pages  {st.dirty_pages} of {st.page_count}"]
    if st.restore_pending:
        lines.append("RESTORE UNFINISHED: run `cardsmith restore` again, or `cardsmith restore --discard-unfinished`")
    settings.emit(info, "\n".join(lines))


@backups.command("list")
@click.option("--card", "card_id", help="Only this card's backups.")
@dir_option
@pass_settings
def list_(settings: Settings, card_id: str | None, directory: Path | None) -> None:
    """List catalogued backups.

    \b
    Example:  cardsmith backups list --card 0123456789ABCDEF
    """
    from ..backup import open_catalogue

    rows = open_catalogue(_dir(directory)).entries(card_id.upper() if card_id else None)
    lines = [f"{'id':<28} {'type':<5} {'state':<9} {'pages':>5} {'bytes':>7}  created"]
    lines += [f"{e.backup_id:<28} {e.type:<5} {e.state:<9} {e.pages:>5} {e.size:>7}  {e.created}" for e in rows]
    settings.emit([e.as_json() for e in rows], "\n".join(lines) if rows else "no backups catalogued")


@backups.command()
@click.argument("backup_id")
@dir_option
@pass_settings
def show(settings: Settings, backup_id: str, directory: Path | None) -> None:
    """Show one backup and the chain it belongs to.

    \b
    Example:  cardsmith backups show 0123456789ABCDEF-1
    """
    from ..backup import chain_for, find, open_catalogue

    catalogue = open_catalogue(_dir(directory))
    entry = find(catalogue, backup_id)
    info = {**entry.as_json(), "chain": [e.backup_id for e in chain_for(catalogue, entry)]}
    settings.emit(info, "\n".join(f"{k:<12} {v}" for k, v in info.items()))


@backups.command()
@click.argument("backup_id")
@click.option("--common-key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The family's common key (16 bytes, raw or hex): also check every MAC (issuer only).")
@dir_option
@pass_settings
def verify(settings: Settings, backup_id: str, common_key_file: Path | None, directory: Path | None) -> None:
    """Check a backup and its chain without a card: structure, chain links, and with the key every MAC.

    \b
    Example:  cardsmith backups verify 0123456789ABCDEF-2 --common-key-file family.key
    """
    from ..backup import open_catalogue
    from ..backup import verify as run
    from ..core.keys import read_key_file
    from ..protocol.codes import COMMON_KEY_LENGTH

    key = read_key_file(common_key_file, "--common-key-file", (COMMON_KEY_LENGTH,)) if common_key_file else None
    result = run(open_catalogue(_dir(directory)), backup_id, key)
    settings.emit(result.as_json(), f"ok: {' + '.join(result.chain)}" + (
        " (every MAC checked)" if result.macs_checked else " (structure and chain; MACs need the card or the "
        "family key)"))


@backups.command()
@click.argument("backup_id")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@dir_option
@pass_settings
def export(settings: Settings, backup_id: str, file: Path, directory: Path | None) -> None:
    """Copy a backup file out of the catalogue (it stays encrypted).

    \b
    Example:  cardsmith backups export 0123456789ABCDEF-1 copy.csb
    """
    from ..backup import open_catalogue
    from ..backup.chain import export as run

    entry = run(open_catalogue(_dir(directory)), backup_id, file)
    settings.emit({"exported": entry.backup_id, "file": str(file)}, f"exported {entry.backup_id} to {file}")


@backups.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dir_option
@pass_settings
def import_(settings: Settings, files: tuple[Path, ...], directory: Path | None) -> None:
    """Add backup files (from another station or the issuer) to the catalogue.

    \b
    Example:  cardsmith backups import copy.csb
    """
    from ..backup import open_catalogue
    from ..backup.chain import import_file

    root = _dir(directory)
    catalogue = open_catalogue(root)
    done = [import_file(catalogue, root, f).backup_id for f in files]
    settings.emit({"imported": done}, "\n".join(f"imported {i}" for i in done))


# ---------------------------------------------------------------- data


@click.group()
def data() -> None:
    """The card's data area: regions, reading and writing."""


@data.command()
@pass_settings
def regions(settings: Settings) -> None:
    """List the regions with their flags (value, restored, zero-pending, restore-unfinished).

    \b
    Example:  cardsmith data regions
    """
    from ..dataarea import DataAreaSession

    with settings.open_card() as card:
        rows = DataAreaSession(card).regions()
    text = "\n".join(f"region {r.id:<3} pages {r.first_page}-{r.first_page + r.page_count - 1}  "
                     f"{', '.join(r.flag_names()) or '-'}" for r in rows) or "no regions defined"
    settings.emit([r.as_json() for r in rows], text)


@data.command()
@click.argument("region", type=click.IntRange(1, 254))
@click.option("--offset", default=0, type=click.IntRange(0, 32767))
@click.option("--length", type=click.IntRange(0, 32767), help="Bytes to read (default: the whole region).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the bytes to a file.")
@pass_settings
def read(settings: Settings, region: int, offset: int, length: int | None, out: Path | None) -> None:
    """Read region bytes (hex on stdout, or --out FILE).

    \b
    Example:  cardsmith data read 1 --length 16
    """
    from ..core.fileio import atomic_write
    from ..dataarea import DataAreaSession

    with settings.open_card() as card:
        blob = DataAreaSession(card).read_region(region, offset, length)
    if out:
        atomic_write(out, blob)
        settings.emit({"region": region, "bytes": len(blob), "file": str(out)}, f"{len(blob)} bytes -> {out}")
    else:
        settings.emit({"region": region, "offset": offset, "hex": blob.hex().upper()}, blob.hex().upper())


@data.command()
@click.argument("region", type=click.IntRange(1, 254))
@click.option("--offset", default=0, type=click.IntRange(0, 32767))
@click.option("--hex", "hex_", help="Bytes in hex.")
@click.option("--text", help="UTF-8 text.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def write(settings: Settings, region: int, offset: int, hex_: str | None, text: str | None,
          file_: Path | None) -> None:
    """Write bytes into a region (exactly one of --hex, --text, --file).

    \b
    Example:  cardsmith data write 1 --text "hello"
    """
    from ..core.keys import parse_hex
    from ..dataarea import DataAreaSession

    given = [x for x in (hex_, text, file_) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of --hex, --text, --file")
    if hex_ is not None:
        blob = parse_hex(hex_, "--hex")
    elif text is not None:
        blob = text.encode()
    else:
        blob = file_.read_bytes()  # type: ignore[union-attr]
    with settings.open_card() as card:
        DataAreaSession(card).write(region, offset, blob)
    settings.emit({"region": region, "offset": offset, "bytes": len(blob)},
                  f"wrote {len(blob)} bytes to region {region} at {offset}")


@data.command()
@click.argument("region", type=click.IntRange(1, 254))
@click.option("--first-page", required=True, type=click.IntRange(0, 511), help="The region's first page (from 0).")
@click.option("--pages", required=True, type=click.IntRange(1, 512),
              help="Its pages: at most the area's pages from --first-page, and 32767 bytes in all (127 pages of "
                   "256 bytes); `cardsmith info` shows the geometry.")
@click.option("--value", is_flag=True, help="A value region: zeroes itself before its first use after a restore.")
@pass_settings
def define(settings: Settings, region: int, first_page: int, pages: int, value: bool) -> None:
    """Define a region (personalisation: lifecycle INSTALLED only).

    \b
    Example:  cardsmith data define 1 --first-page 0 --pages 24
    """
    from ..dataarea import DataAreaSession

    with settings.open_card() as card:
        DataAreaSession(card).define_region(region, first_page, pages, value=value)
    settings.emit({"region": region}, f"region {region}: pages {first_page}-{first_page + pages - 1}"
                  + (" (value)" if value else ""))


@data.command("load-common-key")
@click.option("--version", "key_version", required=True, type=click.IntRange(1, 255))
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="16 bytes, raw or hex (default: $CARDSMITH_COMMON_KEY, hex).")
@pass_settings
def load_common_key(settings: Settings, key_version: int, key_file: Path | None) -> None:
    """Load the family's card-common key (personalisation: lifecycle INSTALLED only).

    \b
    Example:  CARDSMITH_COMMON_KEY=<32 hex> cardsmith data load-common-key --version 1
    """
    from ..backup import BackupSession
    from ..core.keys import parse_hex, read_key_file
    from ..protocol.codes import COMMON_KEY_LENGTH

    if key_file:
        key = read_key_file(key_file, "--key-file", (COMMON_KEY_LENGTH,))
    elif os.environ.get("CARDSMITH_COMMON_KEY"):
        key = parse_hex(os.environ["CARDSMITH_COMMON_KEY"], "CARDSMITH_COMMON_KEY", (COMMON_KEY_LENGTH,))
    else:
        raise UsageError("give --key-file or set CARDSMITH_COMMON_KEY (the key is never a command-line argument)")
    with settings.open_card() as card:
        BackupSession(card).load_common_key(key_version, key)
    settings.emit({"key_version": key_version}, f"common key version {key_version} loaded")
