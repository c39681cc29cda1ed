"""Uploading a terminal's usage records to the issuer server (``/v1/usage``, format ``cardsmith-identity/1``).

Each record goes with the card's identity (so the server checks SA1 under the issuer key it is configured
with, then the card's signature under the key SA1 names). The upload is idempotent: the server keys records
by (card number, ATC) and answers a record it holds as ``repeated``; a record leaves the terminal's
"to upload" list only when the server stored it or already held it. A refused record stays, with the
server's reason reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..remote.client import ServerClient
from .terminal_log import LoggedRecord, TerminalLog

FORMAT = "cardsmith-identity/1"
BATCH = 500


def as_upload(logged: LoggedRecord) -> dict:
    r = logged.record
    return {"format": FORMAT, "card_id": r.idu.hex().upper(), "counter": r.atc,
            "time": r.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "event": "charge",
            "data": {"charge": r.charge, "terminal_id": r.terminal_id.hex().upper(), "nt": r.nt.decode(),
                     "record": r.body.hex().upper(), "identity": logged.identity.encode().hex().upper()},
            "signature": r.signature.hex().upper()}


@dataclass(frozen=True)
class UploadResult:
    stored: int
    repeated: int
    refused: list[dict]
    left: int

    def as_json(self) -> dict:
        return {"stored": self.stored, "repeated": self.repeated, "refused": self.refused, "left": self.left}


def upload(log: TerminalLog, client: ServerClient) -> UploadResult:
    stored = repeated = 0
    refused: list[dict] = []
    todo = log.records(not_uploaded=True)
    for start in range(0, len(todo), BATCH):
        batch = todo[start:start + BATCH]
        answer = client.upload_usage([as_upload(r) for r in batch])
        bad = {item["index"] for item in answer.get("refused", [])}
        refused += answer.get("refused", [])
        stored += int(answer.get("stored", 0))
        repeated += int(answer.get("repeated", 0))
        log.mark_uploaded([(r.record.idu, r.record.atc) for i, r in enumerate(batch) if i not in bad])
    return UploadResult(stored, repeated, refused, len(log.records(not_uploaded=True)))
