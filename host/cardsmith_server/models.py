"""The API's request and response bodies (they are the OpenAPI description's schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CARD_ID = r"^[0-9A-Fa-f]{16}$"
DIGEST = r"^[0-9a-f]{64}$"
HEX = r"^([0-9A-Fa-f]{2})+$"
Role = Literal["admin", "station", "terminal"]


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    database: str
    schema_revision: str


class WhoAmI(BaseModel):
    key_id: str
    issuer: str
    role: Role
    name: str


class KeyIn(BaseModel):
    role: Role
    name: str = Field(min_length=1, max_length=128)


class KeyOut(BaseModel):
    key_id: str
    issuer: str
    role: Role
    name: str
    created: str
    revoked: bool
    key: str | None = Field(None, description="The key itself: returned once, at creation, never stored")


class BackupEntry(BaseModel):
    digest: str
    card_id: str
    seq: int
    type: Literal["full", "diff"]
    key_version: int
    prev_hash: str
    chain_hash: str
    pages: int
    records: int
    size: int
    created: str
    uploaded_by: str


class Chain(BaseModel):
    card_id: str
    latest_seq: int
    chain: list[BackupEntry]


class CardSummary(BaseModel):
    card_id: str
    backups: int
    latest_seq: int


class BundleIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    record_id: str = Field(min_length=1, max_length=128)
    bundle: str = Field(pattern=HEX, max_length=200000)
    card_id: str | None = Field(None, pattern=CARD_ID)


class BatchIn(BaseModel):
    """A batch as `cardsmith prepare` writes it."""

    model_config = ConfigDict(extra="allow")
    format: str = Field(max_length=64)
    profile: str = Field(min_length=1, max_length=128)
    sequence: int = Field(ge=0, le=0xFFFFFFFF)
    steps: list[str] = Field(default_factory=list, max_length=10000)
    progress: dict[str, Any] | None = None
    bundles: list[BundleIn] = Field(max_length=100000)


class Counts(BaseModel):
    free: int
    reserved: int
    issued: int


class BatchView(BaseModel):
    batch_id: int
    profile: str
    sequence: int
    records: int
    created: str
    digest: str
    progress: dict[str, Any] | None
    steps: list[str]
    counts: Counts


class ReserveIn(BaseModel):
    record_id: str | None = Field(None, min_length=1, max_length=128, description="This record (issue --record)")


class Reservation(BaseModel):
    reservation: str
    batch_id: int
    record_id: str
    position: int
    state: Literal["reserved"]
    card_id: str | None
    entry: dict[str, Any]


class ReportIn(BaseModel):
    card_id: str = Field(pattern=CARD_ID)
    result: Literal["issued", "rejected", "interrupted"]
    detail: str | None = Field(None, max_length=2000)


class ReportOut(BaseModel):
    reservation: str
    record_id: str
    state: Literal["free", "reserved", "issued"]
    repeated: bool


class LogEntry(BaseModel):
    time: str
    record_id: str
    card_id: str
    station: str
    result: Literal["issued", "rejected", "interrupted"]
    detail: str | None
