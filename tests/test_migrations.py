"""Alembic migrations are the schema: they match the models and go down and up again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PG_URL
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from kiosk.db import Base, create_db_engine
from kiosk.migrate import downgrade, upgrade


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database of its own (on PostgreSQL a new one, dropped afterwards)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"kiosk_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migrated_schema_matches_the_models(empty_database: str) -> None:
    upgrade(empty_database)
    engine = create_db_engine(empty_database, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert diff == []


def test_migrations_go_down_to_nothing_and_up_again(empty_database: str) -> None:
    upgrade(empty_database)
    downgrade(empty_database, "base")
    engine = create_db_engine(empty_database, pool_size=1, max_overflow=0)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(empty_database)
    engine = create_db_engine(empty_database, pool_size=1, max_overflow=0)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_the_alembic_command_finds_the_database_in_kiosk_database_url(tmp_path: Path) -> None:
    """docs/DEVELOPING.md makes new revisions with the plain `alembic` command."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    upgrade(url)
    root = Path(__file__).resolve().parent.parent
    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run(
        [str(alembic), "current"],
        cwd=root,
        env={**os.environ, "KIOSK_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    heads = subprocess.run(
        [str(alembic), "heads"], cwd=root, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()[0]
    assert heads in result.stdout
