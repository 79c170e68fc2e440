"""Engine, sessions and the declarative base (SQLAlchemy 2.0 typed ORM).

Transactions follow one rule: a service function that changes state runs inside
``unit_of_work(session)``, which starts a *write* transaction, commits once at
the end and rolls back everything on any error, so nothing is half-written.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: it takes the
write lock before the first read, so two writers never read the same balance or
counter and then both act on it. Reads run in ordinary deferred transactions,
so pages are not serialised behind each other. On PostgreSQL services lock the
rows they change (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_WRITE_OPTION = "kiosk_write"
_UOW_DEPTH = "kiosk_uow_depth"


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC and gives them back aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a time zone")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every model, with constraint names Alembic can diff."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so we can choose IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Writers queue for up to 30 s instead of failing at once under load.
        cursor.execute("PRAGMA busy_timeout=30000")
        # WAL with NORMAL is durable across application crashes; only an OS crash can
        # lose the last transactions, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Page cache of 1 MiB per connection instead of SQLite's 2 MB: a worker holds up to
        # eight connections, and every commit by another connection empties the others'
        # caches in WAL mode anyway. Measured on the benchmark data: 1 MiB reads at most one
        # page more per request from the OS cache than 2 MB; 256 KiB starts to thrash.
        cursor.execute("PRAGMA cache_size=-1024")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = bool(conn.get_execution_options().get(_WRITE_OPTION))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
    conn.info[_WRITE_OPTION] = write


def _on_end(conn: Connection) -> None:
    conn.info.pop(_WRITE_OPTION, None)


def create_db_engine(
    url: str,
    *,
    pool_size: int = 4,
    max_overflow: int = 4,
    echo: bool = False,
) -> Engine:
    """An engine with the pragmas and pool this product relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("SQLite needs a file: each connection of :memory: is its own database")
        engine = create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        event.listen(engine, "commit", _on_end)
        event.listen(engine, "rollback", _on_end)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A connection that died with a database restart is replaced, never handed out.
        pool_pre_ping=True,
        # Connections older than this are replaced: a firewall or pooler in between may
        # drop idle ones silently.
        pool_recycle=1800,
        # A request waits at most this long for a free connection, then gets the 503 page.
        pool_timeout=10,
        connect_args={
            # A database host that does not answer at all fails fast (503), well before
            # gunicorn's 30 s timeout would kill the worker.
            "connect_timeout": 5,
            # Each app names itself in pg_stat_activity.
            "application_name": "kiosk",
        },
    )


def analyze(engine: Engine) -> float:
    """Refresh the query planner's statistics of every table; returns the seconds it took.

    SQLite keeps none unless asked: without them it can pick an index that matches a
    query's order instead of the one that finds its few rows (a staff page read every
    refused visit in the log instead of 50 inmates' own). PostgreSQL's autovacuum
    refreshes them too; running it there after a bulk load does no harm.
    """
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


class Database:
    """The engine and the session factory of one app or command."""

    def __init__(self, url: str, *, audit_key: bytes | None = None, **engine_args: Any) -> None:
        self.url = url
        self.engine = create_db_engine(url, **engine_args)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Imported here: the audit module needs the models, which need this module.
        from kiosk.services import audit

        audit.install(self.sessionmaker, audit_key)

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded database."""
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """A new session; the caller closes it."""
        return self.sessionmaker()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def begin_write(session: Session) -> None:
    """Make sure the session's transaction may write safely (see the module docstring)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        conn = session.connection()
        if conn.info.get(_WRITE_OPTION):
            return
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("changes were made before the write transaction began")
        # End the read-only transaction; objects are re-read inside the write transaction.
        session.commit()
        session.expire_all()
    session.connection(execution_options={_WRITE_OPTION: True})


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Run a block as one atomic write transaction; nested blocks join the outer one."""
    depth = int(session.info.get(_UOW_DEPTH, 0))
    if depth == 0:
        begin_write(session)
    session.info[_UOW_DEPTH] = depth + 1
    try:
        yield session
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_UOW_DEPTH] = depth
