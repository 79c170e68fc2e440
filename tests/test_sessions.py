"""Server-side sessions: hashed tokens, one app never accepts the other's cookie, revocation."""

from __future__ import annotations

from typing import Any

from conftest import Portal, StaffBrowser, World, fresh
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import WebSession
from kiosk.security.sessions import end_sessions
from kiosk.security.tokens import token_hash


def test_the_database_holds_a_hash_not_the_cookie(portal: Portal, world: World, db: Any) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    cookie = portal.session_cookie
    assert cookie
    row = fresh(db).query(WebSession).filter_by(inmate_id=person.id, ended_at=None).one()
    assert row.token_hash != cookie
    assert cookie not in row.data
    assert row.token_hash == token_hash(cookie, "kiosk")


def test_a_staff_cookie_means_nothing_to_the_portal(
    kiosk_app: Flask, staff_browser: StaffBrowser, world: World
) -> None:
    staff_browser.sign_in(world.staff["admin"])
    staff_cookie = staff_browser.client.get_cookie("staff_session").value
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.client.set_cookie("kiosk_session", staff_cookie)
    portal.client.set_cookie("staff_session", staff_cookie)
    assert portal.get("/").headers["Location"] == "/sign-in"
    assert staff_browser.get("/").status_code == 200, "the staff session itself is untouched"


def test_an_inmate_cookie_means_nothing_to_the_staff_app(
    portal: Portal, admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    browser = StaffBrowser(admin_app, clock)
    browser.client.set_cookie("staff_session", portal.session_cookie or "")
    browser.client.set_cookie("kiosk_session", portal.session_cookie or "")
    assert browser.get("/").headers["Location"].startswith("/sign-in")
    assert browser.get("/inmates/").headers["Location"].startswith("/sign-in")


def test_one_session_can_be_ended_and_the_others_stay(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    member = world.staff["admin"]
    laptop = StaffBrowser(admin_app, clock)
    laptop.sign_in(member)
    clock.advance(seconds=30)
    desktop = StaffBrowser(admin_app, clock)
    desktop.sign_in(member)
    rows = (
        fresh(db)
        .query(WebSession)
        .filter_by(staff_id=member.id, ended_at=None)
        .order_by(WebSession.id)
        .all()
    )
    assert len(rows) == 2
    ended = desktop.post(f"/account/sessions/{rows[0].id}/end", form_page="/account/")
    assert ended.status_code == 302
    assert laptop.get("/").headers["Location"].startswith("/sign-in")
    assert desktop.get("/").status_code == 200


def test_all_sessions_of_a_user_end_at_once(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    person = world.inmates["2026-0001"]
    tablet = Portal(kiosk_app, world.terminals["a1"][1])
    tablet.sign_in(person.booking, person.pin)
    assert end_sessions(db, now=clock.now(), reason="test", inmate_id=person.id) == 1
    db.commit()
    assert tablet.get("/").headers["Location"] == "/sign-in"


def test_an_admin_can_end_another_staff_members_sessions(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    teacher = StaffBrowser(admin_app, clock)
    teacher.sign_in(world.staff["teacher"])
    admin = StaffBrowser(admin_app, clock)
    admin.sign_in(world.staff["admin"])
    target = world.staff["teacher"].id
    response = admin.post(f"/staff/{target}/sessions/end", form_page=f"/staff/{target}")
    assert response.status_code == 302
    assert teacher.get("/").headers["Location"].startswith("/sign-in")


def test_cookies_are_httponly_and_strict(portal: Portal, world: World) -> None:
    person = world.inmates["2026-0001"]
    response = portal.sign_in(person.booking, person.pin)
    header = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("kiosk_session=")
    )
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header


def test_behind_https_cookies_are_secure_and_host_prefixed(
    settings: Any, clock: FrozenClock, world: World
) -> None:
    from kiosk import create_app

    app = create_app(settings.replace(https=True), clock=clock)
    client = app.test_client()
    response = client.get("/terminal/enrol", base_url="https://localhost")
    header = next(h for h in response.headers.getlist("Set-Cookie") if "session" in h)
    assert header.startswith("__Host-kiosk_session=")
    assert "Secure" in header
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Strict-Transport-Security" in response.headers
    app.extensions["kiosk"].database.dispose()


def test_a_signed_in_page_reads_its_session_on_the_requests_own_connection(
    portal: Portal, kiosk_app: Flask, world: World
) -> None:
    from sqlalchemy import event

    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    assert portal.get("/").status_code == 200  # the first page after sign-in may renew it
    engine = kiosk_app.extensions["kiosk"].database.engine
    checkouts: list[int] = []

    def checkout(*_args: Any) -> None:
        checkouts.append(1)

    event.listen(engine, "checkout", checkout)
    try:
        page = portal.get("/")
    finally:
        event.remove(engine, "checkout", checkout)
    assert page.status_code == 200
    assert "sign-in" not in page.headers.get("Location", "")
    assert len(checkouts) == 1, "the session row, the terminal and the inmate on one connection"
