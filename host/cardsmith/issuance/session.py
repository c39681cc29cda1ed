"""The technician's side of self-issuance: write a bundle, START it, and act on the outcome.

The station never sees personalisation data: it handles sealed bundles, the card's progress and status
words, and a progress table (failure point -> action) that the preparer wrote into the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .bundle import EnvelopeHeader, InnerCommand, max_chunk
from .card import Card
from .errors import (
    EXIT_CARD_REFUSED,
    BadDataError,
    CardRefusedError,
    CardRemovedError,
    CardsmithError,
    ProtocolError,
    UsageError,
    WrongStateError,
)
from .protocol import CONST

STATUS_NAMES = {CONST[n]: n.removeprefix("BUNDLE_") for n in
                ("BUNDLE_EMPTY", "BUNDLE_LOADING", "BUNDLE_READY", "BUNDLE_RUNNING", "BUNDLE_FAILED", "BUNDLE_DONE")}



class IssuanceRejected(CardsmithError):
    """The progress table rejected a card: it was cleared back to blank and must be set aside or retried."""

    exit_code = EXIT_CARD_REFUSED


RESUME = "resume"
CLEAR_AND_RETRY = "clear_and_retry"
REJECT = "reject"
ACTIONS = (RESUME, CLEAR_AND_RETRY, REJECT)


@dataclass(frozen=True)
class BundleStatus:
    status: int
    count: int
    done: int
    next_command: int
    failed_at: int
    inner_sw: int
    last_sequence: int
    store_size: int
    received: int
    key_generation: int
    sequence: int  # of the bundle in the store (accepted or run), 0 when none

    @property
    def name(self) -> str:
        return STATUS_NAMES.get(self.status, f"UNKNOWN({self.status:02X})")

    @classmethod
    def parse(cls, data: bytes) -> BundleStatus:
        if len(data) != 25:
            raise ProtocolError(f"BUNDLE_STATUS answered {len(data)} bytes, expected 25")

        def s(i: int) -> int:
            return int.from_bytes(data[i : i + 2], "big")

        return cls(data[0], s(1), s(3), s(5), s(7), s(9), int.from_bytes(data[11:15], "big"), s(15), s(17), s(19),
                   int.from_bytes(data[21:25], "big"))


@dataclass(frozen=True)
class StartResult:
    complete: bool
    failed_at: int  # 1-based number of the inner command that failed, 0 when complete
    inner_sw: int
    done: int  # inner commands whose effects are committed
    count: int

    @classmethod
    def parse(cls, data: bytes) -> StartResult:
        if len(data) != 9:
            raise ProtocolError(f"START_BUNDLE answered {len(data)} bytes, expected 9")
        return cls(data[0] == CONST["BUNDLE_OUTCOME_COMPLETE"], int.from_bytes(data[1:3], "big"),
                   int.from_bytes(data[3:5], "big"), int.from_bytes(data[5:7], "big"),
                   int.from_bytes(data[7:9], "big"))

    def describe(self) -> str:
        if self.complete:
            return f"complete: {self.count} inner commands"
        return (f"inner command {self.failed_at} of {self.count} failed with {self.inner_sw:04X}; "
                f"{self.done} committed")


def bundle_status(card: Card) -> BundleStatus:
    return BundleStatus.parse(card.call("BUNDLE_STATUS"))


def put_bundle(card: Card, envelope: bytes, chunk: int | None = None) -> tuple[int, int, int]:
    """Writes the sealed bundle in chunks; returns (command count, checkpoint count, sequence)."""
    size = chunk or max_chunk()
    parts = [envelope[i : i + size] for i in range(0, len(envelope), size)]
    answer = b""
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        answer = card.call("PUT_BUNDLE", p1=0x80 if last else 0, data=(n * size).to_bytes(2, "big") + part,
                           sensitive=True, expect_data=last)
    if len(answer) != 7:
        raise ProtocolError(f"PUT_BUNDLE answered {len(answer)} bytes after the last chunk, expected 7")
    return int.from_bytes(answer[0:2], "big"), answer[2], int.from_bytes(answer[3:7], "big")


def start_bundle(card: Card) -> StartResult:
    return StartResult.parse(card.call("START_BUNDLE"))


def clear_bundle(card: Card) -> None:
    card.call("CLEAR_BUNDLE", expect_data=False)


def set_perso_key(card: Card, envelope: bytes) -> int:
    return int.from_bytes(card.call("SET_PERSO_KEY", data=envelope, sensitive=True), "big")


# ---------------------------------------------------------------- the progress table


@dataclass(frozen=True)
class Rule:
    """Failure at an inner command in [first, last] with a status word in ``sws`` (empty: any) -> action."""

    action: str
    first: int = 1
    last: int = 0xFFFF
    sws: tuple[int, ...] = ()

    def matches(self, failed_at: int, sw: int) -> bool:
        return self.first <= failed_at <= self.last and (not self.sws or sw in self.sws)


@dataclass
class ProgressTable:
    """The patent's progress management table: which action a failure at inner command k calls for.
    The first matching rule wins; no match: ``default``. An interruption (card pulled, power lost) is
    always resumed: the card rolled the interrupted unit back."""

    rules: list[Rule] = field(default_factory=list)
    default: str = CLEAR_AND_RETRY

    def action(self, failed_at: int, sw: int) -> str:
        for rule in self.rules:
            if rule.matches(failed_at, sw):
                return rule.action
        return self.default

    @classmethod
    def from_json(cls, data: dict | None) -> ProgressTable:
        if not data:
            return cls()
        rules = []
        for r in data.get("rules", []):
            action = r["action"]
            if action not in ACTIONS:
                raise UsageError(f"progress table: unknown action {action!r}; use one of {', '.join(ACTIONS)}")
            first, _, last = str(r.get("commands", "1-65535")).partition("-")
            rules.append(Rule(action, int(first), int(last or first),
                              tuple(int(s, 16) for s in r.get("sw", []))))
        default = data.get("default", CLEAR_AND_RETRY)
        if default not in ACTIONS:
            raise UsageError(f"progress table: unknown default action {default!r}")
        return cls(rules, default)

    def to_json(self) -> dict:
        return {"default": self.default,
                "rules": [{"action": r.action, "commands": f"{r.first}-{r.last}",
                           "sw": [f"{s:04X}" for s in r.sws]} for r in self.rules]}


# ---------------------------------------------------------------- one card


@dataclass
class IssueOutcome:
    result: str  # "issued", "rejected", "interrupted"
    card_id: bytes
    start: StartResult | None
    actions: list[str] = field(default_factory=list)
    exchanges: int = 0
    bytes_on_wire: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result == "issued"


def issue_card(card: Card, envelope: bytes, table: ProgressTable | None = None, *, retries: int = 1,
               on_action: Callable[[str, StartResult], None] | None = None) -> IssueOutcome:
    """Writes ``envelope`` (unless the card already holds it part-run) and STARTs it; failures follow
    ``table``. A card pulled mid-START raises CardRemovedError: put it back and call again, it resumes."""
    table = table or ProgressTable()
    header = EnvelopeHeader.parse(envelope)
    before = (card.stats.exchanges, card.stats.bytes_in + card.stats.bytes_out, time.perf_counter())
    info = card.info()
    info_id = info.card_id
    if info.lifecycle_name != "INSTALLED":
        raise IssuanceRejected(f"card {info_id.hex().upper()} is {info.lifecycle_name} already: personalisation "
                               "is closed on it, set it aside")
    if header.bound and header.card_id != info_id:
        raise UsageError(f"this bundle is for card {header.card_id.hex().upper()}, the reader holds "
                         f"{info_id.hex().upper()}: insert the right card")
    outcome = IssueOutcome("rejected", info_id, None)
    status = bundle_status(card)
    if (status.name in ("RUNNING", "FAILED") and status.received == len(envelope)
            and status.sequence == header.sequence):
        outcome.actions.append(RESUME)  # our bundle, part-run: resume it (the card knows where)
    else:
        if status.name in ("RUNNING", "FAILED"):
            raise UsageError(f"the card holds another bundle, {status.name.lower()} at command "
                             f"{status.next_command}: clear it first (`cardsmith issue --clear`)")
        if header.sequence <= status.last_sequence:
            raise BadDataError(f"this card already consumed bundle sequence {status.last_sequence}; "
                               f"the bundle ({header.sequence}) is a replay: prepare a new one")
        put_bundle(card, envelope)
    attempts = 0
    while True:
        result = start_bundle(card)
        outcome.start = result
        if result.complete:
            outcome.result = "issued"
            break
        action = table.action(result.failed_at, result.inner_sw)
        if action != REJECT and attempts >= retries:
            action = REJECT
        outcome.actions.append(action)
        if on_action:
            on_action(action, result)
        attempts += 1
        if action == RESUME:
            continue
        clear_bundle(card)
        if action == REJECT:
            outcome.result = "rejected"
            break
        put_bundle(card, envelope)
    outcome.exchanges = card.stats.exchanges - before[0]
    outcome.bytes_on_wire = card.stats.bytes_in + card.stats.bytes_out - before[1]
    outcome.seconds = time.perf_counter() - before[2]
    return outcome


def resume_after_removal(card: Card) -> StartResult:
    """After a pull mid-START: power the card back, and START again (the card resumes its unit)."""
    card.reset()
    return start_bundle(card)


# ---------------------------------------------------------------- the conventional baseline


def personalise_conventional(card: Card, commands: list[InnerCommand]) -> None:
    """The same personalisation sent command by command from the terminal: every APDU crosses the wire
    in clear, and the station sees all the data. The baseline that bench/issuance.py compares against."""
    for i, cmd in enumerate(commands, 1):
        try:
            card.call(cmd.ins, cmd.p1, cmd.p2, cmd.data, sensitive=True)
        except CardRefusedError as exc:
            raise CardRefusedError(exc.sw, f"{cmd.label or cmd.name} (command {i})", str(exc)) from exc


__all__ = ["BundleStatus", "StartResult", "ProgressTable", "Rule", "IssueOutcome", "bundle_status", "put_bundle",
           "start_bundle", "clear_bundle", "set_perso_key", "issue_card", "resume_after_removal",
           "personalise_conventional", "CardRemovedError", "WrongStateError"]
