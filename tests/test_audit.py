"""The audit trail: an event per change, chained and sealed; `kiosk audit verify` finds changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import PG_URL, Portal, StaffBrowser, World, audit_actions, fresh
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kiosk.cli import main
from kiosk.models import AuditEvent
from kiosk.services import audit as audit_service


def _disable_guard(db: Any) -> None:
    """An attacker with the database owner's rights can drop the append-only triggers."""
    if PG_URL:
        db.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_events_no_update"))
        db.execute(text("DROP TRIGGER audit_events_no_delete"))
    db.commit()


def _restore_guard(db: Any) -> None:
    if PG_URL:
        db.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        db.commit()


def verify(settings: Any) -> Any:
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
    }
    return CliRunner().invoke(main, ["audit", "verify"], env=env)


@pytest.fixture
def chain(portal: Portal, world: World, db: Any) -> list[int]:
    """A trail with sign-ins, failures and account changes in it."""
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, "000000")
    portal.sign_in(person.booking, person.pin)
    portal.post("/sign-out")
    return list(db.scalars(text("SELECT seq FROM audit_events ORDER BY seq")))


def test_sign_ins_failures_and_changes_are_recorded(chain: list[int], db: Any) -> None:
    actions = audit_actions(db)
    for action in (
        "facility.create",
        "unit.create",
        "terminal.create",
        "terminal.enrol",
        "inmate.create",
        "staff.create",
        "inmate.sign_in",
        "inmate.sign_out",
    ):
        assert action in actions, action
    failed = fresh(db).query(AuditEvent).filter_by(action="inmate.sign_in", outcome="failed").one()
    assert failed.terminal_id is not None
    assert failed.ip == "127.0.0.1"
    assert failed.occurred_at.tzinfo is not None


def test_no_secret_ever_reaches_the_trail(chain: list[int], db: Any, world: World) -> None:
    everything = " ".join(e.details for e in fresh(db).query(AuditEvent).all())
    for person in world.inmates.values():
        assert person.pin not in everything
    for member in world.staff.values():
        assert member.password not in everything
        assert member.secret not in everything


def test_an_intact_chain_verifies(chain: list[int], settings: Any) -> None:
    result = verify(settings)
    assert result.exit_code == 0, result.output
    assert f"{len(chain)} events verified" in result.output


def test_the_database_refuses_to_change_or_delete_an_event(chain: list[int], db: Any) -> None:
    with pytest.raises(DBAPIError):
        db.execute(text("UPDATE audit_events SET action = 'x' WHERE seq = 1"))
    db.rollback()
    with pytest.raises(DBAPIError):
        db.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    db.rollback()


def test_verify_catches_a_changed_event(chain: list[int], db: Any, settings: Any) -> None:
    _disable_guard(db)
    victim = chain[len(chain) // 2]
    db.execute(
        text("UPDATE audit_events SET outcome = 'ok', details = '{}' WHERE seq = :s"), {"s": victim}
    )
    db.commit()
    _restore_guard(db)
    result = verify(settings)
    assert result.exit_code == 1
    assert f"event {victim}" in result.output
    assert "changed" in result.output


def test_verify_catches_a_deleted_event(chain: list[int], db: Any, settings: Any) -> None:
    _disable_guard(db)
    victim = chain[3]
    db.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": victim})
    db.commit()
    _restore_guard(db)
    result = verify(settings)
    assert result.exit_code == 1
    assert f"event {victim}" in result.output
    assert "missing" in result.output


def test_verify_catches_reordered_events(chain: list[int], db: Any, settings: Any) -> None:
    _disable_guard(db)
    a, b = chain[2], chain[5]
    db.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = :a"), {"a": a})
    db.execute(text("UPDATE audit_events SET seq = :a WHERE seq = :b"), {"a": a, "b": b})
    db.execute(text("UPDATE audit_events SET seq = :b WHERE seq = -1"), {"b": b})
    db.commit()
    _restore_guard(db)
    result = verify(settings)
    assert result.exit_code == 1
    assert f"event {a}" in result.output


def test_verify_catches_a_cut_off_tail(chain: list[int], db: Any, settings: Any) -> None:
    _disable_guard(db)
    db.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": chain[-2]})
    db.execute(
        text(
            "UPDATE audit_head SET seq = :s, hash = (SELECT hash FROM audit_events WHERE seq = :s)"
        ),
        {"s": chain[-3]},
    )
    db.commit()
    _restore_guard(db)
    result = verify(settings)
    assert result.exit_code == 1
    assert "seal" in result.output


def test_a_rolled_back_change_leaves_no_event(kiosk_app: Flask, db: Any, world: World) -> None:
    before = fresh(db).query(AuditEvent).count()
    from kiosk.db import unit_of_work

    def failing_change() -> None:
        with unit_of_work(db):
            audit_service.record(db, "test.nothing", actor=audit_service.Actor.system("test"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert fresh(db).query(AuditEvent).count() == before


def test_security_staff_read_and_filter_the_trail(
    chain: list[int], admin_app: Flask, clock: Any, world: World, db: Any
) -> None:
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff["security"])
    page = browser.get("/audit/?action=inmate.sign_in&outcome=failed")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "inmate.sign_in" in html
    assert "inmate.sign_out" not in html
    assert "audit.search" in audit_actions(db), "reading the trail is itself recorded"
    check = browser.get("/audit/verify")
    assert "Intact" in check.get_data(as_text=True)


def test_an_auditor_sees_only_their_facility(
    chain: list[int], admin_app: Flask, clock: Any, world: World
) -> None:
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff["auditor"])
    html = browser.get("/audit/?action=facility.create").get_data(as_text=True)
    assert "Norrby" in html
    assert "Other" not in html


def test_details_are_stored_as_canonical_json(chain: list[int], db: Any) -> None:
    for event in fresh(db).query(AuditEvent).limit(20):
        assert (
            json.dumps(json.loads(event.details), sort_keys=True, separators=(",", ":"))
            == event.details
        )


def test_the_audit_head_command_prints_the_seal(
    chain: list[int], settings: Any, tmp_path: Path
) -> None:
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
    }
    result = CliRunner().invoke(main, ["audit", "head"], env=env)
    assert result.exit_code == 0
    seq, digest = result.output.split()
    assert int(seq) == chain[-1]
    assert len(digest) == 64


def test_sessions_that_commit_in_turn_extend_one_chain(
    kiosk_app: Flask, db: Any, settings: Any
) -> None:
    """The head is read afresh at each commit, even by a session that wrote it before."""
    from kiosk.db import unit_of_work

    actor = audit_service.Actor.system("test")
    database = kiosk_app.extensions["kiosk"].database
    with database.session() as other:
        for session, action in ((db, "test.one"), (other, "test.two"), (db, "test.three")):
            with unit_of_work(session):
                audit_service.record(session, action, actor=actor)
                audit_service.record(session, action + ".again", actor=actor)
    seqs = list(fresh(db).scalars(text("SELECT seq FROM audit_events ORDER BY seq")))
    assert seqs == list(range(1, len(seqs) + 1))
    tail = list(
        db.execute(text("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 6")).scalars()
    )
    assert tail == [
        "test.three.again",
        "test.three",
        "test.two.again",
        "test.two",
        "test.one.again",
        "test.one",
    ]
    head = db.execute(text("SELECT seq FROM audit_head")).scalar_one()
    assert head == seqs[-1]
    result = verify(settings)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("count", [1, 3, 25])
def test_a_commit_of_any_number_of_events_extends_the_chain_intact(
    kiosk_app: Flask, db: Any, settings: Any, count: int
) -> None:
    """One event (one statement on PostgreSQL) or several (an executemany): every event is
    written, in order, with its details, and the head moves to the last."""
    from kiosk.db import unit_of_work

    actor = audit_service.Actor.system("test")
    for round_ in (1, 2):  # the second round reuses the statements of the first
        with unit_of_work(db):
            for i in range(count):
                audit_service.record(
                    db, f"test.bulk.{round_}", actor=actor, facility_id=None, details={"i": i}
                )
    rows = fresh(db).execute(
        text(
            "SELECT seq, action, details FROM audit_events"
            " WHERE action LIKE 'test.bulk.%' ORDER BY seq"
        )
    )
    written = [(action, json.loads(details)["i"]) for _seq, action, details in rows]
    assert written == [(f"test.bulk.{r}", i) for r in (1, 2) for i in range(count)]
    seqs = list(db.scalars(text("SELECT seq FROM audit_events ORDER BY seq")))
    assert seqs == list(range(1, len(seqs) + 1))
    assert db.execute(text("SELECT seq FROM audit_head")).scalar_one() == seqs[-1]
    result = verify(settings)
    assert result.exit_code == 0, result.output
