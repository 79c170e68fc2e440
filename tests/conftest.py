"""Fixtures: a fresh database per test (SQLite by default, PostgreSQL when
``KIOSK_TEST_DATABASE_URL`` is set), both apps on a frozen clock, a small world of
facilities, terminals, inmates and staff, and helpers that act as those people.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from werkzeug.test import TestResponse

from kiosk.clock import FrozenClock
from kiosk.config import Settings
from kiosk.db import Base
from kiosk.migrate import upgrade
from kiosk.models import Role, Staff, Unit
from kiosk.security import totp
from kiosk.services import audit as audit_service
from kiosk.services import inmates, places, terminals
from kiosk.services import staff as staff_service

PG_URL = os.environ.get("KIOSK_TEST_DATABASE_URL")
# Monday 23 November 2026, 11:00 in Stockholm: inside every unit's opening hours.
START = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple 42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def pytest_report_header(config: Any) -> str:
    """Say which database the run uses."""
    return f"kiosk database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (a file per test)'}"


# Databases -----------------------------------------------------------------


_pg_engines: dict[str, Any] = {}


def _pg_reset(url: str) -> None:
    """Empty every table and restart every sequence, then put the audit chain's head back.

    DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE of 55 tables makes new
    files for each (about 300 ms a test, five minutes a run); DELETE takes about 10 ms.
    Replica mode skips ordinary triggers, so the audit log's append-only guard and the
    foreign-key checks do not run while everything goes.
    """
    engine = _pg_engines.get(url)
    if engine is None:
        engine = _pg_engines[url] = create_engine(url, pool_size=1, pool_pre_ping=True)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        # The names come from the models' metadata, not from input.
        conn.exec_driver_sql("; ".join(f"DELETE FROM {name}" for name in tables))  # noqa: S608
        sequences = conn.scalars(
            text(
                "SELECT sequence_name FROM information_schema.sequences"
                " WHERE sequence_schema = current_schema()"
            )
        ).all()
        if sequences:
            conn.exec_driver_sql("; ".join(f"ALTER SEQUENCE {name} RESTART" for name in sequences))
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, 0, :h, '')"),
            {"h": audit_service.GENESIS},
        )


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per run: a SQLite file to copy, or the PostgreSQL test database."""
    if PG_URL:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "kiosk.sqlite3"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> str:
    """A database with the schema and nothing else."""
    if PG_URL:
        _pg_reset(PG_URL)
        return PG_URL
    target = tmp_path / "kiosk.sqlite3"
    shutil.copyfile(template_database, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings of a test site: pages in English (tests read them; test_i18n covers Swedish),
    cheap hashing, no rate limits unless a test turns them on."""
    return Settings.from_env(
        environ={},
        default_language="en",
        instance_path=tmp_path / "instance",
        database_url=database_url,
        argon2_time_cost=1,
        argon2_memory_kib=64,
        argon2_parallelism=1,
        rate_limits_enabled=False,
    )


@pytest.fixture
def clock() -> FrozenClock:
    """The apps' clock, frozen at ``START``."""
    return FrozenClock(START)


@pytest.fixture
def kiosk_app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    """The inmate portal."""
    from kiosk import create_app

    app = create_app(settings, clock=clock)
    app.testing = True
    yield app
    app.extensions["kiosk"].database.dispose()


@pytest.fixture
def admin_app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    """The staff app (same database and instance folder as the portal)."""
    from admin import create_app

    app = create_app(settings, clock=clock)
    app.testing = True
    yield app
    app.extensions["kiosk"].database.dispose()


@pytest.fixture
def db(kiosk_app: Flask) -> Iterator[Any]:
    """A session on the test database.

    No app context is held open here: requests of the test client would share it
    (and its ``g``) instead of getting one each, as in production.
    """
    state = kiosk_app.extensions["kiosk"]
    with state.database.session() as session:
        yield session


# The world -------------------------------------------------------------------


@dataclass
class Person:
    """An inmate of the world, with the PIN that signs them in."""

    id: int
    booking: str
    pin: str


@dataclass
class StaffMember:
    """A staff member of the world, with password and TOTP seed."""

    id: int
    username: str
    password: str
    secret: str


@dataclass
class World:
    """Two facilities, units with and without opening hours, terminals, inmates and staff."""

    facility: int
    other_facility: int
    unit_a: int
    unit_b: int
    unit_study: int
    unit_other: int
    terminals: dict[str, tuple[int, str]] = field(default_factory=dict)
    inmates: dict[str, Person] = field(default_factory=dict)
    staff: dict[str, StaffMember] = field(default_factory=dict)


def _enrolled(session: Any, name: str, unit: Unit, now: dt.datetime) -> tuple[int, str]:
    actor = audit_service.Actor.system("test")
    term, code = terminals.create_terminal(
        session, actor=actor, name=name, unit=unit, now=now, code_hours=24
    )
    _, credential = terminals.enrol(session, code=code, now=now, ip="127.0.0.1", fingerprint=None)
    return term.id, credential


def add_staff(
    session: Any,
    state: Any,
    username: str,
    roles: list[Role],
    facility_ids: list[int],
    now: dt.datetime,
    *,
    all_facilities: bool = False,
) -> StaffMember:
    """A ready-to-use staff account: password set, TOTP enrolled, recovery codes made."""
    actor = audit_service.Actor.system("test")
    member, _otp, secret = staff_service.create_staff(
        session,
        actor=actor,
        actor_staff=None,
        hasher=state.hasher,
        vault=state.vault,
        username=username,
        name=username.title(),
        roles=roles,
        facility_ids=facility_ids,
        all_facilities=all_facilities,
        now=now,
        with_totp=True,
        language="en",
    )
    assert secret is not None
    staff_service.change_password(
        session, actor=actor, hasher=state.hasher, staff=member, current=None, new=PASSWORD, now=now
    )
    row = session.get(Staff, member.id)
    row.totp_confirmed_at = now
    session.commit()
    staff_service.new_recovery_codes(
        session, actor=actor, pepper=state.secrets.pin_pepper, staff=row, now=now
    )
    return StaffMember(member.id, username, PASSWORD, secret)


@pytest.fixture
def world(kiosk_app: Flask, clock: FrozenClock) -> World:
    """Facilities NRB (units A, B, S) and OTH; terminals; four inmates; staff of each role."""
    state = kiosk_app.extensions["kiosk"]
    now = clock.now()
    actor = audit_service.Actor.system("test")
    with kiosk_app.app_context(), state.database.session() as session:
        nrb = places.create_facility(
            session, actor=actor, code="NRB", name="Norrby", timezone="Europe/Stockholm", now=now
        )
        oth = places.create_facility(
            session, actor=actor, code="OTH", name="Other", timezone="Europe/Stockholm", now=now
        )
        units = {
            code: places.create_unit(
                session,
                actor=actor,
                facility=facility,
                code=code,
                name=name,
                hours=places.every_day(hours),
                now=now,
            )
            for facility, code, name, hours in (
                (nrb, "A", "Unit A", "00:00-24:00"),
                (nrb, "B", "Unit B", "00:00-24:00"),
                (nrb, "S", "Study room", "07:00-21:00"),
                (oth, "X", "Other unit", "00:00-24:00"),
            )
        }
        unit_a, unit_b, study, other = units["A"], units["B"], units["S"], units["X"]
        w = World(nrb.id, oth.id, unit_a.id, unit_b.id, study.id, other.id)
        w.terminals["a1"] = _enrolled(session, "Tablet A1", unit_a, now)
        w.terminals["a2"] = _enrolled(session, "Tablet A2", unit_a, now)
        w.terminals["b1"] = _enrolled(session, "Kiosk B1", unit_b, now)
        w.terminals["study"] = _enrolled(session, "Study PC", study, now)
        w.terminals["other"] = _enrolled(session, "Other tablet", other, now)
        for booking, unit, facility in (
            ("2026-0001", unit_a, nrb),
            ("2026-0002", unit_a, nrb),
            ("2026-0003", unit_b, nrb),
            ("2026-0009", other, oth),
        ):
            inmate, pin = inmates.create_inmate(
                session,
                actor=actor,
                hasher=state.hasher,
                booking_number=booking,
                name=f"Inmate {booking[-1]}",
                facility=facility,
                unit=unit,
                language="en",
                now=now,
            )
            w.inmates[booking] = Person(inmate.id, booking, pin)
        for username, roles in (
            ("admin", [Role.ADMIN]),
            ("security", [Role.SECURITY]),
            ("officer", [Role.OFFICER]),
            ("teacher", [Role.TEACHER]),
            ("auditor", [Role.AUDITOR]),
        ):
            w.staff[username] = add_staff(session, state, username, roles, [nrb.id], now)
        w.staff["national"] = add_staff(
            session, state, "national", [Role.ADMIN], [], now, all_facilities=True
        )
        w.staff["otheradmin"] = add_staff(session, state, "otheradmin", [Role.ADMIN], [oth.id], now)
    return w


# Acting as people ------------------------------------------------------------


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the client's session, read from a page with a form."""
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no form with a CSRF token at {path} (status {page.status_code})"
    return match.group(1)


class Portal:
    """A browser on a terminal of the inmate portal."""

    def __init__(self, app: Flask, credential: str | None = None) -> None:
        self.app = app
        self.client = app.test_client()
        if credential:
            self.client.set_cookie("kiosk_terminal", credential)

    def token(self, path: str = "/sign-in") -> str:
        """A CSRF token for the next form."""
        return csrf_token(self.client, path)

    def sign_in(self, booking: str, pin: str) -> TestResponse:
        """Post the sign-in form."""
        token = self.token("/sign-in")
        return self.client.post(
            "/sign-in", data={"csrf_token": token, "booking_number": booking, "pin": pin}
        )

    def post(
        self, path: str, data: dict[str, str] | None = None, form_page: str = "/"
    ) -> TestResponse:
        """Post a form with a valid CSRF token."""
        payload = {"csrf_token": self.token(form_page), **(data or {})}
        return self.client.post(path, data=payload)

    def get(self, path: str) -> TestResponse:
        """A GET request."""
        return self.client.get(path)

    @property
    def session_cookie(self) -> str | None:
        """The value of the portal's session cookie."""
        cookie = self.client.get_cookie("kiosk_session")
        return cookie.value if cookie else None


class StaffBrowser:
    """A browser on the staff network."""

    def __init__(self, app: Flask, clock: FrozenClock) -> None:
        self.app = app
        self.clock = clock
        self.client = app.test_client()

    def token(self, path: str = "/sign-in") -> str:
        """A CSRF token for the next form."""
        return csrf_token(self.client, path)

    def password_step(self, username: str, password: str) -> TestResponse:
        """Step 1 of sign-in."""
        return self.client.post(
            "/sign-in",
            data={"csrf_token": self.token("/sign-in"), "username": username, "password": password},
        )

    def code_step(self, code: str) -> TestResponse:
        """Step 2 of sign-in."""
        return self.client.post(
            "/sign-in/code", data={"csrf_token": self.token("/sign-in/code"), "code": code}
        )

    def sign_in(self, member: StaffMember) -> TestResponse:
        """Both steps with the live TOTP code of the frozen clock."""
        first = self.password_step(member.username, member.password)
        assert first.status_code == 302, first.get_data(as_text=True)[:500]
        result = self.code_step(totp.current_code(member.secret, self.clock.now()))
        assert result.status_code == 302, result.get_data(as_text=True)[:2000]
        return result

    def post(
        self, path: str, data: dict[str, Any] | None = None, form_page: str = "/"
    ) -> TestResponse:
        """Post a form with a valid CSRF token."""
        payload = {"csrf_token": self.token(form_page), **(data or {})}
        return self.client.post(path, data=payload)

    def get(self, path: str) -> TestResponse:
        """A GET request."""
        return self.client.get(path)


@pytest.fixture
def portal(kiosk_app: Flask, world: World) -> Portal:
    """A browser on the enrolled tablet A1 in unit A."""
    return Portal(kiosk_app, world.terminals["a1"][1])


@pytest.fixture
def staff_browser(admin_app: Flask, clock: FrozenClock, world: World) -> StaffBrowser:
    """A browser on the staff network (not signed in)."""
    return StaffBrowser(admin_app, clock)


def fresh(session: Any) -> Any:
    """End the session's transaction so that it sees what the apps committed since."""
    session.commit()
    session.expire_all()
    return session


def audit_actions(session: Any) -> list[str]:
    """Every audit action so far, oldest first."""
    from kiosk.models import AuditEvent

    return list(fresh(session).scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def load(session: Any, model: type[Any], object_id: int) -> Any:
    """A fresh copy of a row."""
    return fresh(session).get(model, object_id)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests marked postgres_only skip on SQLite, saying why."""
    if PG_URL:
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: set KIOSK_TEST_DATABASE_URL (make test-pg runs them)"
    )
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)
