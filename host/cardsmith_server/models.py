"""The API's request and response bodies (they are the OpenAPI description's schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CARD_ID = r"^[0-9A-Fa-f]{16}$"
DIGEST = r"^[0-9a-f]{64}$"
HEX = r"^([0-9A-Fa-f]{2})+$"
TEXT = r"^[^\x00]*$"  # PostgreSQL text holds no NUL character
Role = Literal["admin", "station", "terminal"]


class Problem(BaseModel):
    detail: str


class Unprocessable(BaseModel):
    """422: the body or a parameter is malformed (a list of the fields that fail, from validation) or its
    content fails one of the server's checks (a sentence)."""

    detail: str | list[dict[str, Any]]


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
    name: str = Field(min_length=1, max_length=128, pattern=TEXT)


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
    record_id: str = Field(min_length=1, max_length=128, pattern=TEXT)
    bundle: str = Field(pattern=HEX, max_length=200000)
    card_id: str | None = Field(None, pattern=CARD_ID)


class BatchIn(BaseModel):
    """A batch as `cardsmith prepare` writes it."""

    model_config = ConfigDict(extra="allow")
    format: str = Field(max_length=64, pattern=TEXT)
    profile: str = Field(min_length=1, max_length=128, pattern=TEXT)
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
    record_id: str | None = Field(None, min_length=1, max_length=128, pattern=TEXT,
                                     description="This record (issue --record)")


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
    detail: str | None = Field(None, max_length=2000, pattern=TEXT)


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


# ---------------------------------------------------------------- usage records

TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
EVENT = r"^[a-z][a-z0-9_.-]{0,31}$"
MAX_USAGE_BATCH = 1000


class UsageIn(BaseModel):
    """One use of a card as a terminal saw it. (card_id, counter) names it: the card's own usage counter."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["cardsmith-usage/1", "cardsmith-identity/1"] = "cardsmith-usage/1"
    card_id: str = Field(pattern=CARD_ID)
    counter: int = Field(ge=0, le=0xFFFFFFFF, description="The card's usage counter, one more for every use")
    time: str = Field(pattern=TIME, description="The terminal's clock, ISO 8601 with its offset")
    event: str = Field(pattern=EVENT, description="What happened, e.g. `entry`, `payment`")
    data: dict[str, Any] = Field(default_factory=dict, description="Details of the event, as the terminal saw them")
    signature: str | None = Field(None, pattern=HEX, max_length=1024,
                                  description="The card's signature over the record's signed bytes (docs/server.md);"
                                              " kept, and checked once the server knows the card keys")


class UsageBatchIn(BaseModel):
    records: list[UsageIn] = Field(min_length=1, max_length=MAX_USAGE_BATCH)


class UsageRefused(BaseModel):
    index: int = Field(description="The record's place in the uploaded batch")
    card_id: str
    counter: int
    reason: str


class UsageUploadOut(BaseModel):
    stored: int = Field(description="Records stored by this upload")
    repeated: int = Field(description="Records identical to ones stored already: nothing stored twice")
    unverified: int = Field(description="Of those stored, how many carry no checked signature")
    refused: list[UsageRefused]


class UsageRecord(BaseModel):
    id: int
    card_id: str
    counter: int
    format: str
    time: str
    event: str
    data: dict[str, Any]
    signature: str | None
    verification: Literal["verified", "unverified"]
    terminal: str
    received: str


class UsageCard(BaseModel):
    card_id: str
    records: int
    first: int = Field(description="The lowest counter received")
    last: int = Field(description="The highest counter received")
    missing: int = Field(description="Counters between first and last with no record")
    unverified: int


class UsageGap(BaseModel):
    after: int
    before: int
    missing: int


class UsageCardView(UsageCard):
    gaps: list[UsageGap] = Field(description="Runs of missing counters, lowest first (at most 1000 listed)")


# ---------------------------------------------------------------- deny list


class DenyIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, pattern=TEXT, description="Why (lost, stolen, ...)")


class DenyEntry(BaseModel):
    kind: Literal["card", "cert"]
    value: str = Field(description="Card number (16 hex digits) or certificate serial (hex), upper case")
    reason: str
    active: bool
    version: int = Field(description="The deny-list version of the entry's last change")
    changed: str
    changed_by: str


class DenyList(BaseModel):
    version: int = Field(description="The issuer's deny-list version; the answer's ETag is it, quoted")
    since: int | None
    full: bool = Field(description="True: `entries` is the whole list; false: only the changes after `since`")
    entries: list[DenyEntry] = Field(description="Entries denied (added or changed)")
    removed: list[DenyEntry] = Field(description="Entries taken off the list after `since`")


# ---------------------------------------------------------------- remote update (docs/update.md)

class UpdateService(BaseModel):
    public_key: str = Field(description="The service's public key (hex point): certify it with role service")
    certificate: str | None = Field(None, description="The issuer's certificate of it (hex), once stored")
    issuer_key: str | None = Field(None, description="The issuer's root public key (hex point)")
    ready: bool


class UpdateServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate: str = Field(pattern=HEX, max_length=342)
    issuer_key: str = Field(pattern=HEX, min_length=130, max_length=130)


class UpdatePackageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: str = Field(pattern=HEX, max_length=2 * 4400, description="The signed package (hex), from "
                         "`cardsmith issuer sign-update`")


class UpdatePackage(BaseModel):
    id: int
    card_id: str
    record: int
    version: int
    op: str
    mode: str
    payload_bytes: int
    expiry: str
    sha256: str
    state: Literal["pending", "delivered", "refused"]
    detail: str | None
    created: str
    delivered: str | None
    attempts: int


class IssuerCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sealed_certificate: str = Field(pattern=HEX, max_length=1024, description="The card's update certificate "
                                    "sealed (ECIES) to the service's key")


class IssuerCheckOut(BaseModel):
    session: str


class Challenge(BaseModel):
    nonce: str


class DeviceAuthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_nonce: str = Field(pattern=HEX, min_length=32, max_length=32)
    signature: str = Field(pattern=HEX, max_length=160, description="DER ECDSA signature from INTERNAL AUTHENTICATE")


class DeviceAuthOut(BaseModel):
    card_id: str
    pending: list[UpdatePackage]


class Delivery(BaseModel):
    done: bool
    package_id: int | None = None
    package: str | None = None
    service_certificate: str | None = None
    date: int | None = None
    signature: str | None = None
    record: int | None = None
    version: int | None = None


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package_id: int = Field(ge=1, le=2**31 - 1)
    ack: str | None = Field(None, pattern=HEX, max_length=300, description="The card's signed acknowledgement")
    refused: str | None = Field(None, max_length=500, pattern=TEXT, description="Why the card refused it")


class AckOut(BaseModel):
    package_id: int
    state: Literal["delivered", "refused"]
    repeated: bool
