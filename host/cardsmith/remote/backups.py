"""Backups with the issuer server: the server's catalogue is the issuer's source of truth, the station's local
catalogue its working copy (and its store while the server is unreachable).

- :func:`pull`: the card's chain from the server into the local catalogue (missing files downloaded, digests
  checked, imported under the local rule that never overwrites a row), so a backup taken at another desk is
  the base of this desk's differential, and a restore finds it;
- :func:`backup`: pull, back up (full when neither catalogue holds the card's last backup: never an orphan
  differential), upload; offline, the backup stays local and :func:`push` uploads it later;
- :func:`restore_target`: the chain a restore sends, pulled from the server first;
- :func:`push`: every completed local backup the server lacks, oldest first (what `cardsmith sync` does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..backup import chain as local
from ..backup.catalogue import Catalogue, Entry
from ..backup.fileformat import BackupBlob
from ..backup.session import BackupSession, Notify, Progress
from ..core.errors import BadDataError, ServerConflict, ServerUnavailable, UsageError
from .client import ServerClient


@dataclass(frozen=True)
class RemoteBackup:
    entry: Entry
    uploaded: bool | None  # the server holds it now; False: offline or refused, kept here; None: no server

    def as_json(self) -> dict:
        return self.entry.as_json() if self.uploaded is None else {**self.entry.as_json(), "uploaded": self.uploaded}


def _links(entries: list[dict], target: dict) -> list[dict]:
    """``target`` and the server entries it builds on, full backup first."""
    by_hash = {e["chain_hash"]: e for e in entries}
    chain = [target]
    while chain[0]["type"] == "diff":
        prev = by_hash.get(chain[0]["prev_hash"])
        if prev is None:  # the server refuses orphans, so only a server bug gets here
            raise BadDataError(f"the server's chain of {target['card_id']} is broken at {chain[0]['seq']}")
        chain.insert(0, prev)
    return chain


def pull(server: ServerClient, catalogue: Catalogue, directory: Path, card_hex: str, seq: int | None = None,
         notify: Notify | None = None) -> list[Entry]:
    """The server's chain of a card (up to backup ``seq``, default its newest) into the local catalogue;
    returns the entries imported now. A local backup that clashes with the server's is kept, and said."""
    entries = server.backups(card_hex.upper())
    if seq is not None:
        wanted = [e for e in entries if e["seq"] == seq]
    else:
        wanted = entries[-1:]
    if not wanted:
        return []
    imported = []
    for e in _links(entries, wanted[0]):
        held = catalogue.get(e["card_id"], e["seq"])
        if held is not None and held.digest == e["digest"]:
            continue
        data = server.backup_file(e["digest"])
        if hashlib.sha256(data).hexdigest() != e["digest"]:
            raise BadDataError(f"backup {e['card_id']}-{e['seq']} changed on its way from the server; nothing was "
                               "imported from it: run the command again")
        try:
            imported.append(local.import_bytes(catalogue, directory, data, f"the server's {e['card_id']}-{e['seq']}"))
        except BadDataError as exc:
            if notify:
                notify(f"kept the local catalogue's backup, not the server's: {exc}")
            break
    return imported


def _upload(server: ServerClient, entry: Entry) -> bool:
    data = local.load(entry, check_digest=True).encode()
    _, created = server.upload_backup(entry.digest, data)
    return created


def backup(session: BackupSession, catalogue: Catalogue, directory: Path, server: ServerClient | None,
           kind: str = "auto", progress: Progress | None = None, notify: Notify | None = None) -> RemoteBackup:
    """A backup of the card with the server's chain: pulled first, the new backup uploaded after."""
    say: Callable[[str], None] = notify or (lambda _line: None)
    wanted = server is not None
    if server is not None:
        try:
            pull(server, catalogue, directory, session.state().card_hex, notify=say)
        except ServerUnavailable as exc:
            say(f"{exc}")
            server = None
    entry = session.backup(catalogue, directory, kind, progress, say)
    if server is None:
        return RemoteBackup(entry, False if wanted else None)
    try:
        _upload(server, entry)
    except ServerUnavailable as exc:
        say(f"backup {entry.backup_id} is kept here: {exc}")
        return RemoteBackup(entry, False)
    except ServerConflict as exc:
        say(f"backup {entry.backup_id} is kept here, not on the server: {exc}")
        return RemoteBackup(entry, False)
    return RemoteBackup(entry, True)


def restore_target(server: ServerClient | None, catalogue: Catalogue, directory: Path, card_hex: str,
                   backup_id: str | None = None, *, onto_new: bool = False, from_card: str | None = None,
                   notify: Notify | None = None) -> list[BackupBlob]:
    """:func:`cardsmith.backup.restore_target`, with the chain pulled from the server first (offline: the
    local catalogue alone)."""
    if server is not None:
        if backup_id:
            source, _, seq_text = backup_id.rpartition("-")
            if not seq_text.isdigit():
                raise UsageError(f"{backup_id!r} is not a backup id (CARD-SEQ); `cardsmith backups list` shows them")
            seq = int(seq_text)
        elif onto_new and not from_card:
            source, seq = "", None
        else:
            source, seq = from_card or card_hex, None
        if source:
            try:
                pull(server, catalogue, directory, source, seq, notify)
            except ServerUnavailable as exc:
                if notify:
                    notify(f"{exc}")
    return local.restore_target(catalogue, card_hex, backup_id, onto_new=onto_new, from_card=from_card)


@dataclass
class PushReport:
    uploaded: list[str] = field(default_factory=list)
    already: int = 0
    conflicts: list[dict] = field(default_factory=list)  # {"backup": id, "detail": why}; kept locally

    def as_json(self) -> dict:
        return {"uploaded": self.uploaded, "already": self.already, "conflicts": self.conflicts}


def push(server: ServerClient, catalogue: Catalogue) -> PushReport:
    """Uploads every completed local backup the server lacks, oldest first per card (a differential after
    the backup it builds on; one on a refused backup is refused by the server in turn). A refused backup stays
    local and is reported, never overwritten either way."""
    report = PushReport()
    held = {e["digest"] for e in server.backups()}
    for entry in catalogue.entries():  # by card and sequence
        if entry.state != "complete":
            continue
        if entry.digest in held:
            report.already += 1
            continue
        try:
            _upload(server, entry)
        except (ServerConflict, BadDataError) as exc:
            report.conflicts.append({"backup": entry.backup_id, "detail": str(exc)})
            continue
        report.uploaded.append(entry.backup_id)
    return report
