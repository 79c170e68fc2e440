"""Requests in the staff app: the queue, handling, forwarding, escalation, paper, figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import audit_actions, fresh, load
from flask import Flask
from request_helpers import (
    DENTIST,
    NURSE,
    RequestWorld,
    ask,
    make_request,
    rworld,
    signed_in,
    staff_in,
)
from sqlalchemy import event, func, select

from kiosk.clock import FrozenClock
from kiosk.models import (
    InmateRequest,
    PhoneContact,
    RequestEvent,
    RequestType,
    Role,
    Staff,
    Visit,
)
from kiosk.models.requests import EventKind, Source, Status
from kiosk.services import requests as svc
from kiosk.services.audit import Actor

__all__ = ["rworld"]


def _vault(app: Flask) -> Any:
    return app.extensions["kiosk"].vault


def _new(
    db: Any, app: Flask, rw: RequestWorld, code: str, answers: dict[str, str], **kw: Any
) -> int:
    booking = kw.get("booking", "2026-0001")
    when = kw.get("when") or dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    return make_request(
        db, _vault(app), rw.world.inmates[booking].id, rw.types[code], answers, when
    )


def test_the_nurse_works_a_health_request_and_the_officer_cannot_open_it(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "nurse", NURSE)
    nurse = staff_in(admin_app, clock, rworld, "nurse")
    queue = nurse.get("/requests/").get_data(as_text=True)
    assert "See a nurse" in queue
    page = nurse.get(f"/requests/{rid}")
    assert page.status_code == 200
    assert "Headache every morning." in page.get_data(as_text=True)
    for who in ("officer", "admin", "national", "caseworker", "othernurse"):
        browser = staff_in(admin_app, clock, rworld, who)
        assert browser.get(f"/requests/{rid}").status_code == 404, who
        listing = browser.get("/requests/?status=all").get_data(as_text=True)
        assert f'/requests/{rid}"' not in listing, who
        refused = browser.post(
            f"/requests/{rid}/reply", {"reply-body": "Hi"}, form_page="/account/"
        )
        assert refused.status_code == 404, who
    assert load(db, InmateRequest, rid).first_reply_at is None


def test_every_staff_read_of_a_sensitive_request_is_audited_and_ordinary_ones_are_not(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    health = _new(db, kiosk_app, rworld, "nurse", NURSE)
    ordinary = _new(db, kiosk_app, rworld, "library", {"wish": "A book"})
    nurse = staff_in(admin_app, clock, rworld, "nurse")
    nurse.get(f"/requests/{health}")
    nurse.get(f"/requests/{health}")
    staff_in(admin_app, clock, rworld, "officer").get(f"/requests/{ordinary}")
    assert audit_actions(db).count("request.read") == 2


def test_a_reply_reaches_the_inmate_and_a_note_never_does(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "library", {"wish": "A book"})
    officer = staff_in(admin_app, clock, rworld, "officer")
    page = f"/requests/{rid}"
    assert officer.post(f"{page}/note", {"note-body": "INTERNAL-42"}, page).status_code == 303
    assert (
        officer.post(f"{page}/reply", {"reply-body": "It is on the shelf."}, page).status_code
        == 303
    )
    staff_view = officer.get(page).get_data(as_text=True)
    assert "INTERNAL-42" in staff_view
    inmate_view = signed_in(kiosk_app, rworld.world).get(page).get_data(as_text=True)
    assert "It is on the shelf." in inmate_view
    assert "INTERNAL-42" not in inmate_view
    row = load(db, InmateRequest, rid)
    assert row.status is Status.IN_PROGRESS
    assert row.first_reply_at == clock.now()


def test_a_refusal_without_a_reason_is_refused_on_the_same_page(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "work", {"wish": "Kitchen"})
    worker = staff_in(admin_app, clock, rworld, "caseworker")
    page = f"/requests/{rid}"
    refused = worker.post(f"{page}/status", {"status-status": "rejected", "status-body": ""}, page)
    assert refused.status_code == 422
    assert "Write the reason for the refusal" in refused.get_data(as_text=True)
    bogus = worker.post(f"{page}/status", {"status-status": "withdrawn", "status-body": "x"}, page)
    assert bogus.status_code == 422
    done = worker.post(
        f"{page}/status", {"status-status": "rejected", "status-body": "No place."}, page
    )
    assert done.status_code == 303
    assert load(db, InmateRequest, rid).status is Status.REJECTED
    closed = worker.post(f"{page}/status", {"status-status": "closed", "status-body": ""}, page)
    assert closed.status_code == 303
    again = worker.post(f"{page}/reply", {"reply-body": "Hello"}, page)
    assert again.status_code == 409


def test_forwarding_moves_the_request_to_the_other_group_with_an_internal_comment(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "library", {"wish": "A course book"})
    officer = staff_in(admin_app, clock, rworld, "officer")
    page = f"/requests/{rid}"
    target = f"caseworker:{rworld.world.facility}"
    moved = officer.post(
        f"{page}/forward", {"forward-group": target, "forward-body": "Education question"}, page
    )
    assert moved.status_code == 303
    assert moved.headers["Location"] == "/requests/"
    assert officer.get(page).status_code == 404
    worker = staff_in(admin_app, clock, rworld, "caseworker")
    assert "Education question" in worker.get(page).get_data(as_text=True)
    assert "Education question" not in signed_in(kiosk_app, rworld.world).get(page).get_data(
        as_text=True
    )


def test_a_health_request_cannot_be_forwarded_outside_healthcare(
    kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "nurse", NURSE)
    nurse = fresh(db).scalars(select(Staff).where(Staff.username == "nurse")).one()
    facility = rworld.world.facility
    from kiosk.models import Facility

    with pytest.raises(svc.BadForward):
        svc.forward(
            db,
            actor=Actor("staff", nurse.id, "nurse"),
            vault=_vault(kiosk_app),
            staff=nurse,
            request_id=rid,
            role=Role.OFFICER,
            facility=db.get(Facility, facility),
            text="not mine",
            now=clock.now(),
        )
    assert load(db, InmateRequest, rid).group_role is Role.HEALTHCARE


def test_the_staff_member_named_in_a_complaint_cannot_find_it(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    sent = ask(
        portal,
        rworld.types["complaint_staff"],
        {"staff_name": "The one called Admin", "what": "Shouted at me."},
    )
    rid = int(sent.headers["Location"].rsplit("/", 1)[1])
    named = staff_in(admin_app, clock, rworld, "admin")
    assert named.get(f"/requests/{rid}").status_code == 404
    assert "Shouted" not in named.get("/requests/?status=all").get_data(as_text=True)
    assert f"/requests/{rid}" not in named.get("/requests/?status=all").get_data(as_text=True)
    assert (
        named.get(f"/requests/?q=NRB-2026-{rid:06d}").get_data(as_text=True).count("<tr>") == 2
    )  # the head and "No requests here."
    # The rest of the management group handles it, and an officer never sees it.
    other = staff_in(admin_app, clock, rworld, "national")
    assert "Shouted at me." in other.get(f"/requests/{rid}").get_data(as_text=True)
    assert staff_in(admin_app, clock, rworld, "officer").get(f"/requests/{rid}").status_code == 404


def test_a_handler_names_the_staff_member_and_they_lose_access(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "complaint", {"what": "A guard took my letter."})
    worker = staff_in(admin_app, clock, rworld, "caseworker")
    page = f"/requests/{rid}"
    assert worker.get(page).status_code == 200
    worker_id = rworld.staff["caseworker"].id
    # Another caseworker, named by the first; the namer keeps access, the named loses it.
    from conftest import add_staff

    state = kiosk_app.extensions["kiosk"]
    with kiosk_app.app_context():
        colleague = add_staff(
            db, state, "colleague", [Role.CASEWORKER], [rworld.world.facility], clock.now()
        )
    rworld.staff["colleague"] = colleague
    other = staff_in(admin_app, clock, rworld, "colleague")
    assert other.get(page).status_code == 200
    named = worker.post(f"{page}/named-staff", {"name-staff": str(colleague.id)}, page)
    assert named.status_code == 303
    assert other.get(page).status_code == 404
    assert worker.get(page).status_code == 200
    assert worker_id != colleague.id
    assert "request.name_staff" in audit_actions(db)


def test_overdue_requests_escalate_to_the_groups_supervisor_by_the_types_target(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    from kiosk.models import Facility

    actor = Actor.system("test")
    vault = _vault(kiosk_app)
    facility = db.get(Facility, rworld.world.facility)
    chief = fresh(db).scalars(select(Staff).where(Staff.username == "nurse2")).one()
    svc.set_supervisor(
        db, actor=actor, role=Role.HEALTHCARE, facility=facility, staff=chief, now=clock.now()
    )
    nurse_req = _new(db, kiosk_app, rworld, "nurse", NURSE)  # 2 working days: Wed 25 Nov
    dentist_req = _new(db, kiosk_app, rworld, "dentist", DENTIST)  # 5 working days: Mon 30 Nov
    clock.set(dt.datetime(2026, 11, 25, 22, 0, tzinfo=dt.UTC))  # Thu 26 Nov, 23:00 in Stockholm
    assert svc.escalate_overdue(db, actor=actor, vault=vault, now=clock.now()) == (0, 0)
    clock.set(dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC))
    assert svc.escalate_overdue(db, actor=actor, vault=vault, now=clock.now()) == (1, 0)
    assert svc.escalate_overdue(db, actor=actor, vault=vault, now=clock.now()) == (0, 0)
    assert load(db, InmateRequest, nurse_req).escalated_to_id == chief.id
    assert load(db, InmateRequest, dentist_req).escalated_at is None
    clock.set(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC))
    assert svc.escalate_overdue(db, actor=actor, vault=vault, now=clock.now()) == (1, 0)
    supervisor = staff_in(admin_app, clock, rworld, "nurse2")
    mine = supervisor.get("/requests/?mine=1").get_data(as_text=True)
    assert mine.count("Escalated") >= 2
    kinds = [
        e.kind
        for e in fresh(db).scalars(select(RequestEvent).where(RequestEvent.request_id == nurse_req))
    ]
    assert EventKind.ESCALATED in kinds
    inmate_page = (
        signed_in(kiosk_app, rworld.world).get(f"/requests/{nurse_req}").get_data(as_text=True)
    )
    assert "escalat" not in inmate_page.lower()
    assert "Late" in inmate_page


def test_the_queue_puts_overdue_and_oldest_first_and_filters(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    start = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    late = _new(db, kiosk_app, rworld, "library", {"wish": "old"}, when=start)
    fresh_one = _new(db, kiosk_app, rworld, "property", {"action": "out", "items": "watch"})
    officer = staff_in(admin_app, clock, rworld, "officer")
    html = officer.get("/requests/").get_data(as_text=True)
    assert html.index(f"/requests/{late}") < html.index(f"/requests/{fresh_one}")
    assert "Overdue" in html
    overdue = officer.get("/requests/?overdue=1").get_data(as_text=True)
    assert f'/requests/{fresh_one}"' not in overdue
    by_type = officer.get(f"/requests/?type={rworld.types['property']}").get_data(as_text=True)
    assert f'/requests/{late}"' not in by_type
    for junk in ("?status=%00", "?type=abc", "?page=-1", "?group=admin", "?q=" + "x" * 300):
        assert officer.get("/requests/" + junk).status_code == 200


def test_the_queue_pages_with_a_constant_number_of_queries(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    officer = staff_in(admin_app, clock, rworld, "officer")
    portal = signed_in(kiosk_app, rworld.world)
    engine = admin_app.extensions["kiosk"].database.engine
    kiosk_engine = kiosk_app.extensions["kiosk"].database.engine
    counts: list[int] = []

    seen: list[list[str]] = []

    def counter(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Session bookkeeping (a throttled last-seen write) is not the page's own work.
        if statement.startswith("SELECT") and "web_sessions" not in statement:
            counts[-1] += 1
            seen[-1].append(statement[:90])

    def measure(browser: Any, path: str, eng: Any) -> int:
        counts.append(0)
        seen.append([])
        event.listen(eng, "before_cursor_execute", counter)
        try:
            assert browser.get(path).status_code == 200
        finally:
            event.remove(eng, "before_cursor_execute", counter)
        return counts[-1]

    for n in range(3):
        _new(db, kiosk_app, rworld, "library", {"wish": f"b{n}"})
    small = measure(officer, "/requests/", engine)
    small_inmate = measure(portal, "/requests/", kiosk_engine)
    for n in range(60):
        booking = "2026-0001" if n % 2 else "2026-0002"
        _new(db, kiosk_app, rworld, "library", {"wish": f"c{n}"}, booking=booking)
    assert measure(officer, "/requests/", engine) == small, seen
    assert measure(officer, "/requests/?page=2", engine) == small
    assert measure(portal, "/requests/", kiosk_engine) == small_inmate


def test_a_paper_request_is_logged_as_paper_and_shows_in_the_inmates_list(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    officer = staff_in(admin_app, clock, rworld, "officer")
    step = officer.post(
        "/requests/log",
        {"booking_number": "2026 0009", "type_id": str(rworld.types["library"])},
        "/requests/log",
    )
    assert step.status_code == 422  # not in this officer's facility
    assert "No active inmate with this booking number." in step.get_data(as_text=True)
    step = officer.post(
        "/requests/log",
        {"booking_number": "2026-0002", "type_id": str(rworld.types["library"])},
        "/requests/log",
    )
    assert step.status_code == 303
    form_path = step.headers["Location"]
    form = officer.get(form_path).get_data(as_text=True)
    import re

    idem = re.search(r'name="idem" type="hidden" value="([^"]+)"', form)
    assert idem
    logged = officer.post(form_path, {"idem": idem.group(1), "f_wish": "Newspapers"}, form_path)
    assert logged.status_code == 303
    row = fresh(db).scalars(select(InmateRequest)).one()
    assert row.source is Source.PAPER
    assert row.logged_by_id == rworld.staff["officer"].id
    assert row.inmate_id == rworld.world.inmates["2026-0002"].id
    page = (
        signed_in(kiosk_app, rworld.world, "2026-0002")
        .get(f"/requests/{row.id}")
        .get_data(as_text=True)
    )
    assert "handed in on paper" in page
    assert "Staff logged your paper request." in page


def test_an_officer_logs_a_paper_health_request_but_cannot_read_it_afterwards(
    admin_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    officer = staff_in(admin_app, clock, rworld, "officer")
    path = f"/requests/log/{rworld.world.inmates['2026-0001'].id}/{rworld.types['nurse']}"
    logged = officer.post(path, {"idem": "p" * 30, "f_problem": "Fever", "f_urgent": "yes"}, path)
    assert logged.status_code == 303
    assert logged.headers["Location"] == "/requests/log"
    row = fresh(db).scalars(select(InmateRequest)).one()
    assert officer.get(f"/requests/{row.id}").status_code == 404


def test_the_print_view_shows_a_reply_but_never_an_internal_note(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "library", {"wish": "A book"})
    officer = staff_in(admin_app, clock, rworld, "officer")
    page = f"/requests/{rid}"
    officer.post(f"{page}/reply", {"reply-body": "PRINT-ME"}, page)
    officer.post(f"{page}/note", {"note-body": "NOT-ME"}, page)
    events = {
        e.kind: e.id
        for e in fresh(db).scalars(select(RequestEvent).where(RequestEvent.request_id == rid))
    }
    printed = officer.get(f"{page}/events/{events[EventKind.REPLY]}/print")
    assert printed.status_code == 200
    assert "PRINT-ME" in printed.get_data(as_text=True)
    assert "Inmate 1" in printed.get_data(as_text=True)
    assert officer.get(f"{page}/events/{events[EventKind.NOTE]}/print").status_code == 404


def test_the_external_appointment_form_keeps_details_with_staff(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    sent = ask(portal, rworld.types["dentist"], DENTIST)
    rid = int(sent.headers["Location"].rsplit("/", 1)[1])
    nurse = staff_in(admin_app, clock, rworld, "nurse")
    page = f"/requests/{rid}"
    bad = nurse.post(
        f"{page}/appointment",
        {"appointment-date": "tomorrow", "appointment-time": "9", "appointment-place": "X"},
        page,
    )
    assert bad.status_code == 422
    assert "Write the date as 2026-12-24" in bad.get_data(as_text=True)
    ok = nurse.post(
        f"{page}/appointment",
        {
            "appointment-date": "2026-12-03",
            "appointment-time": "13:45",
            "appointment-place": "Sjukhuset Avd 7",
            "appointment-note": "",
        },
        page,
    )
    assert ok.status_code == 303
    assert "Sjukhuset Avd 7" in nurse.get(page).get_data(as_text=True)
    inmate_page = portal.get(page).get_data(as_text=True)
    assert "Sjukhuset" not in inmate_page
    assert "13:45" not in inmate_page
    assert "An appointment has been arranged" in inmate_page


def test_approving_a_phone_contact_adds_it_to_the_list_and_removal_takes_it_off(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(
        db,
        kiosk_app,
        rworld,
        "contact_add",
        {"name": "Maria", "relation": "Sister", "number": "070-123 45 67"},
    )
    worker = staff_in(admin_app, clock, rworld, "caseworker")
    page = f"/requests/{rid}"
    assert (
        worker.post(
            f"{page}/status", {"status-status": "approved", "status-body": ""}, page
        ).status_code
        == 303
    )
    contact = fresh(db).scalars(select(PhoneContact)).one()
    assert (contact.name, contact.relation, contact.number) == ("Maria", "Sister", "0701234567")
    rid2 = _new(db, kiosk_app, rworld, "contact_remove", {"name": "Maria", "number": "0701234567"})
    page2 = f"/requests/{rid2}"
    assert (
        worker.post(
            f"{page2}/status", {"status-status": "approved", "status-body": ""}, page2
        ).status_code
        == 303
    )
    assert load(db, PhoneContact, contact.id).removed_at == clock.now()


def test_approving_a_visit_needs_its_time_and_books_it(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(
        db, kiosk_app, rworld, "visit", {"date": "2026-12-05", "visitors": "Mum", "count": "1"}
    )
    worker = staff_in(admin_app, clock, rworld, "caseworker")
    page = f"/requests/{rid}"
    missing = worker.post(f"{page}/status", {"status-status": "approved"}, page)
    assert missing.status_code == 422
    assert "Give the date and time of the visit" in missing.get_data(as_text=True)
    assert load(db, InmateRequest, rid).status is Status.SUBMITTED
    done = worker.post(
        f"{page}/status",
        {
            "status-status": "approved",
            "status-visit_date": "2026-12-05",
            "status-visit_time": "14:00",
        },
        page,
    )
    assert done.status_code == 303
    visit = fresh(db).scalars(select(Visit)).one()
    assert visit.starts_at == dt.datetime(2026, 12, 5, 13, 0, tzinfo=dt.UTC)
    assert visit.visitors == "Mum"


def test_the_figures_count_median_first_reply_and_share_answered_in_time(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    vault = _vault(kiosk_app)
    officer = fresh(db).scalars(select(Staff).where(Staff.username == "officer")).one()
    actor = Actor("staff", officer.id, "officer")
    ids = [_new(db, kiosk_app, rworld, "library", {"wish": str(n)}) for n in range(3)]
    for hours, rid in zip((2, 4, 30), ids, strict=True):
        svc.change_status(
            db,
            actor=actor,
            vault=vault,
            staff=officer,
            request_id=rid,
            to=Status.ANSWERED,
            text="Done",
            now=clock.now() + dt.timedelta(hours=hours * (10 if hours == 30 else 1)),
        )
    page = (
        staff_in(admin_app, clock, rworld, "caseworker")
        .get("/requests/admin/figures")
        .get_data(as_text=True)
    )
    assert "Library" in page
    assert "<td>3</td>" in page
    assert "4.0 hours" in page  # the median of 2, 4 and 300 hours
    assert "67 %" in page  # 300 hours is past the reply-by date
    assert (
        staff_in(admin_app, clock, rworld, "officer").get("/requests/admin/figures").status_code
        == 403
    )
    auditor = staff_in(admin_app, clock, rworld, "auditor")
    assert 'href="/requests/admin/figures"' in auditor.get("/").get_data(as_text=True)
    assert auditor.get("/requests/admin/figures").status_code == 200
    assert auditor.get("/requests/").status_code == 403


def test_an_admin_defines_a_new_kind_of_request_without_code(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    admin = staff_in(admin_app, clock, rworld, "national")
    form = {
        "code": "gym",
        "name_sv": "Gymtid",
        "name_en": "Gym time",
        "help_sv": "",
        "help_en": "Book an hour in the gym.",
        "category": "daily_life",
        "handler_role": "officer",
        "handler_facility": "0",
        "sensitivity": "normal",
        "reply_days": "3",
        "effect": "none",
        "active": "y",
        "everywhere": "y",
        "position": "5",
        "fields-0-key": "slot",
        "fields-0-kind": "choice",
        "fields-0-label_sv": "När?",
        "fields-0-label_en": "When?",
        "fields-0-required": "y",
        "fields-0-options": "morning | Förmiddag | Morning\nevening | Kväll | Evening",
    }
    bad = admin.post(
        "/requests/admin/types/new", {**form, "reply_days": "99"}, "/requests/admin/types/new"
    )
    assert bad.status_code == 422
    assert "The reply-by target is 0 to 60 working days." in bad.get_data(as_text=True)
    bad_field = admin.post(
        "/requests/admin/types/new", {**form, "fields-0-options": ""}, "/requests/admin/types/new"
    )
    assert bad_field.status_code == 422
    assert "A choice needs 1 to 30 options." in bad_field.get_data(as_text=True)
    created = admin.post("/requests/admin/types/new", form, "/requests/admin/types/new")
    assert created.status_code == 303
    rtype = fresh(db).scalars(select(RequestType).where(RequestType.code == "gym")).one()
    assert rtype.fields[0]["choices"][1]["label"]["en"] == "Evening"
    portal = signed_in(kiosk_app, rworld.world)
    assert "Gym time" in portal.get("/requests/new").get_data(as_text=True)
    assert "Evening" in portal.get(f"/requests/new/{rtype.id}").get_data(as_text=True)
    assert ask(portal, rtype.id, {"slot": "evening"}).status_code == 303
    # A facility administrator cannot edit a national type; officers cannot open the editor.
    local = staff_in(admin_app, clock, rworld, "admin")
    assert local.get(f"/requests/admin/types/{rtype.id}").status_code == 404
    officer = staff_in(admin_app, clock, rworld, "officer")
    assert officer.get("/requests/admin/types").status_code == 403


def test_an_edited_type_leaves_earlier_requests_as_they_were_asked(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(db, kiosk_app, rworld, "library", {"wish": "Atlas"})
    admin = staff_in(admin_app, clock, rworld, "national")
    path = f"/requests/admin/types/{rworld.types['library']}"
    page = admin.get(path).get_data(as_text=True)
    assert 'value="wish"' in page
    inmate_page = signed_in(kiosk_app, rworld.world).get(f"/requests/{rid}").get_data(as_text=True)
    assert "What would you like?" in inmate_page
    assert "Atlas" in inmate_page
    assert fresh(db).scalar(select(func.count(InmateRequest.id))) == 1


def test_the_inmate_reads_their_contacts_and_visits_and_staff_export_the_list(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, rworld: RequestWorld, db: Any
) -> None:
    rid = _new(
        db,
        kiosk_app,
        rworld,
        "contact_add",
        {"name": "=HYPERLINK(evil)", "relation": "Friend", "number": "+46 70 111 22 33"},
    )
    other = _new(
        db,
        kiosk_app,
        rworld,
        "contact_add",
        {"name": "Not Mine", "relation": "Brother", "number": "0709999999"},
        booking="2026-0002",
    )
    worker = staff_in(admin_app, clock, rworld, "caseworker")
    for request_id in (rid, other):
        page = f"/requests/{request_id}"
        worker.post(f"{page}/status", {"status-status": "approved", "status-body": ""}, page)
    mine = signed_in(kiosk_app, rworld.world).get("/requests/contacts").get_data(as_text=True)
    assert "+46701112233" in mine
    assert "Not Mine" not in mine
    exported = staff_in(admin_app, clock, rworld, "officer").get("/requests/contacts.csv")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    text = exported.get_data(as_text=True)
    assert "'=HYPERLINK(evil)" in text
    assert "0709999999" in text
    assert "contacts.export" in audit_actions(db)
    outsider = staff_in(admin_app, clock, rworld, "othernurse")
    assert outsider.get("/requests/contacts.csv").status_code == 200
    assert "0709999999" not in outsider.get("/requests/contacts.csv").get_data(as_text=True)
