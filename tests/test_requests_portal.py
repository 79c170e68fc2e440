"""Requests in the inmate portal: ask, get a receipt, follow the answers, add, withdraw."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import audit_actions, fresh, load
from flask import Flask
from request_helpers import DENTIST, NURSE, RequestWorld, ask, make_request, rworld, signed_in
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from kiosk.clock import FrozenClock
from kiosk.models import InmateRequest, RequestEvent, Staff
from kiosk.models.requests import Status
from kiosk.services import requests as svc
from kiosk.services.audit import Actor

__all__ = ["rworld"]


def _vault(app: Flask) -> Any:
    return app.extensions["kiosk"].vault


def _staff(db: Any, username: str) -> Staff:
    return fresh(db).scalars(select(Staff).where(Staff.username == username)).one()


def test_the_home_page_has_a_requests_tile_and_the_catalogue_is_offered(
    kiosk_app: Flask, rworld: RequestWorld
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    assert 'href="/requests/"' in portal.get("/").get_data(as_text=True)
    page = portal.get("/requests/new").get_data(as_text=True)
    for name in (
        "See a nurse",
        "See a dentist",
        "Haircut",
        "Complaint about a staff member",
        "Book a visit",
    ):
        assert name in page


def test_an_inmate_gets_a_receipt_number_and_reply_by_date_at_once(
    kiosk_app: Flask, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    sent = ask(portal, rworld.types["nurse"], NURSE)
    assert sent.status_code == 303
    page = portal.get(sent.headers["Location"]).get_data(as_text=True)
    row = fresh(db).scalars(select(InmateRequest)).one()
    # Monday 23 November + 2 working days.
    assert row.reply_by == dt.date(2026, 11, 25)
    assert row.receipt_number == f"NRB-2026-{row.id:06d}"
    assert row.receipt_number in page
    assert "November 25, 2026" in page
    assert "Your request is sent" in page
    assert "request.submit" in audit_actions(db)


def test_reply_by_counts_working_days_over_a_weekend() -> None:
    friday = dt.date(2026, 11, 27)
    assert svc.add_working_days(friday, 1) == dt.date(2026, 11, 30)
    assert svc.add_working_days(friday, 2) == dt.date(2026, 12, 1)
    assert svc.add_working_days(dt.date(2026, 11, 28), 0) == dt.date(2026, 11, 30)
    assert svc.add_working_days(dt.date(2026, 11, 23), 10) == dt.date(2026, 12, 7)


def test_the_reply_by_date_follows_the_types_target(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    assert (
        ask(portal, rworld.types["complaint"], {"what": "The shower was cold."}).status_code == 303
    )
    row = fresh(db).scalars(select(InmateRequest)).one()
    assert row.reply_by == dt.date(2026, 12, 7)  # 10 working days


def test_posting_the_same_form_twice_makes_one_request(
    kiosk_app: Flask, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    first = ask(portal, rworld.types["library"], {"wish": "A book"}, idem="k" * 32)
    second = ask(portal, rworld.types["library"], {"wish": "A book"}, idem="k" * 32)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert fresh(db).scalar(select(func.count(InmateRequest.id))) == 1


def test_missing_and_over_long_answers_get_clear_errors_and_nothing_is_saved(
    kiosk_app: Flask, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    refused = ask(portal, rworld.types["nurse"], {"problem": "x" * 1501, "urgent": "maybe"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Write at most 1500 characters (you wrote 1501)." in html
    assert "Choose yes or no." in html
    empty = ask(portal, rworld.types["nurse"], {})
    assert empty.status_code == 422
    assert "Fill in this field." in empty.get_data(as_text=True)
    assert "Choose an answer." in empty.get_data(as_text=True)
    assert fresh(db).scalar(select(func.count(InmateRequest.id))) == 0


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"date": "24/12/2026", "visitors": "Mum", "count": "1"}, "Write a date like 2026-12-24."),
        ({"date": "2026-02-30", "visitors": "Mum", "count": "1"}, "Write a date like 2026-12-24."),
        ({"date": "2026-12-24", "visitors": "Mum", "count": "9"}, "Write a number from 1 to 4."),
        ({"date": "2026-12-24", "visitors": "Mum", "count": "1e9"}, "Write a whole number."),
        (
            {"date": "2026-12-24", "visitors": "Mum\x00", "count": "2"},
            "Remove the special characters",
        ),
    ],
)
def test_malformed_values_give_errors_and_no_500(
    kiosk_app: Flask, rworld: RequestWorld, answers: dict[str, str], message: str
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    refused = ask(portal, rworld.types["visit"], answers)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)


def test_a_choice_outside_the_options_is_refused(kiosk_app: Flask, rworld: RequestWorld) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    refused = ask(portal, rworld.types["hairdresser"], {"service": "tattoo"})
    assert refused.status_code == 422
    assert "Choose one of the options." in refused.get_data(as_text=True)


def test_a_one_at_a_time_type_refuses_a_second_open_request(
    kiosk_app: Flask, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    assert ask(portal, rworld.types["dentist"], DENTIST).status_code == 303
    again = ask(portal, rworld.types["dentist"], DENTIST)
    assert again.status_code == 409
    assert "You already have an open request of this kind" in again.get_data(as_text=True)
    assert fresh(db).scalar(select(func.count(InmateRequest.id))) == 1
    # Once the first is withdrawn, a new one may be made.
    row = fresh(db).scalars(select(InmateRequest)).one()
    assert (
        portal.post(f"/requests/{row.id}/withdraw", form_page=f"/requests/{row.id}").status_code
        == 303
    )
    assert ask(portal, rworld.types["dentist"], DENTIST).status_code == 303


def test_an_inmate_never_sees_another_inmates_request(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    theirs = make_request(
        db,
        _vault(kiosk_app),
        rworld.world.inmates["2026-0002"].id,
        rworld.types["money"],
        {"question": "Where is my pay?"},
        clock.now(),
    )
    portal = signed_in(kiosk_app, rworld.world)
    for guess in (theirs, theirs + 1, 99999, 2**31 - 1):
        assert portal.get(f"/requests/{guess}").status_code == 404
    assert (
        portal.post(f"/requests/{theirs}/info", {"body": "hi"}, form_page="/requests/").status_code
        == 404
    )
    assert portal.post(f"/requests/{theirs}/withdraw", form_page="/requests/").status_code == 404
    assert "Where is my pay?" not in portal.get("/requests/").get_data(as_text=True)
    assert load(db, InmateRequest, theirs).status is Status.SUBMITTED


def test_the_list_of_own_requests_is_paginated(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    me = rworld.world.inmates["2026-0001"].id
    for n in range(23):
        make_request(
            db,
            _vault(kiosk_app),
            me,
            rworld.types["library"],
            {"wish": f"Book {n}"},
            clock.now() + dt.timedelta(minutes=n),
        )
    portal = signed_in(kiosk_app, rworld.world)
    first = portal.get("/requests/").get_data(as_text=True)
    assert first.count('class="request-card"') == 20
    assert 'rel="next"' in first
    second = portal.get("/requests/?page=2").get_data(as_text=True)
    assert second.count('class="request-card"') == 3
    assert portal.get("/requests/?page=abc").status_code == 200


def test_staff_replies_show_but_internal_notes_never_do(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    vault = _vault(kiosk_app)
    rid = make_request(
        db,
        vault,
        rworld.world.inmates["2026-0001"].id,
        rworld.types["money"],
        {"question": "Balance?"},
        clock.now(),
    )
    clerk = _staff(db, "commissary")
    actor = Actor("staff", clerk.id, clerk.username)
    svc.note(
        db,
        actor=actor,
        vault=vault,
        staff=clerk,
        request_id=rid,
        text="He asks every week. SECRET-NOTE",
        now=clock.now(),
    )
    svc.reply(
        db,
        actor=actor,
        vault=vault,
        staff=clerk,
        request_id=rid,
        text="Your balance is 120 kronor.",
        now=clock.now(),
    )
    portal = signed_in(kiosk_app, rworld.world)
    page = portal.get(f"/requests/{rid}").get_data(as_text=True)
    assert "Your balance is 120 kronor." in page
    assert "SECRET-NOTE" not in page
    assert "Being handled" in page


def test_a_refusal_always_shows_its_reason(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    vault = _vault(kiosk_app)
    rid = make_request(
        db,
        vault,
        rworld.world.inmates["2026-0001"].id,
        rworld.types["work"],
        {"wish": "Kitchen"},
        clock.now(),
    )
    worker = _staff(db, "caseworker")
    actor = Actor("staff", worker.id, worker.username)
    with pytest.raises(svc.MessageRequired):
        svc.change_status(
            db,
            actor=actor,
            vault=vault,
            staff=worker,
            request_id=rid,
            to=Status.REJECTED,
            text="  ",
            now=clock.now(),
        )
    svc.change_status(
        db,
        actor=actor,
        vault=vault,
        staff=worker,
        request_id=rid,
        to=Status.REJECTED,
        text="No free place until January.",
        now=clock.now(),
    )
    page = signed_in(kiosk_app, rworld.world).get(f"/requests/{rid}").get_data(as_text=True)
    assert "Refused" in page
    assert "Reason for the refusal" in page
    assert "No free place until January." in page


def test_the_inmate_adds_information_when_asked_and_the_request_returns_to_staff(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    vault = _vault(kiosk_app)
    rid = make_request(
        db,
        vault,
        rworld.world.inmates["2026-0001"].id,
        rworld.types["property"],
        {"action": "out", "items": "My watch"},
        clock.now(),
    )
    officer = _staff(db, "officer")
    svc.change_status(
        db,
        actor=Actor("staff", officer.id, "officer"),
        vault=vault,
        staff=officer,
        request_id=rid,
        to=Status.WAITING,
        text="Which watch? There are two.",
        now=clock.now(),
    )
    portal = signed_in(kiosk_app, rworld.world)
    page = portal.get(f"/requests/{rid}").get_data(as_text=True)
    assert "Waiting for you" in page
    assert "Which watch? There are two." in page
    too_long = portal.post(
        f"/requests/{rid}/info", {"body": "x" * 4001}, form_page=f"/requests/{rid}"
    )
    assert too_long.status_code == 422
    assert "Write at most 4000 characters" in too_long.get_data(as_text=True)
    added = portal.post(
        f"/requests/{rid}/info", {"body": "The gold one."}, form_page=f"/requests/{rid}"
    )
    assert added.status_code == 303
    row = load(db, InmateRequest, rid)
    assert row.status is Status.IN_PROGRESS
    assert "The gold one." in portal.get(f"/requests/{rid}").get_data(as_text=True)


def test_a_withdrawn_request_stays_on_record_and_takes_no_more_information(
    kiosk_app: Flask, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    sent = ask(portal, rworld.types["library"], {"wish": "Comics"})
    rid = int(sent.headers["Location"].rsplit("/", 1)[1])
    assert portal.post(f"/requests/{rid}/withdraw", form_page=f"/requests/{rid}").status_code == 303
    assert portal.post(f"/requests/{rid}/withdraw", form_page=f"/requests/{rid}").status_code == 409
    late = portal.post(f"/requests/{rid}/info", {"body": "more"}, form_page=f"/requests/{rid}")
    assert late.status_code == 409
    assert "This request is closed." in late.get_data(as_text=True)
    row = load(db, InmateRequest, rid)
    assert row.status is Status.WITHDRAWN
    assert not row.is_open
    assert "request.withdraw" in audit_actions(db)


def test_health_answers_are_encrypted_at_rest_and_each_read_is_audited(
    kiosk_app: Flask, rworld: RequestWorld, db: Any
) -> None:
    portal = signed_in(kiosk_app, rworld.world)
    sent = ask(portal, rworld.types["nurse"], {"problem": "Rash on my ARM-XYZ", "urgent": "no"})
    rid = int(sent.headers["Location"].rsplit("/", 1)[1])
    raw = fresh(db).execute(text("SELECT answers FROM requests WHERE id = :i"), {"i": rid}).scalar()
    assert "ARM-XYZ" not in raw
    page = portal.get(f"/requests/{rid}")
    assert "ARM-XYZ" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert audit_actions(db).count("request.read") == 1


def test_the_external_appointment_details_never_reach_the_inmate(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    vault = _vault(kiosk_app)
    rid = make_request(
        db,
        vault,
        rworld.world.inmates["2026-0001"].id,
        rworld.types["dentist"],
        DENTIST,
        clock.now(),
    )
    nurse = _staff(db, "nurse")
    svc.arrange_appointment(
        db,
        actor=Actor("staff", nurse.id, "nurse"),
        vault=vault,
        staff=nurse,
        request_id=rid,
        when=dt.datetime(2026, 12, 3, 13, 45, tzinfo=dt.UTC),
        place="Folktandvården Storgatan",
        note_text="Escort of two",
        now=clock.now(),
    )
    portal = signed_in(kiosk_app, rworld.world)
    paths = ("/", "/requests/", "/requests/new", "/requests/contacts", f"/requests/{rid}")
    pages = [portal.get(p).get_data(as_text=True) for p in paths]
    for page in pages:
        for secret in (
            "Storgatan",
            "Folktandv",
            "13:45",
            "14:45",
            "Dec 3",
            "December 3",
            "2026-12-03",
            "Escort",
        ):
            assert secret not in page
    assert "An appointment has been arranged" in pages[-1]


def test_requests_and_their_events_cannot_be_deleted(
    kiosk_app: Flask, rworld: RequestWorld, db: Any, clock: FrozenClock
) -> None:
    rid = make_request(
        db,
        _vault(kiosk_app),
        rworld.world.inmates["2026-0001"].id,
        rworld.types["library"],
        {"wish": "x"},
        clock.now(),
    )
    fresh(db)
    with pytest.raises(DatabaseError):
        db.execute(text("DELETE FROM request_events WHERE request_id = :i"), {"i": rid})
    db.rollback()
    with pytest.raises(DatabaseError):
        db.execute(
            text("UPDATE request_events SET body = 'changed' WHERE request_id = :i"), {"i": rid}
        )
    db.rollback()
    with pytest.raises(DatabaseError):
        db.execute(text("DELETE FROM requests WHERE id = :i"), {"i": rid})
    db.rollback()
    assert fresh(db).scalar(select(func.count(RequestEvent.id))) == 1
