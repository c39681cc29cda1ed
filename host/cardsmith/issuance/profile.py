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
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read profile {path}: {exc}") from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict, where: str = "profile") -> Profile:
        meta = raw.get("profile", {})
        steps = []
        for i, s in enumerate(raw.get("step", []), 1):
            if "command" not in s:
                raise UsageError(f"{where}: step {i} names no command")
            unknown = set(s) - {"command", "p1", "p2", "data", "checkpoint", "label"}
            if unknown:
                raise UsageError(f"{where}: step {i} has unknown keys {sorted(unknown)}")
            steps.append(Step(s["command"], s.get("p1", 0), s.get("p2", 0), list(s.get("data", [])),
                              bool(s.get("checkpoint", True)), s.get("label", s["command"])))
        if not steps:
            raise UsageError(f"{where}: the profile has no [[step]]")
        return cls(meta.get("name", "profile"), steps, meta.get("record_id", "id"),
                   meta.get("card_id_column"), bool(meta.get("close", True)),
                   ProgressTable.from_json(raw.get("progress")))

    def labels(self) -> list[str]:
        return [s.label for s in self.steps] + (["CLOSE_PERSONALISATION"] if self.close else [])


def read_records(path: Path | str) -> list[dict[str, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read records {path}: {exc}") from exc
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise UsageError(f"{path}: no records (a CSV with a header line and one row per cardholder)")
    return rows


def _fill(template: Any, record: dict[str, str], what: str) -> str:
    try:
        return str(template).format_map(record)
    except KeyError as exc:
        raise UsageError(f"{what}: the record has no column {exc}; columns: {', '.join(record)}") from exc


def _int(value: Any, record: dict[str, str], what: str) -> int:
    if isinstance(value, int):
        return value
    text = _fill(value, record, what)
    try:
        return int(text, 0)
    except ValueError as exc:
        raise UsageError(f"{what}: {text!r} is not a number") from exc


def _item(item: dict[str, Any], record: dict[str, str], record_id: str, master: bytes | None, what: str) -> bytes:
    size = item.get("size")
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
        out = _int(item["u8"], record, what).to_bytes(1, "big")
    elif "u16" in item:
        out = _int(item["u16"], record, what).to_bytes(2, "big")
    elif "random" in item:
        out = os.urandom(int(item["random"]))
    elif "derive" in item:
        if master is None:
            raise UsageError(f"{what}: derives a key; give the issuer master key (--master-key)")
        n = int(size or 16)
        if not 1 <= n <= 32:
            raise UsageError(f"{what}: a derived key has 1..32 bytes, not {n}")
        scope = item.get("scope", "card")
        if scope not in ("card", "batch"):
            raise UsageError(f"{what}: derive scope is 'card' (per record) or 'batch' (one key for all cards)")
        context = item["derive"].encode() + (b"\x00" + record_id.encode() if scope == "card" else b"")
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
        commands.append(InnerCommand.named(step.command, _int(step.p1, record, what), _int(step.p2, record, what),
                                           data, step.label))
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
    try:
        batch = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadDataError(f"cannot read batch {path}: {exc}") from exc
    if batch.get("format") != BATCH_FORMAT:
        raise BadDataError(f"{path} is not a cardsmith issuance batch ({BATCH_FORMAT})")
    return batch
