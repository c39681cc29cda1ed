"""Usage records from terminals: batched uploads, de-duplicated by (card, counter), gaps reported per card.

A record is what a terminal saw a card do: the card's id and its own usage counter (which the card increments
for every use, so a card's records are numbered without holes), the terminal's clock, an event name and a
JSON object of details, in a ``format`` (today ``cardsmith-usage/1``) and optionally the card's signature over
:func:`signed_bytes`. (card, counter) names a record once and for all:

- a record already stored, identical, is a *repeat* and stores nothing (a terminal that lost an answer sends
  the whole batch again);
- a different record under a stored (card, counter) is *refused* and reported; the stored one stays (the same
  counter twice is a cloned card or a faulty terminal: the operator looks at both);
- the per-card view counts the counters missing between the lowest and highest seen (records still on a
  terminal, or lost).

Verification is a hook: every record goes through a :data:`Verifier` before it is stored, which answers
``verified`` or ``unverified`` or raises :class:`InvalidRecord` (the record is refused). The identity issue
(card keys and certificates) brings the verifier that checks ``signature``; until then
:func:`no_card_keys` accepts every record as ``unverified``, signed or not, and keeps the signature so that
the records can be checked later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .auth import Principal
from .db import usage_records
from .errors import NotFound
from .timeutil import now

FORMAT_V1 = "cardsmith-usage/1"
#: a card-signed record of the identity capability (docs/identity.md; checked by identity_records.py)
FORMAT_IDENTITY = "cardsmith-identity/1"
FORMATS = (FORMAT_V1, FORMAT_IDENTITY)
MAX_GAPS = 1000  # gaps listed in one card's view (the count of missing counters is always complete)


class InvalidRecord(Exception):
    """A verifier's verdict: the record is not what the card signed (it is refused, with this reason)."""


Verifier = Callable[[Connection, Principal, dict], str]


def signed_bytes(record: dict) -> bytes:
    """What a card signs: the record without its signature, as canonical JSON (sorted keys, no spaces, UTF-8)."""
    body = {k: record[k] for k in ("format", "card_id", "counter", "time", "event", "data")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def no_card_keys(_conn: Connection, _who: Principal, record: dict) -> str:
    """Today's verifier: the server knows no card keys yet, so every record is stored ``unverified``."""
    return "unverified"


def _normal(record: dict) -> dict:
    out = {"format": record.get("format") or FORMAT_V1, "card_id": record["card_id"].upper(),
           "counter": int(record["counter"]), "time": record["time"], "event": record["event"],
           "data": record.get("data") or {}, "signature": (record.get("signature") or "").upper() or None}
    out["digest"] = hashlib.sha256(signed_bytes(out) + b"|" + (out["signature"] or "").encode()).hexdigest()
    return out


def _insert(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(usage_records)


def upload(conn: Connection, who: Principal, records: list[dict], verifier: Verifier = no_card_keys) -> dict:
    """Stores a terminal's batch; returns how many were stored, repeated, unverified, and each one refused."""
    stored = repeated = unverified = 0
    refused: list[dict] = []
    batch: dict[tuple[str, int], dict] = {}
    for index, raw in enumerate(records):
        rec = _normal(raw)
        key = (rec["card_id"], rec["counter"])
        if key in batch:
            if batch[key]["digest"] == rec["digest"]:
                repeated += 1
            else:
                refused.append(_refusal(index, rec, "the batch holds another record with this card and counter"))
            continue
        try:
            rec["verification"] = verifier(conn, who, rec)
        except InvalidRecord as exc:
            refused.append(_refusal(index, rec, f"verification failed: {exc}"))
            continue
        rec["index"] = index
        batch[key] = rec
    if batch:
        stamp = now()
        rows = [{"issuer": who.issuer, "card_id": r["card_id"], "counter": r["counter"], "format": r["format"],
                 "time": r["time"], "event": r["event"], "data": json.dumps(r["data"], sort_keys=True),
                 "signature": r["signature"], "verification": r["verification"], "digest": r["digest"],
                 "terminal": who.key_id, "received": stamp} for r in batch.values()]
        statement = (_insert(conn).values(rows).on_conflict_do_nothing(
            index_elements=["issuer", "card_id", "counter"])
            .returning(usage_records.c.card_id, usage_records.c.counter, usage_records.c.verification))
        inserted = set()
        for card_id, counter, verification in conn.execute(statement):
            inserted.add((card_id, counter))
            stored += 1
            unverified += verification == "unverified"
        left = [k for k in batch if k not in inserted]
        if left:
            u = usage_records.c
            held = {(card_id, counter): digest for card_id, counter, digest in conn.execute(
                sa.select(u.card_id, u.counter, u.digest).where(u.issuer == who.issuer,
                                                                sa.tuple_(u.card_id, u.counter).in_(left)))}
            for key in left:
                if held.get(key) == batch[key]["digest"]:
                    repeated += 1
                else:
                    refused.append(_refusal(batch[key]["index"], batch[key], "a different record with this card "
                                            "and counter is stored already; it stays"))
    refused.sort(key=lambda r: r["index"])
    return {"stored": stored, "repeated": repeated, "unverified": unverified, "refused": refused}


def _refusal(index: int, rec: dict, reason: str) -> dict:
    return {"index": index, "card_id": rec["card_id"], "counter": rec["counter"], "reason": reason}


def _out(row: Any) -> dict:
    return {"id": row.id, "card_id": row.card_id, "counter": row.counter, "format": row.format, "time": row.time,
            "event": row.event, "data": json.loads(row.data), "signature": row.signature,
            "verification": row.verification, "terminal": row.terminal, "received": row.received}


def entries(conn: Connection, who: Principal, card_id: str | None, limit: int, after: int) -> list[dict]:
    """Records in the order received (``after`` is the last ``id`` seen, for paging)."""
    q = sa.select(usage_records).where(usage_records.c.issuer == who.issuer, usage_records.c.id > after)
    if card_id:
        q = q.where(usage_records.c.card_id == card_id.upper())
    return [_out(r) for r in conn.execute(q.order_by(usage_records.c.id).limit(limit))]


def _summary_query(who: Principal) -> Any:
    u = usage_records.c
    return (sa.select(u.card_id, sa.func.count().label("records"), sa.func.min(u.counter).label("first"),
                      sa.func.max(u.counter).label("last"),
                      sa.func.sum(sa.case((u.verification == "unverified", 1), else_=0)).label("unverified"))
            .where(u.issuer == who.issuer).group_by(u.card_id))


def _summary(row: Any) -> dict:
    return {"card_id": row.card_id, "records": row.records, "first": row.first, "last": row.last,
            "missing": row.last - row.first + 1 - row.records, "unverified": int(row.unverified or 0)}


def cards(conn: Connection, who: Principal, limit: int = 1000, after: str = "") -> list[dict]:
    """One line per card: how many records, the counters seen, how many are missing between them."""
    q = _summary_query(who).having(usage_records.c.card_id > after.upper()).order_by(usage_records.c.card_id)
    return [_summary(r) for r in conn.execute(q.limit(limit))]


def card(conn: Connection, who: Principal, card_id: str) -> dict:
    """One card's summary with its gaps: each run of missing counters between two records received."""
    card_id = card_id.upper()
    row = conn.execute(_summary_query(who).where(usage_records.c.card_id == card_id)).first()
    if row is None:
        raise NotFound(f"no usage record of card {card_id} in issuer {who.issuer}")
    u = usage_records.c
    seq = (sa.select(u.counter, sa.func.lag(u.counter).over(order_by=u.counter).label("prev"))
           .where(u.issuer == who.issuer, u.card_id == card_id).subquery())
    gaps = conn.execute(sa.select(seq.c.prev, seq.c.counter).where(seq.c.counter - seq.c.prev > 1)
                        .order_by(seq.c.counter).limit(MAX_GAPS))
    return {**_summary(row), "gaps": [{"after": prev, "before": counter, "missing": counter - prev - 1}
                                      for prev, counter in gaps]}
