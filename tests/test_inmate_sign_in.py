"""Inmate sign-in: booking number and PIN, only on an enrolled terminal, inside opening hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import Portal, World, audit_actions, fresh, load
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import Inmate, InmateStatus, Terminal, WebSession
from kiosk.services import audit as audit_service
from kiosk.services import inmates, terminals

GENERIC = "The booking number or PIN is not right"


def wrong_pin(pin: str) -> str:
    return "".join(str((int(d) + 1) % 10) for d in pin)


def test_an_inmate_signs_in_and_sees_their_home_page(portal: Portal, world: World) -> None:
    person = world.inmates["2026-0001"]
    response = portal.sign_in(person.booking, person.pin)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = portal.get("/")
    assert home.status_code == 200
    assert "Inmate 1" in home.get_data(as_text=True)
    assert "Sign out" in home.get_data(as_text=True)


def test_spaces_around_the_booking_number_do_not_matter(portal: Portal, world: World) -> None:
    person = world.inmates["2026-0001"]
    assert portal.sign_in(f"  {person.booking} ", person.pin).status_code == 302


def test_a_wrong_pin_gets_the_generic_message_and_a_4xx(
    portal: Portal, world: World, db: Any
) -> None:
    person = world.inmates["2026-0001"]
    response = portal.sign_in(person.booking, wrong_pin(person.pin))
    assert response.status_code == 401
    assert GENERIC in response.get_data(as_text=True)
    unknown = portal.sign_in("9999-9999", "482916")
    assert unknown.status_code == 401
    assert GENERIC in unknown.get_data(as_text=True)
    assert portal.get("/").status_code == 302
    assert audit_actions(db).count("inmate.sign_in") >= 2


def test_five_wrong_pins_lock_the_account_but_another_inmate_still_signs_in(
    portal: Portal, world: World, kiosk_app: Flask, db: Any
) -> None:
    victim = world.inmates["2026-0001"]
    for _ in range(5):
        assert portal.sign_in(victim.booking, wrong_pin(victim.pin)).status_code == 401
    locked = portal.sign_in(victim.booking, victim.pin)
    assert locked.status_code == 401, "the right PIN does not work while locked"
    assert GENERIC in locked.get_data(as_text=True)
    other = world.inmates["2026-0002"]
    neighbour = Portal(kiosk_app, world.terminals["a1"][1])
    assert neighbour.sign_in(other.booking, other.pin).status_code == 302
    assert "inmate.lock" in audit_actions(db)


def test_the_lock_lifts_after_fifteen_minutes(
    portal: Portal, world: World, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    for _ in range(5):
        portal.sign_in(person.booking, wrong_pin(person.pin))
    clock.advance(minutes=14)
    assert portal.sign_in(person.booking, person.pin).status_code == 401
    clock.advance(minutes=2)
    assert portal.sign_in(person.booking, person.pin).status_code == 302


def test_a_lock_made_at_one_terminal_does_not_lock_the_owner_out_of_their_own(
    kiosk_app: Flask, world: World
) -> None:
    victim = world.inmates["2026-0001"]
    prankster = Portal(kiosk_app, world.terminals["a2"][1])
    for _ in range(5):
        prankster.sign_in(victim.booking, wrong_pin(victim.pin))
    assert prankster.sign_in(victim.booking, victim.pin).status_code == 401
    own_tablet = Portal(kiosk_app, world.terminals["a1"][1])
    assert own_tablet.sign_in(victim.booking, victim.pin).status_code == 302


def test_twenty_failures_in_all_need_a_staff_unlock(
    kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    person = world.inmates["2026-0001"]
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    for _ in range(4):
        for _ in range(5):
            portal.sign_in(person.booking, wrong_pin(person.pin))
        clock.advance(minutes=16)
    row = load(db, Inmate, person.id)
    assert row.hard_locked_at is not None
    clock.advance(days=1)
    assert portal.sign_in(person.booking, person.pin).status_code == 401, "time does not help"
    inmates.unlock(db, actor=audit_service.Actor.system("test"), inmate=row, now=clock.now())
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    assert "inmate.hard_lock" in audit_actions(db)


def test_a_terminal_that_fails_on_many_accounts_rests(
    portal: Portal, world: World, kiosk_app: Flask, db: Any
) -> None:
    for number in range(5):
        portal.sign_in(f"9999-000{number}", "482916")
    person = world.inmates["2026-0002"]
    refused = portal.sign_in(person.booking, person.pin)
    assert refused.status_code == 429
    assert "terminal is resting" in refused.get_data(as_text=True)
    elsewhere = Portal(kiosk_app, world.terminals["a2"][1])
    assert elsewhere.sign_in(person.booking, person.pin).status_code == 302
    assert "terminal.lock" in audit_actions(db)


def test_sign_in_is_refused_on_a_device_that_is_not_enrolled(
    kiosk_app: Flask, world: World
) -> None:
    stranger = Portal(kiosk_app)
    assert stranger.get("/sign-in").headers["Location"] == "/terminal/enrol"
    page = stranger.get("/terminal/enrol").get_data(as_text=True)
    assert "not set up" in page
    token = stranger.token("/terminal/enrol")
    person = world.inmates["2026-0001"]
    posted = stranger.client.post(
        "/sign-in",
        data={"csrf_token": token, "booking_number": person.booking, "pin": person.pin},
    )
    assert posted.status_code == 302
    assert posted.headers["Location"] == "/terminal/enrol"
    assert stranger.get("/").headers["Location"] == "/terminal/enrol"


def test_a_forged_terminal_cookie_counts_as_no_terminal(kiosk_app: Flask, world: World) -> None:
    forged = Portal(kiosk_app, "A" * 43)
    assert forged.get("/sign-in").headers["Location"] == "/terminal/enrol"


def test_sign_in_is_refused_on_a_revoked_terminal_and_its_sessions_end(
    portal: Portal, world: World, db: Any, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    terminal = load(db, Terminal, world.terminals["a1"][0])
    terminals.revoke(
        db, actor=audit_service.Actor.system("test"), terminal=terminal, now=clock.now()
    )
    assert portal.get("/").headers["Location"] == "/terminal/enrol"
    assert portal.get("/sign-in").headers["Location"] == "/terminal/enrol"
    open_rows = fresh(db).query(WebSession).filter_by(inmate_id=person.id, ended_at=None).count()
    assert open_rows == 0


def test_sign_in_is_refused_outside_opening_hours_with_the_next_opening(
    kiosk_app: Flask, world: World, clock: FrozenClock
) -> None:
    study = Portal(kiosk_app, world.terminals["study"][1])
    person = world.inmates["2026-0001"]
    clock.set(dt.datetime(2026, 11, 23, 21, 30, tzinfo=dt.UTC))  # 22:30 in Stockholm
    refused = study.sign_in(person.booking, person.pin)
    assert refused.status_code == 403
    text = refused.get_data(as_text=True)
    assert "closed" in text
    assert "07:00" in text
    clock.set(dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC))  # 07:00 in Stockholm
    assert study.sign_in(person.booking, person.pin).status_code == 302


def test_a_session_ends_when_the_kiosk_closes(
    kiosk_app: Flask, world: World, clock: FrozenClock
) -> None:
    study = Portal(kiosk_app, world.terminals["study"][1])
    person = world.inmates["2026-0001"]
    clock.set(dt.datetime(2026, 11, 23, 19, 58, tzinfo=dt.UTC))  # 20:58 local
    assert study.sign_in(person.booking, person.pin).status_code == 302
    clock.advance(minutes=3)
    closed = study.get("/")
    assert closed.status_code == 302
    assert closed.headers["Location"] == "/sign-in"
    assert "kiosk has closed" in study.get("/sign-in").get_data(as_text=True)


def test_a_released_inmate_cannot_sign_in_and_their_session_ends(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    tablet = Portal(kiosk_app, world.terminals["a1"][1])
    assert tablet.sign_in(person.booking, person.pin).status_code == 302
    inmates.end_stay(
        db,
        actor=audit_service.Actor.system("test"),
        inmate=load(db, Inmate, person.id),
        status=InmateStatus.RELEASED,
        now=clock.now(),
    )
    assert tablet.get("/").headers["Location"] == "/sign-in"
    again = tablet.sign_in(person.booking, person.pin)
    assert again.status_code == 403
    assert "cannot sign in" in again.get_data(as_text=True)


def test_an_inmate_cannot_sign_in_at_another_facility(kiosk_app: Flask, world: World) -> None:
    elsewhere = Portal(kiosk_app, world.terminals["other"][1])
    person = world.inmates["2026-0001"]
    assert elsewhere.sign_in(person.booking, person.pin).status_code == 403


def test_the_session_id_changes_at_sign_in(portal: Portal, world: World, db: Any) -> None:
    portal.get("/sign-in")
    before = portal.session_cookie
    assert before
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    after = portal.session_cookie
    assert after
    assert after != before
    rows = fresh(db).query(WebSession).filter_by(app="kiosk").order_by(WebSession.id).all()
    assert rows[0].ended_at is not None
    assert rows[0].end_reason == "renewed"
    assert rows[-1].inmate_id == person.id
    assert rows[-1].ended_at is None


def test_the_portal_signs_out_after_five_idle_minutes(
    portal: Portal, world: World, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    clock.advance(minutes=4)
    assert portal.get("/").status_code == 200
    clock.advance(minutes=4, seconds=59)
    assert portal.get("/").status_code == 200, "activity kept the session alive"
    clock.advance(minutes=5, seconds=30)
    expired = portal.get("/")
    assert expired.headers["Location"] == "/sign-in"
    assert "nothing happened for a while" in portal.get("/sign-in").get_data(as_text=True)


def test_pages_warn_before_the_timeout_and_cover_themselves_after_it_without_script(
    portal: Portal, world: World
) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    html = portal.get("/account/").get_data(as_text=True)
    assert "<script" not in html
    assert "http-equiv" not in html
    assert 'href="/timeout.css"' in html
    assert "signed out in one minute" in html
    assert 'href="/account/">Stay signed in' in html
    assert "timeout--cover" in html
    css = portal.get("/timeout.css")
    assert css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    assert ".timeout--warning{animation-delay:240s}" in text
    assert ".timeout--cover{animation-delay:302s}" in text


def test_sign_out_is_a_post_and_a_get_changes_nothing(
    portal: Portal, world: World, db: Any
) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    assert portal.get("/sign-out").status_code == 405
    assert portal.get("/").status_code == 200
    html = portal.get("/").get_data(as_text=True)
    assert 'action="/sign-out"' in html
    assert 'method="post"' in html
    out = portal.post("/sign-out")
    assert out.headers["Location"] == "/sign-in"
    assert portal.get("/").headers["Location"] == "/sign-in"
    assert "inmate.sign_out" in audit_actions(db)


def test_signing_in_elsewhere_ends_the_first_session(kiosk_app: Flask, world: World) -> None:
    person = world.inmates["2026-0001"]
    first = Portal(kiosk_app, world.terminals["a1"][1])
    second = Portal(kiosk_app, world.terminals["a2"][1])
    first.sign_in(person.booking, person.pin)
    second.sign_in(person.booking, person.pin)
    assert first.get("/").headers["Location"] == "/sign-in"
    assert second.get("/").status_code == 200


def test_a_session_cookie_moved_to_another_terminal_is_refused(
    kiosk_app: Flask, world: World
) -> None:
    person = world.inmates["2026-0001"]
    tablet = Portal(kiosk_app, world.terminals["a1"][1])
    tablet.sign_in(person.booking, person.pin)
    stolen = Portal(kiosk_app, world.terminals["a2"][1])
    stolen.client.set_cookie("kiosk_session", tablet.session_cookie or "")
    assert stolen.get("/").headers["Location"] == "/sign-in"
    assert tablet.get("/").headers["Location"] == "/sign-in", "the moved session was ended"


def test_a_session_never_ends_before_five_full_idle_minutes(
    portal: Portal, world: World, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    clock.advance(seconds=20)
    assert portal.get("/").status_code == 200  # too soon to refresh last_seen_at
    clock.advance(minutes=4, seconds=59)
    assert portal.get("/").status_code == 200, "4:59 after the last request"


def test_the_timeout_cover_ends_the_session_with_a_post(
    portal: Portal, world: World, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    html = portal.get("/").get_data(as_text=True)
    cover = html[html.index("timeout--cover") :]
    assert '<form method="post" action="/sign-out">' in cover
    clock.advance(minutes=6)
    token_gone = portal.client.post("/sign-out", data={"csrf_token": "stale"})
    assert token_gone.status_code == 303
    assert token_gone.headers["Location"] == "/sign-in"
