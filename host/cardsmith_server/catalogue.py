"""The backup catalogue: content-addressed backup files, never a row overwritten, one chain per card.

A backup is uploaded as its file's bytes under the file's SHA-256 (its address). The server checks the
structure (cardsmith.backup.fileformat), never the MACs (only a card, or the family's common key, can);
what it does check makes a tampered file harmless to the catalogue:

- the same file again is the same row (idempotent: a retried upload changes nothing);
- a different file for a (card, sequence) or a chain hash already held is refused (409). A header altered
  in its clear fields keeps its chain hash (SHA-256 of the header MAC and the final MAC), so it collides
  with the genuine row and is refused; the genuine row stays;
- a differential is accepted only on top of a backup of the same card the catalogue holds, so no station
  ever stores an orphan differential.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cardsmith.backup.fileformat import BackupBlob
from cardsmith.core.errors import BadDataError

from .auth import Principal
from .db import backups
from .errors import Conflict, DigestMismatch, Invalid, NotFound
from .timeutil import now

COLUMNS = [c for c in backups.c if c.name not in ("id", "issuer", "data")]


def _entry(row: Any) -> dict:
    return {c.name: getattr(row, c.name) for c in COLUMNS}


def _one(conn: Connection, issuer: str, *where: Any) -> Any:
    return conn.execute(sa.select(*COLUMNS).where(backups.c.issuer == issuer, *where)).first()


def upload(conn: Connection, who: Principal, digest: str, data: bytes) -> tuple[dict, bool]:
    """Catalogues one backup file; returns its entry and whether it is new. Raises before writing anything."""
    digest = digest.lower()
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise DigestMismatch(f"the body's SHA-256 is {actual}, not {digest}: the file changed on the way "
                             "(or the digest is wrong); upload it again, nothing was stored")
    same = _one(conn, who.issuer, backups.c.digest == digest)
    if same is not None:
        return _entry(same), False
    try:
        blob = BackupBlob.decode(data)
    except BadDataError as exc:
        raise Invalid(f"not a valid backup file: {exc}") from exc
    h = blob.header
    card, chain_hash = h.card_id.hex().upper(), blob.chain_hash.hex()
    clash = _one(conn, who.issuer, sa.or_(sa.and_(backups.c.card_id == card, backups.c.seq == h.seq),
                                          backups.c.chain_hash == chain_hash))
    if clash is not None:
        raise Conflict(f"the catalogue already holds backup {clash.card_id}-{clash.seq} (digest {clash.digest[:16]}"
                       f"...) with this {'sequence number' if clash.seq == h.seq else 'chain hash'}, and this file "
                       "differs from it: altered or damaged; nothing was changed, the catalogued one stays")
    if h.type_name == "diff":
        prev = _one(conn, who.issuer, backups.c.card_id == card, backups.c.chain_hash == h.prev_hash.hex())
        if prev is None or prev.seq >= h.seq:
            raise Conflict(f"differential {card}-{h.seq} builds on a backup the catalogue lacks (chain hash "
                           f"{h.prev_hash.hex()[:16]}...): upload that backup first (`cardsmith sync` on the "
                           "station that took it), or take a full backup")
    row = {"issuer": who.issuer, "digest": digest, "card_id": card, "seq": h.seq, "type": h.type_name,
           "key_version": h.key_version, "prev_hash": h.prev_hash.hex(), "chain_hash": chain_hash,
           "pages": len(blob.pages), "records": len(blob.records), "size": len(data), "created": now(),
           "uploaded_by": who.key_id, "data": data}
    conn.execute(backups.insert().values(**row))
    return {k: row[k] for k in (c.name for c in COLUMNS)}, True


def entries(conn: Connection, who: Principal, card_id: str | None = None, limit: int = 1000,
            after: int = 0) -> list[dict]:
    """Catalogue entries of the issuer (of one card), by card and sequence."""
    q = sa.select(*COLUMNS).where(backups.c.issuer == who.issuer)
    if card_id:
        q = q.where(backups.c.card_id == card_id.upper())
    q = q.order_by(backups.c.card_id, backups.c.seq).offset(after).limit(limit)
    return [_entry(r) for r in conn.execute(q)]


def file(conn: Connection, who: Principal, digest: str) -> bytes:
    data = conn.execute(sa.select(backups.c.data).where(backups.c.issuer == who.issuer,
                                                        backups.c.digest == digest.lower())).scalar()
    if data is None:
        raise NotFound(f"no backup with digest {digest} in the catalogue; `cardsmith backups list` shows them")
    return bytes(data)


def chain(conn: Connection, who: Principal, card_id: str) -> dict:
    """The card's newest backup and the chain leading to it (full first), and the newest sequence number held:
    a station compares that with the card's own before it takes a differential."""
    card = card_id.upper()
    rows = {r.chain_hash: r for r in conn.execute(sa.select(*COLUMNS).where(backups.c.issuer == who.issuer,
                                                                              backups.c.card_id == card))}
    if not rows:
        raise NotFound(f"the catalogue holds no backup of card {card}")
    newest = max(rows.values(), key=lambda r: r.seq)
    links = [newest]
    while links[0].type == "diff":
        links.insert(0, rows[links[0].prev_hash])  # uploads refuse orphans, so the link is always there
    return {"card_id": card, "latest_seq": newest.seq, "chain": [_entry(r) for r in links]}


def cards(conn: Connection, who: Principal) -> list[dict]:
    q = (sa.select(backups.c.card_id, sa.func.count().label("backups"), sa.func.max(backups.c.seq).label("latest"))
         .where(backups.c.issuer == who.issuer).group_by(backups.c.card_id).order_by(backups.c.card_id))
    return [{"card_id": r.card_id, "backups": r.backups, "latest_seq": r.latest} for r in conn.execute(q)]
