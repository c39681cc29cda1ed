"""Issuance with the issuer server: :class:`ServerReservations` is the station's
:class:`cardsmith.issuance.station.Reservations`. Online, every card's record is reserved on the server just
before it is written (so N desks issuing one batch never issue a record twice, and `issue --record` of a
record issued elsewhere is refused) and its outcome reported after. Offline (the server unreachable at the
start, or gone in the middle), the station issues from its local batch and log as without a server, and
every outcome waits in the :class:`~.outbox.Outbox` for `cardsmith sync`."""

from __future__ import annotations

from collections.abc import Callable

from ..backup.session import Notify
from ..core.errors import ServerConflict, ServerUnavailable
from .client import ServerClient
from .outbox import Outbox

LocalPick = Callable[[str | None], dict]


class ServerReservations:
    def __init__(self, server: ServerClient | None, batch: dict, batch_path: str, outbox: Outbox,
                 notify: Notify | None = None) -> None:
        self.server, self.batch, self.batch_path, self.outbox = server, batch, batch_path, outbox
        self.notify = notify or (lambda _line: None)
        self.batch_id: int | None = None
        self.tokens: dict[str, str] = {}  # record id -> this run's reservation
        if server is not None:
            try:
                self.batch_id = server.post_batch(batch)["batch_id"]
            except ServerUnavailable as exc:
                self._offline(exc)

    @property
    def online(self) -> bool:
        return self.batch_id is not None

    def _offline(self, exc: ServerUnavailable) -> None:
        self.batch_id = None
        self.notify(f"{exc}; issuing from the local batch and log, outcomes queued in {self.outbox.path}")

    def todo(self, record_id: str | None, count: int, local: Callable[[str | None, int], list[dict]]) -> list[dict]:
        """Online: entries reserved one at a time by :meth:`claim`, each just before its card. Offline: the
        station's own pick from its batch and log."""
        if not self.online:
            return local(record_id, count)
        return [{"record_id": record_id}] if record_id else [{"record_id": None} for _ in range(count)]

    def claim(self, entry: dict, local: LocalPick) -> dict:
        """The batch entry to write onto the next card: reserved on the server, or (offline) the local pick."""
        if self.online:
            try:
                got = self.server.reserve(self.batch_id, entry.get("record_id"))  # type: ignore[union-attr]
            except ServerUnavailable as exc:
                self._offline(exc)
            else:
                self.tokens[got["record_id"]] = got["reservation"]
                return got["entry"]
        return entry if entry.get("bundle") else local(entry.get("record_id"))

    def report(self, record_id: str, card_id: bytes, result: str, detail: str | None) -> None:
        """The card's outcome to the server; kept in the outbox when it cannot take it now (or refuses it)."""
        card_hex = card_id.hex().upper()
        token = self.tokens.get(record_id)
        if self.online and token is not None:
            try:
                self.server.report(token, card_hex, result, detail)  # type: ignore[union-attr]
                if result != "interrupted":
                    self.tokens.pop(record_id, None)
                return
            except ServerUnavailable as exc:
                self._offline(exc)
            except ServerConflict as exc:
                self.notify(f"record {record_id} on card {card_hex}: {exc}; kept in the outbox for the operator")
                self._queue(record_id, card_hex, result, detail, "conflict", str(exc))
                return
        self._queue(record_id, card_hex, result, detail, "pending", None)

    def _queue(self, record_id: str, card_hex: str, result: str, detail: str | None, state: str,
               note: str | None) -> None:
        self.outbox.add(batch_path=self.batch_path, profile=self.batch["profile"], sequence=self.batch["sequence"],
                        record_id=record_id, card_id=card_hex, result=result, detail=detail, state=state, note=note)
