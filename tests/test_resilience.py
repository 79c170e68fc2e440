"""A database or Redis that is away: friendly 503 pages, limits that still hold and are shared."""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

REDIS_URL = "redis://127.0.0.1:6379/9"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_available() -> bool:
    """True when the local Redis answers."""
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:  # any failure means "not available"
        return False


def test_a_database_that_cannot_be_reached_gives_a_friendly_503_never_a_traceback(
    settings: Any, clock: Any
) -> None:
    from kiosk import create_app

    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/kiosk"
    app = create_app(settings.replace(database_url=url), clock=clock)
    try:
        client = app.test_client()
        # A device credential and a session cookie: both must be looked up in the database.
        client.set_cookie("kiosk_terminal", "t" * 43)
        client.set_cookie("kiosk_session", "s" * 43)
        for path in ("/sign-in", "/", "/healthz", "/account/"):
            reply = client.get(path)
            assert reply.status_code == 503, path
            text = reply.get_data(as_text=True)
            assert "The service is not available right now" in text
            assert "Traceback" not in text
            assert "psycopg" not in text
            assert "127.0.0.1" not in text
            assert reply.headers["Retry-After"] == "30"
    finally:
        app.extensions["kiosk"].database.dispose()


def test_the_postgresql_pool_is_sized_for_four_threads_and_checks_connections(
    settings: Any,
) -> None:
    from kiosk.db import create_db_engine

    assert (settings.db_pool_size, settings.db_max_overflow) == (4, 4)
    engine = create_db_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        assert engine.pool.size() == 4  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_memory_counters_warn_at_start_up_that_they_are_per_process(
    settings: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from kiosk import create_app

    with caplog.at_level(logging.WARNING, logger="kiosk.web.base"):
        app = create_app(settings, clock=clock)
    app.extensions["kiosk"].database.dispose()
    assert any("per process" in r.getMessage() for r in caplog.records)


@pytest.fixture
def two_servers(settings: Any, clock: Any) -> Iterator[tuple[Flask, Flask]]:
    """Two portal instances sharing one database and one Redis, as two app servers would."""
    if not redis_available():
        message = "Redis is not answering on 127.0.0.1:6379 (apt-get install redis-server)"
        # In CI a missing component is a failure, not a quiet skip.
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from kiosk import create_app

    shared = settings.replace(
        redis_url=REDIS_URL, redis_prefix=f"test-{uuid.uuid4().hex}", rate_limits_enabled=True
    )
    apps = (create_app(shared, clock=clock), create_app(shared, clock=clock))
    yield apps
    for app in apps:
        app.extensions["kiosk"].database.dispose()


def _wrong_code(client: Any) -> int:
    page = client.get("/terminal/enrol").get_data(as_text=True)
    token = _CSRF.search(page)
    assert token
    return int(
        client.post(
            "/terminal/enrol", data={"csrf_token": token.group(1), "code": "WRONG00000"}
        ).status_code
    )


def test_two_app_servers_share_a_rate_limit_through_redis(
    two_servers: tuple[Flask, Flask], world: Any
) -> None:
    a, b = (app.test_client() for app in two_servers)
    statuses = [_wrong_code(a if i % 2 == 0 else b) for i in range(11)]
    # Enrolment allows 10 tries a minute per address: 5 or 6 on each server, 11 in all.
    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429


def test_without_redis_each_process_counts_alone(settings: Any, clock: Any, world: Any) -> None:
    from kiosk import create_app

    per_process = settings.replace(rate_limits_enabled=True)
    apps = [create_app(per_process, clock=clock) for _ in range(2)]
    try:
        a, b = (app.test_client() for app in apps)
        statuses = [_wrong_code(a if i % 2 == 0 else b) for i in range(11)]
        assert 429 not in statuses, "memory counters are per process (hence the warning)"
    finally:
        for app in apps:
            app.extensions["kiosk"].database.dispose()


def test_when_redis_is_away_limits_still_hold_and_pages_still_work(
    settings: Any, clock: Any, world: Any
) -> None:
    from kiosk import create_app

    app = create_app(
        settings.replace(
            redis_url=f"redis://127.0.0.1:{closed_port()}/9", rate_limits_enabled=True
        ),
        clock=clock,
    )
    try:
        client = app.test_client()
        statuses = [_wrong_code(client) for _ in range(11)]
        assert 500 not in statuses
        assert statuses[-1] == 429, "the in-memory fallback keeps counting"
    finally:
        app.extensions["kiosk"].database.dispose()


def test_a_new_session_factory_always_gets_the_audit_hooks(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy's event registry is keyed by id(): a new factory at a collected one's
    address looked "installed" already, and its commits wrote no audit events (a flaky
    test found it). The hooks are now marked on the factory itself."""
    from sqlalchemy import event, select

    from kiosk.db import Database, unit_of_work
    from kiosk.migrate import upgrade
    from kiosk.models import AuditEvent
    from kiosk.services import audit

    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    upgrade(url)
    # What a stale registry entry looks like to the old check.
    monkeypatch.setattr(event, "contains", lambda *_args, **_kw: True)
    database = Database(url, audit_key=b"k" * 32)
    try:
        with database.session() as session, unit_of_work(session):
            audit.record(session, "test.event", actor=audit.Actor.system("test"))
        with database.session() as session:
            assert list(session.scalars(select(AuditEvent.action))) == ["test.event"]
    finally:
        database.dispose()
