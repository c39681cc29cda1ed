"""Alembic environment: runs on the engine the server hands over (db.migrate), never on a URL of its own."""

from __future__ import annotations

from alembic import context

from cardsmith_server.db import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      transaction_per_migration=False)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several server processes start at once against one database: one migrates, the others wait.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7413)")
        context.run_migrations()
