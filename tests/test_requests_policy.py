"""The confidentiality rules of requests, from the attacker's side, and the queue's SQL twin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import add_staff, fresh
from flask import Flask
from request_helpers import DENTIST, NURSE, RequestWorld, make_request, rworld, staff_in
from sqlalchemy import select

from kiosk.clock import FrozenClock
from kiosk.models import Facility, InmateRequest, Role, Staff
from kiosk.security.policy import Perm, can, visible_requests_clause
from kiosk.services import requests as svc
from kiosk.services.audit import Actor

__all__ = ["rworld"]


def _world_of_requests(
    kiosk_app: Flask, clock: FrozenClock, rw: RequestWorld, db: Any
) -> dict[str, int]:
    vault = kiosk_app.extensions["kiosk"].vault
    now = clock.now()
    ids = {
        "health": make_request(
            db, vault, rw.world.inmates["2026-0001"].id, rw.types["nurse"], NURSE, now
        ),
        "dentist_other": make_request(
            db, vault, rw.world.inmates["2026-0009"].id, rw.types["dentist"], DENTIST, now
        ),
        "complaint": make_request(
            db, vault, rw.world.inmates["2026-0002"].id, rw.types["complaint"], {"what": "x"}, now
        ),
        "about_officer": make_request(
            db,
            vault,
            rw.world.inmates["2026-0003"].id,
            rw.types["complaint_staff"],
            {"staff_name": "officer", "what": "y"},
            now,
        ),
        "library": make_request(
            db, vault, rw.world.inmates["2026-0001"].id, rw.types["library"], {"wish": "z"}, now
        ),
        "library_other": make_request(
            db, vault, rw.world.inmates["2026-0009"].id, rw.types["library"], {"wish": "w"}, now
        ),
        "money": make_request(
            db, vault, rw.world.inmates["2026-0003"].id, rw.types["money"], {"question": "q"}, now
        ),
    }
    # An overdue library request escalated to the chaplain (a supervisor without the role).
    chaplain = fresh(db).scalars(select(Staff).where(Staff.username == "chaplain")).one()
    facility = db.get(Facility, rw.world.facility)
    svc.set_supervisor(
        db, actor=Actor.system("t"), role=Role.OFFICER, facility=facility, staff=chaplain, now=now
    )
    svc.escalate_overdue(db, actor=Actor.system("t"), vault=vault, now=now + dt.timedelta(days=14))
    return ids


def test_the_queue_clause_and_the_object_rule_agree_for_every_staff_member(
    kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    _world_of_requests(kiosk_app, clock, rworld, db)
    session = fresh(db)
    every = list(session.scalars(select(InmateRequest)))
    for member in session.scalars(select(Staff)):
        by_rule = {r.id for r in every if can(member, Perm.REQUEST_HANDLE, r)}
        by_sql = set(
            session.scalars(select(InmateRequest.id).where(visible_requests_clause(member)))
        )
        assert by_rule == by_sql, member.username


def test_who_sees_what(kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any) -> None:
    ids = _world_of_requests(kiosk_app, clock, rworld, db)
    session = fresh(db)

    def seen(username: str) -> set[str]:
        member = session.scalars(select(Staff).where(Staff.username == username)).one()
        return {
            k
            for k, v in ids.items()
            if can(member, Perm.REQUEST_HANDLE, session.get(InmateRequest, v))
        }

    assert seen("nurse") == {"health"}
    assert seen("othernurse") == {"dentist_other"}
    assert seen("officer") == {"library"}  # named in "about_officer": never that one
    assert seen("chaplain") == {"library"}  # escalated to them as the officers' supervisor
    assert seen("caseworker") == {"complaint"}
    assert seen("commissary") == {"money"}
    assert seen("admin") == {"about_officer"}
    assert seen("national") == {"about_officer"}
    assert seen("otheradmin") == set()
    for nobody in ("teacher", "security", "auditor"):
        assert seen(nobody) == set(), nobody


def test_an_escalated_request_reaches_the_supervisor_but_never_a_health_one_outside_healthcare(
    kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    vault = kiosk_app.extensions["kiosk"].vault
    now = clock.now()
    library = make_request(
        db, vault, rworld.world.inmates["2026-0001"].id, rworld.types["library"], {"wish": "a"}, now
    )
    health = make_request(
        db, vault, rworld.world.inmates["2026-0001"].id, rworld.types["nurse"], NURSE, now
    )
    # A careless set-up: an officer made supervisor of healthcare.
    facility = db.get(Facility, rworld.world.facility)
    officer = fresh(db).scalars(select(Staff).where(Staff.username == "officer")).one()
    chaplain = fresh(db).scalars(select(Staff).where(Staff.username == "chaplain")).one()
    svc.set_supervisor(
        db, actor=Actor.system("t"), role=Role.HEALTHCARE, facility=facility, staff=officer, now=now
    )
    svc.set_supervisor(
        db, actor=Actor.system("t"), role=Role.OFFICER, facility=facility, staff=chaplain, now=now
    )
    svc.escalate_overdue(db, actor=Actor.system("t"), vault=vault, now=now + dt.timedelta(days=14))
    session = fresh(db)
    officer = session.get(Staff, officer.id)
    chaplain = session.get(Staff, chaplain.id)
    assert session.get(InmateRequest, health).escalated_to_id == officer.id
    assert not can(officer, Perm.REQUEST_HANDLE, session.get(InmateRequest, health))
    assert can(chaplain, Perm.REQUEST_HANDLE, session.get(InmateRequest, library))


def test_a_deactivated_staff_member_sees_nothing(
    kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    ids = _world_of_requests(kiosk_app, clock, rworld, db)
    session = fresh(db)
    nurse = session.scalars(select(Staff).where(Staff.username == "nurse")).one()
    nurse.active = False
    assert not can(nurse, Perm.REQUEST_HANDLE, session.get(InmateRequest, ids["health"]))
    assert (
        list(session.scalars(select(InmateRequest.id).where(visible_requests_clause(nurse)))) == []
    )
    session.rollback()


def test_a_healthcare_worker_of_another_facility_gets_404_by_guessing(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    ids = _world_of_requests(kiosk_app, clock, rworld, db)
    outsider = staff_in(admin_app, clock, rworld, "othernurse")
    for request_id in (ids["health"], ids["health"] + 1000, 2**31 - 1):
        assert outsider.get(f"/requests/{request_id}").status_code == 404
        assert outsider.get(f"/requests/{request_id}/events/1/print").status_code == 404


def test_a_staff_member_holding_both_roles_sees_only_as_their_roles_allow(
    kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    ids = _world_of_requests(kiosk_app, clock, rworld, db)
    state = kiosk_app.extensions["kiosk"]
    with kiosk_app.app_context():
        add_staff(
            db, state, "duo", [Role.OFFICER, Role.CASEWORKER], [rworld.world.facility], clock.now()
        )
    session = fresh(db)
    duo = session.scalars(select(Staff).where(Staff.username == "duo")).one()
    visible = set(session.scalars(select(InmateRequest.id).where(visible_requests_clause(duo))))
    assert ids["complaint"] in visible
    assert ids["health"] not in visible


def test_a_complaint_names_staff_by_whole_words_only(
    kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    state = kiosk_app.extensions["kiosk"]
    with kiosk_app.app_context():
        ann = add_staff(db, state, "ann.lind", [Role.OFFICER], [rworld.world.facility], clock.now())
        anna = add_staff(
            db, state, "anna.berg", [Role.OFFICER], [rworld.world.facility], clock.now()
        )
    vault = state.vault
    rid = make_request(
        db,
        vault,
        rworld.world.inmates["2026-0001"].id,
        rworld.types["complaint_staff"],
        {"staff_name": "Anna Berg on the night shift", "what": "She read my letters."},
        clock.now(),
    )
    named = fresh(db).get(InmateRequest, rid).named_staff_ids
    assert anna.id in named
    assert ann.id not in named
