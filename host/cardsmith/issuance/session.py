"""The self-issuance capability's card session (applet class Bundle): write a bundle, START it, and act on
the outcome.

The station never sees personalisation data: it handles sealed bundles, the card's progress and status
words, and a progress table (failure point -> action) that the preparer wrote into the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.card import Card
from ..core.errors import BadDataError, CardRefusedError, CardRejectedError, ProtocolError, UsageError
from ..protocol.codes import (
    BUNDLE_DONE,
    BUNDLE_EMPTY,
    BUNDLE_FAILED,
    BUNDLE_LOADING,
    BUNDLE_OUTCOME_COMPLETE,
    BUNDLE_READY,
    BUNDLE_RUNNING,
    Ins,
)
from .bundle import EnvelopeHeader, InnerCommand, max_chunk
from .progress import REJECT, RESUME, ProgressTable

STATUS_NAMES = {BUNDLE_EMPTY: "EMPTY", BUNDLE_LOADING: "LOADING", BUNDLE_READY: "READY", BUNDLE_RUNNING: "RUNNING",
                BUNDLE_FAILED: "FAILED", BUNDLE_DONE: "DONE"}


class IssuanceRejected(CardRejectedError):
    """The progress table rejected a card: it was cleared back to blank and must be set aside or retried."""




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
        return cls(data[0] == BUNDLE_OUTCOME_COMPLETE, int.from_bytes(data[1:3], "big"),
                   int.from_bytes(data[3:5], "big"), int.from_bytes(data[5:7], "big"),
                   int.from_bytes(data[7:9], "big"))

    def describe(self) -> str:
        if self.complete:
            return f"complete: {self.count} inner commands"
        return (f"inner command {self.failed_at} of {self.count} failed with {self.inner_sw:04X}; "
                f"{self.done} committed")


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


class IssuanceSession:
    """The self-issuance commands of one card: PUT_BUNDLE, START_BUNDLE, BUNDLE_STATUS, CLEAR_BUNDLE, SET_PERSO_KEY."""

    def __init__(self, card: Card) -> None:
        self.card = card

    def status(self) -> BundleStatus:
        return BundleStatus.parse(self.card.call(Ins.BUNDLE_STATUS))

    def put_bundle(self, envelope: bytes, chunk: int | None = None) -> tuple[int, int, int]:
        """Writes the sealed bundle in chunks; returns (command count, checkpoint count, sequence)."""
        size = chunk or max_chunk()
        parts = [envelope[i : i + size] for i in range(0, len(envelope), size)]
        answer = b""
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            answer = self.card.call(Ins.PUT_BUNDLE, p1=0x80 if last else 0, sensitive=True, expect_data=last,
                                    data=(n * size).to_bytes(2, "big") + part)
        if len(answer) != 7:
            raise ProtocolError(f"PUT_BUNDLE answered {len(answer)} bytes after the last chunk, expected 7")
        return int.from_bytes(answer[0:2], "big"), answer[2], int.from_bytes(answer[3:7], "big")

    def start(self) -> StartResult:
        return StartResult.parse(self.card.call(Ins.START_BUNDLE))

    def clear(self) -> None:
        """CLEAR_BUNDLE: the bundle and everything personalisation wrote (not after ISSUED)."""
        self.card.call(Ins.CLEAR_BUNDLE, expect_data=False)

    def set_perso_key(self, envelope: bytes) -> int:
        return int.from_bytes(self.card.call(Ins.SET_PERSO_KEY, data=envelope, sensitive=True), "big")

    def clear_if_part_run(self) -> bool:
        """CLEARs a bundle left running or failed (what `issue --clear` asks for); whether it did."""
        if self.status().name in ("RUNNING", "FAILED"):
            self.clear()
            return True
        return False

    def issue(self, envelope: bytes, table: ProgressTable | None = None, *, retries: int = 1,
              on_action: Callable[[str, StartResult], None] | None = None,
              holds: Callable[[bytes], str | None] | None = None, record_id: str | None = None) -> IssueOutcome:
        """Writes ``envelope`` (unless the card already holds it part-run) and STARTs it; failures follow
        ``table``. A card pulled mid-START raises CardRemovedError: put it back and call again, it resumes.

        The card shows a part-run bundle's length and sequence, not its content, and every bundle of a batch
        has the same sequence. ``holds(card_id)`` (the station's issuance log) names the record whose bundle
        was interrupted on that card; with it, a part-run bundle is resumed only when that is ``record_id``."""
        table = table or ProgressTable()
        card = self.card
        header = EnvelopeHeader.parse(envelope)
        before = (card.stats.exchanges, card.stats.bytes_in + card.stats.bytes_out, time.perf_counter())
        info = card.info()
        info_id = info.card_id
        if not info.installed:
            raise IssuanceRejected(f"card {info_id.hex().upper()} is {info.lifecycle_name} already: "
                                   "personalisation is closed on it, set it aside")
        if header.bound and header.card_id != info_id:
            raise UsageError(f"this bundle is for card {header.card_id.hex().upper()}, the reader holds "
                             f"{info_id.hex().upper()}: insert the right card")
        outcome = IssueOutcome("rejected", info_id, None)
        status = self.status()
        same = (status.name in ("RUNNING", "FAILED") and status.received == len(envelope)
                and status.sequence == header.sequence)
        if same and holds is not None:
            held = holds(info_id)
            if held != record_id:
                whose = f"record {held}" if held else "a record this station's log does not name"
                raise UsageError(f"card {info_id.hex().upper()} holds the part-run bundle of {whose}, not of "
                                 f"{record_id}: finish that one (`cardsmith issue BATCH --record {held}`) or clear "
                                 "the card first (`cardsmith issue --clear`)" if held else
                                 f"card {info_id.hex().upper()} holds the part-run bundle of {whose}: clear it "
                                 "first (`cardsmith issue --clear`)")
        if same:
            outcome.actions.append(RESUME)  # our bundle, part-run: resume it (the card knows where)
        else:
            if status.name in ("RUNNING", "FAILED"):
                raise UsageError(f"the card holds another bundle, {status.name.lower()} at command "
                                 f"{status.next_command}: clear it first (`cardsmith issue --clear`)")
            if header.sequence <= status.last_sequence:
                raise BadDataError(f"this card already consumed bundle sequence {status.last_sequence}; "
                                   f"the bundle ({header.sequence}) is a replay: prepare a new one")
            self.put_bundle(envelope)
        self._run(envelope, table, retries, on_action, outcome)
        outcome.exchanges = card.stats.exchanges - before[0]
        outcome.bytes_on_wire = card.stats.bytes_in + card.stats.bytes_out - before[1]
        outcome.seconds = time.perf_counter() - before[2]
        return outcome

    def _run(self, envelope: bytes, table: ProgressTable, retries: int,
             on_action: Callable[[str, StartResult], None] | None, outcome: IssueOutcome) -> None:
        """START until complete, following the progress table on each failure."""
        attempts = 0
        while True:
            result = self.start()
            outcome.start = result
            if result.complete:
                outcome.result = "issued"
                return
            action = table.action(result.failed_at, result.inner_sw)
            if action != REJECT and attempts >= retries:
                action = REJECT
            outcome.actions.append(action)
            if on_action:
                on_action(action, result)
            attempts += 1
            if action == RESUME:
                continue
            self.clear()
            if action == REJECT:
                outcome.result = "rejected"
                return
            self.put_bundle(envelope)

    def personalise_conventional(self, commands: list[InnerCommand]) -> None:
        """The same personalisation sent command by command from the terminal: every APDU crosses the wire
        in clear, and the station sees all the data. The baseline that bench/issuance.py compares against."""
        for i, cmd in enumerate(commands, 1):
            try:
                self.card.call(cmd.ins, cmd.p1, cmd.p2, cmd.data, sensitive=True)
            except CardRefusedError as exc:
                raise CardRefusedError(exc.sw, f"{cmd.label or cmd.name} (command {i})", str(exc)) from exc
