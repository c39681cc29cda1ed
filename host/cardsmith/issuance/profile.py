"""Personalisation profiles (TOML) and cardholder records (CSV) -> bundles: the data preparer's side.

Format: docs/self-issuance.md, "Personalisation profile". Every step names a command of protocol.toml,
so any command the applet dispatches can be personalised this way.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.crypto import kdf256
from ..core.errors import BadDataError, UsageError
from .bundle import BundlePlan, InnerCommand, seal
from .progress import ProgressTable

BATCH_FORMAT = "cardsmith-issuance-batch/1"
KDF_DERIVE = 0x20  # host-only derivation constant for {derive = ...} keys


@dataclass
class Step:
    command: str
    p1: Any = 0
    p2: Any = 0
    data: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: bool = True
    label: str = ""


@dataclass
class Profile:
    name: str
    steps: list[Step]
    record_id: str = "id"
    card_id_column: str | None = None
    close: bool = True
    progress: ProgressTable = field(default_factory=ProgressTable)

    @classmethod
    def load(cls, path: Path | str) -> Profile:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read profile {path}: {exc}; a profile is UTF-8 TOML "
                             "(docs/self-issuance.md, \"Personalisation profile\")") from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict, where: str = "profile") -> Profile:
        meta = _typed(raw.get("profile", {}), dict, f"{where}: [profile]", "a table")
        steps = []
        for i, s in enumerate(_typed(raw.get("step", []), list, f"{where}: step", "an array of [[step]] tables"), 1):
            at = f"{where}: step {i}"
            s = _typed(s, dict, at, "a [[step]] table")
            if "command" not in s:
                raise UsageError(f"{at} names no command")
            unknown = set(s) - {"command", "p1", "p2", "data", "checkpoint", "label"}
            if unknown:
                raise UsageError(f"{at} has unknown keys {sorted(unknown)}")
            command = _typed(s["command"], str, f"{at}: command", "a command name of protocol.toml")
            for key in ("p1", "p2"):
                _typed(s.get(key, 0), (int, str), f"{at}: {key}", "a number or a \"{column}\" template")
            data = _typed(s.get("data", []), list, f"{at}: data", "an array of items like {text = \"{name}\"}")
            for item in data:
                _typed(item, dict, f"{at}: data item", "a table like {hex = \"0102\"}")
            steps.append(Step(command, s.get("p1", 0), s.get("p2", 0), list(data),
                              _typed(s.get("checkpoint", True), bool, f"{at}: checkpoint", "true or false"),
                              _typed(s.get("label", command), str, f"{at}: label", "text")))
        if not steps:
            raise UsageError(f"{where}: the profile has no [[step]]")
        card_id_column = meta.get("card_id_column")
        if card_id_column is not None:
            _typed(card_id_column, str, f"{where}: card_id_column", "a column name")
        try:
            progress = ProgressTable.from_json(_typed(raw.get("progress"), (dict, type(None)),
                                                      f"{where}: [progress]", "a table"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{where}: [progress] is malformed ({exc!r}); see docs/self-issuance.md, "
                             "\"Progress table\"") from exc
        return cls(_typed(meta.get("name", "profile"), str, f"{where}: name", "text"), steps,
                   _typed(meta.get("record_id", "id"), str, f"{where}: record_id", "a column name"),
                   card_id_column, _typed(meta.get("close", True), bool, f"{where}: close", "true or false"),
                   progress)

    def labels(self) -> list[str]:
        return [s.label for s in self.steps] + (["CLOSE_PERSONALISATION"] if self.close else [])


FIELD_LIMIT = 128 * 1024  # bytes of one CSV field (Python's csv default, said in the message)


def read_records(path: Path | str) -> list[dict[str, str]]:
    """The cardholders: a UTF-8 CSV whose header names each column once, and every row has every column."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start}): save the CSV as UTF-8") from exc
    except OSError as exc:
        raise UsageError(f"cannot read records {path}: {exc}") from exc
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # a field over the limit, a NUL byte, a broken quote
        raise UsageError(f"{path}: not a readable CSV ({exc}; a field holds at most "
                         f"{FIELD_LIMIT // 1024} KiB)") from exc
    table = [row for row in table if row]  # blank lines carry nothing
    if len(table) < 2:
        raise UsageError(f"{path}: no records (a CSV with a header line and one row per cardholder)")
    header = table[0]
    seen: set[str] = set()
    for name in header:
        if not name:
            raise UsageError(f"{path}: the header line has an empty column name")
        if name in seen:
            raise UsageError(f"{path}: the header names column {name!r} twice; give each column one name")
        seen.add(name)
    rows = []
    for line, row in enumerate(table[1:], 2):
        if len(row) != len(header):
            raise UsageError(f"{path}: row {line} has {len(row)} fields where the header has {len(header)} "
                             f"({', '.join(map(repr, header))}); fill every column (quote fields that hold "
                             "commas)")
        rows.append(dict(zip(header, row, strict=True)))
    return rows


def _typed(value: Any, kind: type | tuple[type, ...], what: str, expected: str) -> Any:
    """``value`` if it is of ``kind`` (a bool is not a number here), else a UsageError naming the field."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        raise UsageError(f"{what} must be {expected}, not {value!r}"[:300])
    return value


def _fill(template: Any, record: dict[str, str], what: str) -> str:
    _typed(template, str, what, "text (a template like \"{name}\")")
    try:
        return template.format_map(record)
    except KeyError as exc:
        raise UsageError(f"{what}: the record has no column {exc}; columns: {', '.join(record)}") from exc
    except (ValueError, IndexError, AttributeError) as exc:  # "{", "{0}", "{a.b}"
        raise UsageError(f"{what}: {template!r} is not a template ({exc}); "
                         "write {column}, and {{ for a brace") from exc


def _int(value: Any, record: dict[str, str], what: str, top: int | None = None) -> int:
    """A number (or a template filled from the record) in 0..top."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        text = _fill(value, record, what)
        try:
            n = int(text, 0)
        except ValueError as exc:
            raise UsageError(f"{what}: {text!r} is not a number") from exc
    if n < 0 or (top is not None and n > top):
        raise UsageError(f"{what}: {n} is out of range (0..{top if top is not None else 'any'})")
    return n


def _item(item: dict[str, Any], record: dict[str, str], record_id: str, master: bytes | None, what: str) -> bytes:
    size = item.get("size")
    if size is not None:
        size = _int(size, record, f"{what}: size", 65535)
    if "hex" in item:
        text = _fill(item["hex"], record, what)
        try:
            out = bytes.fromhex(text)
        except ValueError as exc:
            raise UsageError(f"{what}: {text!r} is not hex") from exc
    elif "text" in item:
        out = _fill(item["text"], record, what).encode("utf-8")
        if size is not None:
            if len(out) > size:
                raise UsageError(f"{what}: {out!r} is longer than {size} bytes")
            out = out.ljust(size, b"\x00")
    elif "u8" in item:
        out = _int(item["u8"], record, f"{what}: u8", 0xFF).to_bytes(1, "big")
    elif "u16" in item:
        out = _int(item["u16"], record, f"{what}: u16", 0xFFFF).to_bytes(2, "big")
    elif "random" in item:
        out = os.urandom(_int(item["random"], record, f"{what}: random", 65535))
    elif "derive" in item:
        if master is None:
            raise UsageError(f"{what}: derives a key; give the issuer master key (--master-key)")
        n = int(size or 16)
        if not 1 <= n <= 32:
            raise UsageError(f"{what}: a derived key has 1..32 bytes, not {n}")
        scope = item.get("scope", "card")
        if scope not in ("card", "batch"):
            raise UsageError(f"{what}: derive scope is 'card' (per record) or 'batch' (one key for all cards)")
        label = _typed(item["derive"], str, f"{what}: derive", "a label").encode()
        context = label + (b"\x00" + record_id.encode() if scope == "card" else b"")
        out = kdf256(master, KDF_DERIVE, context)[:n]
    else:
        raise UsageError(f"{what}: a data item is one of hex, text, u8, u16, random, derive; got {item}")
    return out


def build_plan(profile: Profile, record: dict[str, str], master: bytes | None = None) -> BundlePlan:
    """The inner commands for one cardholder; checkpoints where steps start a unit."""
    record_id = record.get(profile.record_id, "")
    commands: list[InnerCommand] = []
    checkpoints: list[int] = []
    for n, step in enumerate(profile.steps, 1):
        what = f"step {n} ({step.label})"
        data = b"".join(_item(i, record, record_id, master, what) for i in step.data)
        commands.append(InnerCommand.named(step.command, _int(step.p1, record, f"{what}: p1", 0xFF),
                                           _int(step.p2, record, f"{what}: p2", 0xFF), data, step.label))
        if step.checkpoint and n > 1:
            checkpoints.append(n)
    if profile.close:
        commands.append(InnerCommand.named("CLOSE_PERSONALISATION"))
        checkpoints.append(len(commands))
    return BundlePlan(commands, checkpoints)


def prepare_batch(profile: Profile, records: list[dict[str, str]], perso_key: bytes, *,
                  master: bytes | None = None, sequence: int | None = None) -> dict:
    """One sealed bundle per record, in a batch document the technician's station can hold."""
    seq = sequence if sequence is not None else int(time.time())
    bundles = []
    seen: set[str] = set()
    for row, record in enumerate(records, 2):
        record_id = record.get(profile.record_id)
        if not record_id:
            raise UsageError(f"records line {row}: no {profile.record_id!r} column value (the record id)")
        if record_id in seen:
            raise UsageError(f"records line {row}: record id {record_id!r} appears twice")
        seen.add(record_id)
        card_id = bytes(8)
        if profile.card_id_column:
            text = record.get(profile.card_id_column, "")
            try:
                card_id = bytes.fromhex(text)
            except ValueError:
                card_id = b""
            if len(card_id) != 8:
                raise UsageError(f"records line {row}: {profile.card_id_column!r} must be a card id of 16 hex "
                                 f"digits (from `cardsmith info`), got {text!r}")
        plan = build_plan(profile, record, master)
        envelope = seal(perso_key, plan.encode(), sequence=seq, card_id=card_id)
        bundles.append({"record_id": record_id, "card_id": card_id.hex().upper() if any(card_id) else None,
                        "commands": len(plan.commands), "checkpoints": plan.checkpoints,
                        "bundle": envelope.hex()})
    return {"format": BATCH_FORMAT, "profile": profile.name, "sequence": seq,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "steps": profile.labels(), "progress": profile.progress.to_json(), "bundles": bundles}


def load_batch(path: Path | str) -> dict:
    """A batch written by `prepare`, checked whole before any card is touched (BadDataError naming the field)."""
    try:
        batch = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadDataError(f"cannot read batch {path}: {exc}") from exc
    if not isinstance(batch, dict) or batch.get("format") != BATCH_FORMAT:
        raise BadDataError(f"{path} is not a cardsmith issuance batch ({BATCH_FORMAT})")

    def bad(what: str) -> BadDataError:
        return BadDataError(f"{path}: {what}; the batch is damaged: prepare it again (`cardsmith prepare`)")

    if not isinstance(batch.get("profile"), str):
        raise bad("no profile name")
    if not isinstance(batch.get("sequence"), int) or isinstance(batch["sequence"], bool) or batch["sequence"] < 0:
        raise bad("no bundle sequence number")
    bundles = batch.get("bundles")
    if not isinstance(bundles, list) or not bundles:
        raise bad("no bundles")
    seen: set[str] = set()
    for i, entry in enumerate(bundles, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("record_id"), str) or not entry["record_id"]:
            raise bad(f"bundle {i} has no record id")
        if entry["record_id"] in seen:
            raise bad(f"record {entry['record_id']!r} appears twice")
        seen.add(entry["record_id"])
        try:
            bytes.fromhex(entry["bundle"])
        except (KeyError, TypeError, ValueError):
            raise bad(f"the bundle of record {entry['record_id']!r} is missing or not hex") from None
    try:
        ProgressTable.from_json(batch.get("progress"))
    except (UsageError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise bad(f"its progress table is malformed ({exc})") from exc
    return batch
