"""Alembic environment: runs on the engine of ``kiosk.db`` (same pragmas as the apps)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

import kiosk.models  # noqa: F401 - registers every table on the metadata
from kiosk.db import Base, create_db_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database named in the Alembic config (or the connection handed in)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # `kiosk db upgrade` sets the URL; the plain `alembic` command (new revisions, see
    # docs/DEVELOPING.md) takes it from KIOSK_DATABASE_URL like the apps.
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("KIOSK_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set KIOSK_DATABASE_URL or use `kiosk db upgrade`")
    engine = create_db_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
