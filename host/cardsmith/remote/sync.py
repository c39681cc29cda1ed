"""`cardsmith sync`: what a station did offline, to the issuer server. Backups: every completed local backup the
server lacks (:func:`.backups.push`). Issuance: every outcome in the outbox, in the order it happened: the
batch posted (idempotent), the record reserved by its id, the outcome reported. Conflict rules
(docs/server.md): nothing is overwritten either way; what the server refuses stays local, marked
``conflict``, and is reported on every sync until the operator settles it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backup.catalogue import Catalogue
from ..core.errors import BadDataError, ServerConflict
from ..issuance.profile import load_batch
from .backups import PushReport, push
from .client import ServerClient
from .outbox import Outbox, Report


@dataclass
class SyncReport:
    backups: PushReport
    reported: list[str] = field(default_factory=list)  # record ids whose outcome the server has now
    conflicts: list[dict] = field(default_factory=list)  # outcomes the server refused (kept in the outbox)

    def as_json(self) -> dict:
        return {"backups": self.backups.as_json(), "issuance": {"reported": self.reported,
                                                                "conflicts": self.conflicts}}

    def describe(self) -> str:
        b = self.backups
        lines = [f"backups: {len(b.uploaded)} uploaded, {b.already} on the server already, {len(b.conflicts)} refused",
                 f"issuance: {len(self.reported)} outcomes reported, {len(self.conflicts)} refused"]
        lines += [f"  refused backup {c['backup']}: {c['detail']}" for c in b.conflicts]
        lines += [f"  refused record {c['record_id']} on card {c['card_id']} ({c['result']}): {c['detail']}"
                  for c in self.conflicts]
        return "\n".join(lines)

    def raise_for_conflicts(self) -> None:
        n = len(self.backups.conflicts) + len(self.conflicts)
        if n:
            raise ServerConflict(f"{n} item(s) refused by the server, kept on this station (backups in the local "
                                 "catalogue, outcomes in the outbox): the operator settles them (docs/server.md)", 409)


class _Batches:
    """Batch files posted once per sync."""

    def __init__(self, server: ServerClient) -> None:
        self.server = server
        self.ids: dict[str, int] = {}

    def id_of(self, report: Report) -> int:
        if report.batch_path not in self.ids:
            self.ids[report.batch_path] = self.server.post_batch(load_batch(report.batch_path))["batch_id"]
        return self.ids[report.batch_path]


def _push_report(server: ServerClient, batches: _Batches, r: Report) -> None:
    """One outcome to the server; ServerConflict / BadDataError when it refuses it."""
    batch_id = batches.id_of(r)
    try:
        got = server.reserve(batch_id, r.record_id)
    except ServerConflict:
        issued_here = [e for e in server.batch_log(batch_id) if e["record_id"] == r.record_id
                       and e["result"] == "issued" and e["card_id"] == r.card_id]
        if r.result == "issued" and issued_here:
            return  # the server has it already (an earlier sync's answer was lost)
        raise
    server.report(got["reservation"], r.card_id, r.result, r.detail)


def sync(server: ServerClient, catalogue: Catalogue, outbox: Outbox) -> SyncReport:
    """Uploads the station's backups and outcomes; stops with ServerUnavailable if the server goes away (what
    was sent stays sent, the rest stays queued)."""
    report = SyncReport(push(server, catalogue))
    batches = _Batches(server)
    for r in outbox.reports():
        item = {"record_id": r.record_id, "card_id": r.card_id, "result": r.result, "time": r.time}
        if r.state == "conflict":
            report.conflicts.append({**item, "detail": r.note})
            continue
        try:
            _push_report(server, batches, r)
        except (ServerConflict, BadDataError) as exc:
            outbox.conflict(r.id, str(exc))
            report.conflicts.append({**item, "detail": str(exc)})
            continue
        outbox.done(r.id)
        report.reported.append(r.record_id)
    return report
