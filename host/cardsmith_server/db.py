"""The server's database: SQLAlchemy 2 Core tables, the engine (SQLite or PostgreSQL) and the migrations.

The same conventions as the station's local store (cardsmith.core.storage): on SQLite a WAL journal,
``synchronous=FULL``, a busy timeout and every write transaction taken with BEGIN IMMEDIATE (so two
processes queue instead of failing half way); the schema is migrated by Alembic (``migrations/``) at start.
Every row carries its issuer: queries are always filtered by the caller's issuer (auth.Principal).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from cardsmith.core.errors import CardsmithError, UsageError

SQLITE_BUSY_MS = 10000

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

backups = sa.Table(
    "backups", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("card_id", sa.String(16), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("key_version", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("chain_hash", sa.String(64), nullable=False),
    sa.Column("pages", sa.Integer, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("uploaded_by", sa.String(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("issuer", "digest", name="uq_backups_digest"),
    sa.UniqueConstraint("issuer", "card_id", "seq", name="uq_backups_card_seq"),
    sa.UniqueConstraint("issuer", "chain_hash", name="uq_backups_chain_hash"),
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("profile", sa.String(128), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of the canonical batch document
    sa.Column("document", sa.Text, nullable=False),  # the batch without its bundles (steps, progress table)
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.UniqueConstraint("issuer", "profile", "sequence", name="uq_batches_profile_sequence"),
)

records = sa.Table(
    "records", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("record_id", sa.String(128), nullable=False),
    sa.Column("entry", sa.Text, nullable=False),  # the batch entry (JSON): its sealed bundle only a card opens
    sa.Column("state", sa.String(16), nullable=False),  # free, reserved, issued
    sa.Column("reservation", sa.String(32), nullable=True),
    sa.Column("station", sa.String(32), nullable=True),  # key id holding the reservation
    sa.Column("card_id", sa.String(16), nullable=True),
    sa.Column("updated", sa.String(32), nullable=False),
    sa.UniqueConstraint("batch_id", "record_id", name="uq_records_record_id"),
    sa.UniqueConstraint("batch_id", "position", name="uq_records_position"),
    sa.UniqueConstraint("reservation", name="uq_records_reservation"),
    sa.Index("ix_records_state", "batch_id", "state", "position"),
)

issuance_log = sa.Table(
    "issuance_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
    sa.Column("record_id", sa.String(128), nullable=False),
    sa.Column("reservation", sa.String(32), nullable=False),
    sa.Column("station", sa.String(32), nullable=False),
    sa.Column("card_id", sa.String(16), nullable=False),
    sa.Column("result", sa.String(16), nullable=False),  # issued, rejected, interrupted
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("time", sa.String(32), nullable=False),
)


usage_records = sa.Table(
    "usage_records", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("card_id", sa.String(16), nullable=False),
    sa.Column("counter", sa.BigInteger, nullable=False),  # the card's own usage counter
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("time", sa.String(40), nullable=False),  # the terminal's clock
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # JSON object
    sa.Column("signature", sa.Text, nullable=True),  # hex, the card's signature over usage.signed_bytes()
    sa.Column("verification", sa.String(16), nullable=False),  # verified, unverified
    sa.Column("digest", sa.String(64), nullable=False),  # SHA-256 of the canonical record: a repeat or not
    sa.Column("terminal", sa.String(32), nullable=False),  # key id of the uploading terminal
    sa.Column("received", sa.String(32), nullable=False),
    sa.UniqueConstraint("issuer", "card_id", "counter", name="uq_usage_card_counter"),
)

deny_versions = sa.Table(
    "deny_versions", metadata,
    sa.Column("issuer", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

deny_list = sa.Table(
    "deny_list", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # card, cert
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),  # the issuer's deny-list version of its last change
    sa.Column("changed", sa.String(32), nullable=False),
    sa.Column("changed_by", sa.String(32), nullable=False),
    sa.UniqueConstraint("issuer", "kind", "value", name="uq_deny_entry"),
    sa.Index("ix_deny_version", "issuer", "version"),
)


update_service = sa.Table(
    "update_service", metadata,
    sa.Column("issuer", sa.String(64), primary_key=True),
    sa.Column("private_key", sa.Text, nullable=False),  # PEM, PKCS#8: the service's signing / unsealing key
    sa.Column("public_key", sa.String(130), nullable=False),  # hex, uncompressed P-256 point
    sa.Column("certificate", sa.String(342), nullable=True),  # hex, the issuer's certificate of it (role service)
    sa.Column("issuer_key", sa.String(130), nullable=True),  # hex, the issuer's root public key
    sa.Column("created", sa.String(32), nullable=False),
)

update_packages = sa.Table(
    "update_packages", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("card_id", sa.String(16), nullable=False),
    sa.Column("record", sa.Integer, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("payload_bytes", sa.Integer, nullable=False),
    sa.Column("expiry", sa.String(10), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # the signed package, encrypted to the card: opaque here
    sa.Column("state", sa.String(16), nullable=False),  # pending, delivered, refused
    sa.Column("detail", sa.Text, nullable=True),  # why the card refused it
    sa.Column("uploaded_by", sa.String(32), nullable=False),
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("delivered", sa.String(32), nullable=True),
    sa.Column("ack", sa.Text, nullable=True),  # hex, the card's signed acknowledgement
    sa.Column("attempts", sa.Integer, nullable=False),  # deliveries handed out
    sa.UniqueConstraint("issuer", "digest", name="uq_update_packages_digest"),
    sa.UniqueConstraint("issuer", "card_id", "record", "version", name="uq_update_packages_version"),
    sa.Index("ix_update_packages_card", "issuer", "card_id", "state"),
)

update_sessions = sa.Table(
    "update_sessions", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("issuer", sa.String(64), nullable=False),
    sa.Column("card_id", sa.String(16), nullable=False),
    sa.Column("certificate", sa.String(422), nullable=False),  # hex, the card's update certificate
    sa.Column("state", sa.String(16), nullable=False),  # checked, challenged, authenticated
    sa.Column("server_nonce", sa.String(64), nullable=True),
    sa.Column("card_nonce", sa.String(32), nullable=True),
    sa.Column("client", sa.String(32), nullable=False),  # key id of the client that runs the chain
    sa.Column("created", sa.String(32), nullable=False),
    sa.Column("expires", sa.String(32), nullable=False),
)


class DatabaseUnavailable(CardsmithError):
    """The server's database cannot be reached or refused the operation (the API answers 503)."""


def _sqlite_setup(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API objects
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://user@host:port/db``)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise UsageError(f"--db {url!r} is not a database URL: give sqlite:///PATH or "
                         "postgresql://USER@HOST:PORT/DB") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        _sqlite_setup(engine)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise UsageError(f"--db {url!r}: only SQLite and PostgreSQL are supported")
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=8, pool_timeout=10,
                            connect_args={"connect_timeout": 5})


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    script = ScriptDirectory(str(Path(__file__).with_name("migrations")))
    return script.get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest migration (every server process runs it at start; Alembic's version
    table and, on PostgreSQL, an advisory lock keep two processes from migrating at once)."""
    try:
        command.upgrade(_alembic_config(engine), "head")
    except sa.exc.OperationalError as exc:
        reason = " ".join(str(exc.orig).split())  # the driver's message, on one line
        raise DatabaseUnavailable(f"cannot migrate the database {engine.url.render_as_string(hide_password=True)}:"
                                  f" {reason}: check that it runs and the URL is right") from exc
