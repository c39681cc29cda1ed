"""The issuing station: a technician's desk issuing the records of a batch onto blank cards, one after another.

For each record still to issue: open the card in the reader, CLEAR a half-applied bundle if asked, write the
record's sealed bundle and START it (resuming a card pulled earlier), and log the outcome. A card pulled in
the middle is logged as ``interrupted`` and raises CardRemovedError: put it back and run again, it resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..core.card import Card
from ..core.errors import CardRemovedError, NoCardError, UsageError
from ..core.keys import parse_hex
from .log import IssuanceLog
from .progress import ProgressTable
from .session import IssuanceRejected, IssuanceSession

if TYPE_CHECKING:
    from ..transport.events import CardEvents

OpenCard = Callable[[], AbstractContextManager[Card]]


class Reservations(Protocol):
    """Where a station's records come from besides its own log: the issuer server (cardsmith.remote) reserves
    each record for one card. ``todo`` gives the entries to issue (``claim`` fills each in just before its card;
    ``local`` is the station's own pick from its log, for when the server is unreachable); ``report`` hears
    every outcome the log records."""

    def todo(self, record_id: str | None, count: int, local: Callable[[str | None, int], list[dict]]) -> list[dict]:
        ...
    def claim(self, entry: dict, local: Callable[[str | None], dict]) -> dict: ...
    def report(self, record_id: str, card_id: bytes, result: str, detail: str | None) -> None: ...


@dataclass(frozen=True)
class CardResult:
    record_id: str
    card_id: str
    result: str  # issued, rejected
    actions: list[str]
    detail: str | None
    exchanges: int

    def as_json(self) -> dict:
        return {"record_id": self.record_id, "card_id": self.card_id, "result": self.result,
                "actions": self.actions, "detail": self.detail, "exchanges": self.exchanges}

    def describe(self) -> str:
        actions = "; " + ", ".join(self.actions) if self.actions else ""
        return (f"{self.record_id:<16} card {self.card_id}  {self.result}  ({self.detail}; "
                f"{self.exchanges} exchanges{actions})")


@dataclass
class StationRun:
    results: list[CardResult] = field(default_factory=list)
    log_path: str = ""

    def raise_for_rejected(self) -> None:
        """IssuanceRejected naming the records that were not issued, if any."""
        rejected = [r.record_id for r in self.results if r.result != "issued"]
        if rejected:
            raise IssuanceRejected(f"not issued: {', '.join(rejected)} (cleared back to blank; see the log "
                                   f"{self.log_path}); set the card aside or retry with a new card")


def parse_master_key(text: str | None) -> bytes | None:
    """The issuer master key for a profile's {derive = ...} keys, given in hex."""
    return None if text is None else parse_hex(text, "--master-key", (16, 32))


class IssuingStation:
    """One batch, one issuance log, one reader."""

    def __init__(self, batch: dict, log: IssuanceLog, open_card: OpenCard,
                 reservations: Reservations | None = None) -> None:
        self.batch = batch
        self.log = log
        self.open_card = open_card
        self.reservations = reservations
        self.table = ProgressTable.from_json(batch.get("progress"))

    def todo(self, record_id: str | None = None, count: int = 1, *, reissue: bool = False) -> list[dict]:
        """The batch entries to issue: the named record, or the next ``count`` not issued yet (the log says; with
        a server, the server reserves them). A record the log shows issued is refused unless ``reissue`` (a lost
        or broken card replaced)."""
        if record_id:
            self._local_todo(record_id, 1, reissue=reissue)  # not in the batch, or issued here: refused first
        if self.reservations is not None:
            return self.reservations.todo(record_id, count, lambda rid, n: self._local_todo(rid, n, reissue=reissue))
        return self._local_todo(record_id, count, reissue=reissue)

    def _local_todo(self, record_id: str | None, count: int, *, reissue: bool = False) -> list[dict]:
        bundles = self.batch["bundles"]
        if record_id:
            chosen = [b for b in bundles if b["record_id"] == record_id]
            if not chosen:
                raise UsageError(f"record {record_id!r} is not in the batch")
            issued = [e for e in self.log.entries(record_id) if e.result == "issued"
                      and e.profile == self.batch["profile"] and e.sequence == self.batch["sequence"]]
            if issued and not reissue:
                raise UsageError(f"record {record_id} was issued already, onto card {issued[-1].card_id} at "
                                 f"{issued[-1].time} (`cardsmith issuance log`): give --reissue to issue it "
                                 "again onto another card")
            return chosen
        done = self.log.issued_records(self.batch["profile"], self.batch["sequence"])
        chosen = [b for b in bundles if b["record_id"] not in done][:count]
        if not chosen:
            raise UsageError(f"every record of the batch is issued already (see the log {self.log.path})")
        return chosen

    def _log(self, card_id: bytes, record_id: str, result: str, **more: object) -> None:
        self.log.record(card_id=card_id, record_id=record_id, profile=self.batch["profile"],
                        sequence=self.batch["sequence"], result=result, **more)  # type: ignore[arg-type]
        if self.reservations is not None:
            failed_at, sw = more.get("failed_at"), more.get("sw")
            detail = f"inner command {failed_at} failed with {sw:04X}" if failed_at and sw is not None else None
            self.reservations.report(record_id, card_id, result, detail)

    def issue_one(self, entry: dict, *, clear_first: bool = False) -> CardResult:
        """Issues one batch entry onto the card in the reader and logs how it went."""
        if self.reservations is not None:
            entry = self.reservations.claim(entry, lambda rid: self._local_todo(rid, 1)[0])
        envelope = bytes.fromhex(entry["bundle"])
        record_id = entry["record_id"]
        with self.open_card() as card:
            session = IssuanceSession(card)
            if clear_first:
                session.clear_if_part_run()
            card_id = card.info().card_id
            try:
                outcome = session.issue(envelope, self.table, record_id=record_id, holds=lambda cid: (
                    self.log.interrupted_on(cid, self.batch["profile"], self.batch["sequence"])))
            except CardRemovedError:
                self._log(card_id, record_id, "interrupted", actions=[])
                raise CardRemovedError(
                    f"the card left the reader during issuance of record {record_id}: put it back and run the "
                    "same `cardsmith issue` again; it resumes where it stopped") from None
        start = outcome.start
        failed = start is not None and not start.complete
        self._log(outcome.card_id, record_id, outcome.result, failed_at=start.failed_at if failed else None,
                  sw=start.inner_sw if failed else None, actions=outcome.actions, exchanges=outcome.exchanges,
                  bytes_on_wire=outcome.bytes_on_wire)
        return CardResult(record_id, outcome.card_id.hex().upper(), outcome.result, outcome.actions,
                          start.describe() if start else None, outcome.exchanges)

    def run(self, todo: list[dict], *, clear_first: bool = False,
            before_card: Callable[[int, dict, CardResult], None] | None = None) -> Iterator[CardResult]:
        """Issues each entry in turn; ``before_card(n, entry, previous)`` runs before every card after the first
        (the technician swaps cards there: :meth:`wait_for_next`)."""
        previous: CardResult | None = None
        for n, entry in enumerate(todo):
            if previous is not None and before_card:
                before_card(n, entry, previous)
            previous = self.issue_one(entry, clear_first=clear_first)
            yield previous

    def wait_for_next(self, events: CardEvents, previous: CardResult, entry: dict, say: Callable[[str], None],
                      timeout: float) -> None:
        """The desk's card swap, from card events: the card just done leaves, a card arrives, and it is not the
        one just done coming back (its card id is read; nothing else is sent). ``say`` tells the technician
        what to do; a swap that does not happen within ``timeout`` seconds (each step) stops the batch."""
        def wait(present: bool, what: str) -> None:
            if not events.wait(present, timeout):
                raise NoCardError(f"no card {what} {events.name!r} within {timeout:.0f} s: the batch stops before "
                                  f"record {entry.get('record_id', '(the next)')}; run `cardsmith issue` again to go "
                                  "on")

        if events.present():
            say(f"remove card {previous.card_id} ({previous.record_id}, {previous.result})")
            wait(False, "left")
        while True:
            say(f"insert the next blank card for record {entry.get('record_id', '(the next one)')}")
            wait(True, "arrived in")
            with self.open_card() as card:
                card_id = card.info().card_id.hex().upper()
            if card_id != previous.card_id:
                return
            say(f"that is card {card_id} again, the one just done: take it out and insert a blank card")
            wait(False, "left")
