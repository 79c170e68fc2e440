"""Staff sign-in: password (argon2id) and TOTP, QR enrolment, recovery codes, locks, timeouts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from conftest import PASSWORD, StaffBrowser, World, audit_actions, fresh, load
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import RecoveryCode, Role, Staff, WebSession
from kiosk.security import totp
from kiosk.services import audit as audit_service
from kiosk.services import staff as staff_service

GENERIC = "The user name or password is not right"


def test_staff_sign_in_with_password_and_totp(
    staff_browser: StaffBrowser, world: World, db: Any
) -> None:
    staff_browser.sign_in(world.staff["admin"])
    page = staff_browser.get("/")
    assert page.status_code == 200
    assert "Welcome, Admin" in page.get_data(as_text=True)
    assert "staff.sign_in" in audit_actions(db)


def test_a_wrong_password_gets_the_generic_message(
    staff_browser: StaffBrowser, world: World
) -> None:
    wrong = staff_browser.password_step("admin", "not the password at all")
    assert wrong.status_code == 401
    assert GENERIC in wrong.get_data(as_text=True)
    unknown = staff_browser.password_step("nobody", PASSWORD)
    assert unknown.status_code == 401
    assert GENERIC in unknown.get_data(as_text=True)
    assert staff_browser.get("/sign-in/code").headers["Location"] == "/sign-in"


def test_the_password_alone_does_not_sign_in(staff_browser: StaffBrowser, world: World) -> None:
    member = world.staff["admin"]
    assert staff_browser.password_step(member.username, member.password).status_code == 302
    assert staff_browser.get("/").headers["Location"].startswith("/sign-in")


def test_a_totp_code_is_never_accepted_twice(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    member = world.staff["admin"]
    code = totp.current_code(member.secret, clock.now())
    first = StaffBrowser(admin_app, clock)
    first.password_step(member.username, member.password)
    assert first.code_step(code).status_code == 302
    thief = StaffBrowser(admin_app, clock)
    thief.password_step(member.username, member.password)
    replay = thief.code_step(code)
    assert replay.status_code == 401
    assert "used already" in replay.get_data(as_text=True)
    clock.advance(seconds=20)
    assert thief.code_step(code).status_code == 401, "still the same step"
    earlier = totp.code_at(member.secret, totp.step_at(clock.now()) - 1)
    assert thief.code_step(earlier).status_code == 401, "an earlier step"
    assert thief.code_step("0" + code).status_code == 401, "padded"
    clock.advance(seconds=30)
    assert thief.code_step(totp.current_code(member.secret, clock.now())).status_code == 302


def test_first_sign_in_enrols_totp_with_a_server_made_qr_code(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any, kiosk_app: Flask
) -> None:
    state = kiosk_app.extensions["kiosk"]
    actor = audit_service.Actor.system("test")
    newbie, one_time, _ = staff_service.create_staff(
        db,
        actor=actor,
        actor_staff=None,
        hasher=state.hasher,
        vault=state.vault,
        username="newbie",
        name="New Bie",
        roles=[Role.TEACHER],
        facility_ids=[world.facility],
        all_facilities=False,
        now=clock.now(),
    )
    browser = StaffBrowser(admin_app, clock)
    step1 = browser.password_step("newbie", one_time)
    assert step1.headers["Location"] == "/sign-in/setup"
    setup = browser.get("/sign-in/setup")
    html = setup.get_data(as_text=True)
    assert "<svg" in html
    assert "<img" not in html
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    wrong = browser.post("/sign-in/setup", {"code": "000000"}, form_page="/sign-in/setup")
    assert wrong.status_code == 401
    assert load(db, Staff, newbie.id).totp_secret is None, "nothing is saved before a valid code"
    code = totp.current_code(secret, clock.now())
    done = browser.post("/sign-in/setup", {"code": code}, form_page="/sign-in/setup")
    assert done.status_code == 200
    codes = re.findall(r"<code>([0-9A-Z]{5}-[0-9A-Z]{5})</code>", done.get_data(as_text=True))
    assert len(codes) == 10
    assert load(db, Staff, newbie.id).totp_secret is not None
    stored = fresh(db).query(RecoveryCode).filter_by(staff_id=newbie.id).all()
    assert len(stored) == 10
    assert all(c.code_hash not in codes for c in stored)
    new_password = browser.get("/sign-in/new-password")
    assert new_password.status_code == 200
    saved = browser.post(
        "/sign-in/new-password",
        {"password": "violet tractor museum 81", "password_again": "violet tractor museum 81"},
        form_page="/sign-in/new-password",
    )
    assert saved.status_code == 302
    assert saved.headers["Location"] == "/"
    assert browser.get("/").status_code == 200


def test_a_common_new_password_is_refused_on_the_same_page(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any, kiosk_app: Flask
) -> None:
    state = kiosk_app.extensions["kiosk"]
    actor = audit_service.Actor.system("test")
    _, one_time, secret = staff_service.create_staff(
        db,
        actor=actor,
        actor_staff=None,
        hasher=state.hasher,
        vault=state.vault,
        username="weakling",
        name="Weak Ling",
        roles=[Role.TEACHER],
        facility_ids=[world.facility],
        all_facilities=False,
        now=clock.now(),
        with_totp=True,
    )
    browser = StaffBrowser(admin_app, clock)
    browser.password_step("weakling", one_time)
    browser.code_step(totp.current_code(secret, clock.now()))
    refused = browser.post(
        "/sign-in/new-password",
        {"password": "password1234", "password_again": "password1234"},
        form_page="/sign-in/new-password",
    )
    assert refused.status_code == 422
    assert "too common" in refused.get_data(as_text=True)
    short = browser.post(
        "/sign-in/new-password",
        {"password": "short", "password_again": "short"},
        form_page="/sign-in/new-password",
    )
    assert short.status_code == 422
    assert "at least 12 characters" in short.get_data(as_text=True)


def test_a_recovery_code_works_once(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any, kiosk_app: Flask
) -> None:
    state = kiosk_app.extensions["kiosk"]
    member = world.staff["officer"]
    codes = staff_service.new_recovery_codes(
        db,
        actor=audit_service.Actor.system("test"),
        pepper=state.secrets.pin_pepper,
        staff=load(db, Staff, member.id),
        now=clock.now(),
    )
    browser = StaffBrowser(admin_app, clock)
    browser.password_step(member.username, member.password)
    assert browser.code_step(codes[0].lower()).status_code == 302
    again = StaffBrowser(admin_app, clock)
    again.password_step(member.username, member.password)
    assert again.code_step(codes[0]).status_code == 401
    assert again.code_step(codes[1]).status_code == 302


def test_five_failures_lock_a_staff_account(
    staff_browser: StaffBrowser, world: World, db: Any
) -> None:
    member = world.staff["teacher"]
    for _ in range(5):
        assert (
            staff_browser.password_step(member.username, "wrong password here").status_code == 401
        )
    locked = staff_browser.password_step(member.username, member.password)
    assert locked.status_code == 401
    assert load(db, Staff, member.id).locked_until is not None
    assert "staff.lock" in audit_actions(db)


def test_wrong_totp_codes_count_toward_the_lock(
    staff_browser: StaffBrowser, world: World, db: Any
) -> None:
    member = world.staff["teacher"]
    staff_browser.password_step(member.username, member.password)
    for _ in range(5):
        staff_browser.code_step("000000")
    assert load(db, Staff, member.id).locked_until is not None
    refused = staff_browser.code_step(totp.current_code(member.secret, staff_browser.clock.now()))
    assert refused.status_code == 401


def test_sign_in_steps_expire_after_five_minutes(
    staff_browser: StaffBrowser, world: World, clock: FrozenClock
) -> None:
    member = world.staff["admin"]
    staff_browser.password_step(member.username, member.password)
    clock.advance(minutes=6)
    assert staff_browser.get("/sign-in/code").headers["Location"] == "/sign-in"


def test_staff_sessions_end_after_fifteen_idle_minutes(
    staff_browser: StaffBrowser, world: World, clock: FrozenClock
) -> None:
    staff_browser.sign_in(world.staff["admin"])
    clock.advance(minutes=14)
    assert staff_browser.get("/").status_code == 200
    clock.advance(minutes=15, seconds=30)
    assert staff_browser.get("/").headers["Location"].startswith("/sign-in")
    assert "15 minutes without activity" in staff_browser.get("/sign-in").get_data(as_text=True)


def test_staff_sessions_end_after_twelve_hours_even_when_busy(
    staff_browser: StaffBrowser, world: World, clock: FrozenClock
) -> None:
    staff_browser.sign_in(world.staff["admin"])
    for _ in range(12 * 6):
        clock.advance(minutes=10)
        if staff_browser.get("/").status_code != 200:
            break
    elapsed = clock.now() - dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
    assert elapsed == dt.timedelta(hours=12)
    assert staff_browser.get("/").headers["Location"].startswith("/sign-in")


def test_a_deactivated_account_is_signed_out_at_once(
    staff_browser: StaffBrowser, world: World, db: Any, clock: FrozenClock
) -> None:
    member = world.staff["teacher"]
    staff_browser.sign_in(member)
    staff_service.set_active(
        db,
        actor=audit_service.Actor.system("test"),
        actor_staff=None,
        staff=load(db, Staff, member.id),
        active=False,
        now=clock.now(),
    )
    assert staff_browser.get("/").headers["Location"].startswith("/sign-in")
    assert staff_browser.password_step(member.username, member.password).status_code == 401


def test_the_staff_session_id_changes_at_sign_in(
    staff_browser: StaffBrowser, world: World, db: Any
) -> None:
    staff_browser.get("/sign-in")
    before = staff_browser.client.get_cookie("staff_session").value
    staff_browser.sign_in(world.staff["admin"])
    after = staff_browser.client.get_cookie("staff_session").value
    assert before != after
    open_rows = fresh(db).query(WebSession).filter_by(app="admin", ended_at=None).all()
    assert [r.staff_id for r in open_rows] == [world.staff["admin"].id]
