"""The APDU protocol as data: INS codes, status words, tags and constants.

``protocol.toml`` beside this module is the single source of truth. ``tools/gen_protocol.py`` turns it into
the applet's ``Proto.java``, the tables of ``docs/protocol.md`` and :mod:`cardsmith.protocol.codes` (the
names the host code uses: ``Ins.GET_INFO``, ``Tag.INFO_CARD_ID``, ``LIFECYCLE_INSTALLED``, so that a typo
fails at import or in ruff). This module reads the same file at run time for what is text, not a name: a
status word's message, an instruction's documentation, and the metadata (AIDs, buffer sizes).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Instruction:
    name: str
    code: int
    capability: str
    lifecycle: str  # "installed" or "any": the dispatcher refuses the command otherwise (6985)
    cla: str
    p1p2: str
    data: str
    response: str
    preconditions: str
    sw: tuple[str, ...]
    doc: str
    #: access condition per lifecycle state ("installed", "issued"): "always", "pin", "role:<permission>",
    #: "pin-or-role:<permission>" or "never" (docs/security.md)
    access: dict[str, str] = field(default_factory=dict)
    #: the command changes what the card holds (a blank card is no longer blank after it)
    writes: bool = False
    #: the command still answers on a card marked invalid for good (docs/identity.md); every other is refused
    when_invalid: bool = False


#: the lifecycle states an access condition is given for
ACCESS_STATES = ("installed", "issued")
ACCESS_KINDS = ("always", "pin", "role", "pin-or-role", "never")


def _access(name: str, lifecycle: str, value: str | dict[str, str]) -> dict[str, str]:
    """The access condition of every state: one string for all, or a table per state. A command whose
    lifecycle is "installed" is "never" once ISSUED (the lifecycle check refuses it first)."""
    table = dict.fromkeys(ACCESS_STATES, value) if isinstance(value, str) else dict(value)
    if set(table) != set(ACCESS_STATES):
        raise ValueError(f"{name}: access must name every state of {ACCESS_STATES}, not {sorted(table)}")
    if lifecycle == "installed":
        if not isinstance(value, str):
            raise ValueError(f"{name}: an installed-only command has one access condition")
        table["issued"] = "never"
    return table


def condition(text: str) -> tuple[str, str | None]:
    """An access condition as (kind, permission): "pin-or-role:write" -> ("pin-or-role", "write")."""
    kind, _, permission = text.partition(":")
    if kind not in ACCESS_KINDS or (kind in ("role", "pin-or-role")) != bool(permission):
        raise ValueError(f"bad access condition {text!r}: one of always, pin, role:<p>, pin-or-role:<p>, never")
    return kind, permission or None


@dataclass(frozen=True)
class Permission:
    name: str
    bit: int
    doc: str


@dataclass(frozen=True)
class StatusWord:
    name: str
    code: int
    message: str
    is_range: bool = False


@dataclass(frozen=True)
class Protocol:
    meta: dict[str, Any]
    instructions: dict[str, Instruction]
    status_words: dict[str, StatusWord]
    tags: dict[str, int]
    tag_docs: dict[str, str]
    constants: dict[str, int]
    constant_types: dict[str, str] = field(default_factory=dict)
    constant_docs: dict[str, str] = field(default_factory=dict)
    permissions: dict[str, Permission] = field(default_factory=dict)

    @property
    def applet_aid(self) -> bytes:
        return bytes.fromhex(self.meta["applet_aid"])

    @property
    def package_aid(self) -> bytes:
        return bytes.fromhex(self.meta["package_aid"])

    @property
    def cla(self) -> int:
        return int(self.meta["cla_proprietary"])

    def describe_sw(self, sw: int) -> StatusWord | None:
        """The status word that ``sw`` is, or the range it falls in (61xx, 6Cxx, 63Cx)."""
        for word in self.status_words.values():
            if not word.is_range and word.code == sw:
                return word
        for word in self.status_words.values():
            if word.is_range:
                mask = 0xFFF0 if word.code & 0x00F0 else 0xFF00
                if sw & mask == word.code:
                    return word
        return None


def parse(text: str) -> Protocol:
    raw = tomllib.loads(text)
    instructions = {
        item["name"]: Instruction(
            name=item["name"],
            code=int(item["code"]),
            capability=item["capability"],
            lifecycle=item["lifecycle"],
            cla=item.get("cla", "proprietary"),
            p1p2=item["p1p2"],
            data=item["data"],
            response=item["response"],
            preconditions=item["preconditions"],
            sw=tuple(item["sw"]),
            doc=item["doc"],
            access=_access(item["name"], item["lifecycle"], item["access"]),
            writes=bool(item.get("writes", False)),
            when_invalid=bool(item.get("when_invalid", False)),
        )
        for item in raw.get("ins", [])
    }
    words = {w["name"]: StatusWord(w["name"], int(w["code"]), w["message"]) for w in raw.get("sw", [])}
    for w in raw.get("sw_range", []):
        words[w["name"]] = StatusWord(w["name"], int(w["code"]), w["message"], is_range=True)
    return Protocol(
        meta=raw["meta"],
        instructions=instructions,
        status_words=words,
        tags={t["name"]: int(t["code"]) for t in raw.get("tag", [])},
        tag_docs={t["name"]: t["doc"] for t in raw.get("tag", [])},
        constants={c["name"]: int(c["value"]) for c in raw.get("const", [])},
        constant_types={c["name"]: c["type"] for c in raw.get("const", [])},
        constant_docs={c["name"]: c["doc"] for c in raw.get("const", [])},
        permissions={q["name"]: Permission(q["name"], int(q["bit"]), q["doc"]) for q in raw.get("permission", [])},
    )


def source_text() -> str:
    return resources.files("cardsmith.protocol").joinpath("protocol.toml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load() -> Protocol:
    """The protocol this host speaks."""
    return parse(source_text())


PROTOCOL = load()
