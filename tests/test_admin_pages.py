"""The staff pages administrators work with: accounts, inmates, terminals, opening hours."""

from __future__ import annotations

import re
from typing import Any

from conftest import Portal, StaffBrowser, World, audit_actions, fresh, load
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import Inmate, InmateStatus, Role, Staff, Terminal, Unit
from kiosk.services import places


def admin(admin_app: Flask, clock: FrozenClock, world: World, who: str = "admin") -> StaffBrowser:
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff[who])
    return browser


def test_an_admin_creates_a_staff_account_and_sees_the_one_time_password(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    created = browser.post(
        "/staff/new",
        {
            "username": "Nina.Lind",
            "name": "Nina Lind",
            "roles": ["teacher", "officer"],
            "facilities": [str(world.facility)],
        },
        "/staff/new",
    )
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    assert re.search(r"<code>[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}</code>", html)
    row = fresh(db).query(Staff).filter_by(username="nina.lind").one()
    assert row.roles == {Role.TEACHER, Role.OFFICER}
    assert row.must_change_password
    assert row.totp_secret is None
    assert "staff.create" in audit_actions(db)


def test_a_facility_admin_cannot_create_a_national_account_or_grant_elsewhere(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    refused = browser.post(
        "/staff/new",
        {
            "username": "sneaky",
            "name": "Sneaky",
            "roles": ["admin"],
            "facilities": [str(world.other_facility)],
        },
        "/staff/new",
    )
    assert refused.status_code == 422
    national = browser.post(
        "/staff/new",
        {
            "username": "sneaky",
            "name": "Sneaky",
            "roles": ["teacher"],
            "facilities": [str(world.facility)],
            "all_facilities": "y",
        },
        "/staff/new",
    )
    assert national.status_code == 422
    assert fresh(db).query(Staff).filter_by(username="sneaky").count() == 0


def test_a_duplicate_user_name_gets_a_clear_error_on_the_form(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    browser = admin(admin_app, clock, world)
    response = browser.post(
        "/staff/new",
        {
            "username": "teacher",
            "name": "Another",
            "roles": ["teacher"],
            "facilities": [str(world.facility)],
        },
        "/staff/new",
    )
    assert response.status_code == 409
    assert "This user name is taken." in response.get_data(as_text=True)


def test_admin_changes_roles_resets_totp_and_deactivates(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    target = world.staff["teacher"].id
    saved = browser.post(
        f"/staff/{target}",
        {
            "name": "Tea Cher",
            "roles": ["teacher", "caseworker"],
            "facilities": [str(world.facility)],
        },
        f"/staff/{target}",
    )
    assert saved.status_code == 302
    assert load(db, Staff, target).roles == {Role.TEACHER, Role.CASEWORKER}
    browser.post(f"/staff/{target}/totp", form_page=f"/staff/{target}")
    assert load(db, Staff, target).totp_secret is None
    browser.post(f"/staff/{target}/active", {"active": "0"}, f"/staff/{target}")
    assert load(db, Staff, target).active is False
    own = world.staff["admin"].id
    refused = browser.post(f"/staff/{own}/active", {"active": "0"}, f"/staff/{own}")
    assert refused.status_code == 303
    assert load(db, Staff, own).active is True


def test_an_admin_creates_an_inmate_and_gets_the_first_pin_once(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    created = browser.post(
        "/inmates/new",
        {
            "booking_number": "2026-0500",
            "name": "Pat Doe",
            "unit": str(world.unit_b),
            "language": "sv",
        },
        "/inmates/new",
    )
    assert created.status_code == 201
    pin = re.search(r"<code>(\d{6})</code>", created.get_data(as_text=True)).group(1)
    row = fresh(db).query(Inmate).filter_by(booking_number="2026-0500").one()
    assert row.unit_id == world.unit_b
    assert pin not in (row.pin_hash or "")
    kiosk = Portal(kiosk_app, world.terminals["b1"][1])
    assert kiosk.sign_in("2026-0500", pin).status_code == 302
    page = browser.get(f"/inmates/{row.id}").get_data(as_text=True)
    assert pin not in page, "the PIN is shown once, never again"


def test_an_inmate_in_another_facilitys_unit_cannot_be_created(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    response = browser.post(
        "/inmates/new",
        {
            "booking_number": "2026-0501",
            "name": "X",
            "unit": str(world.unit_other),
            "language": "sv",
        },
        "/inmates/new",
    )
    assert response.status_code == 422
    assert fresh(db).query(Inmate).filter_by(booking_number="2026-0501").count() == 0


def test_release_and_unlock_from_the_inmate_page(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    person = world.inmates["2026-0002"]
    tablet = Portal(kiosk_app, world.terminals["a1"][1])
    tablet.sign_in(person.booking, person.pin)
    released = browser.post(
        f"/inmates/{person.id}/release", {"status": "released"}, f"/inmates/{person.id}"
    )
    assert released.status_code == 302
    assert load(db, Inmate, person.id).status is InmateStatus.RELEASED
    assert tablet.get("/").headers["Location"] == "/sign-in"


def test_terminals_are_enrolled_and_revoked_from_the_staff_app(
    admin_app: Flask, kiosk_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world, "security")
    created = browser.post(
        "/terminals/new", {"name": "Gym kiosk", "unit": str(world.unit_a)}, "/terminals/new"
    )
    assert created.status_code == 201
    code = re.search(
        r"<code>([0-9A-Z]{5}-[0-9A-Z]{5})</code>", created.get_data(as_text=True)
    ).group(1)
    device = Portal(kiosk_app)
    token = device.token("/terminal/enrol")
    assert (
        device.client.post("/terminal/enrol", data={"csrf_token": token, "code": code}).status_code
        == 302
    )
    terminal = fresh(db).query(Terminal).filter_by(name="Gym kiosk").one()
    assert terminal.is_enrolled
    browser.post(f"/terminals/{terminal.id}/revoke", form_page=f"/terminals/{terminal.id}")
    assert device.get("/sign-in").headers["Location"] == "/terminal/enrol"


def test_opening_hours_are_edited_per_weekday_with_clear_errors(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    browser = admin(admin_app, clock, world)
    days = {f"day{d}": "08:00-12:00, 13:00-20:00" for d in range(5)} | {
        "day5": "",
        "day6": "10:00-16:00",
    }
    saved = browser.post(f"/units/{world.unit_study}", days, f"/units/{world.unit_study}")
    assert saved.status_code == 302
    hours = places.load_hours(load(db, Unit, world.unit_study))
    assert places.format_day(hours[0]) == "08:00-12:00, 13:00-20:00"
    assert 5 not in hours or hours[5] == []
    bad = browser.post(
        f"/units/{world.unit_study}", {**days, "day2": "20:00-08:00"}, f"/units/{world.unit_study}"
    )
    assert bad.status_code == 422
    assert "close after it opens" in bad.get_data(as_text=True)
    garbage = browser.post(
        f"/units/{world.unit_study}", {**days, "day3": "all day"}, f"/units/{world.unit_study}"
    )
    assert garbage.status_code == 422
    assert (
        places.format_day(places.load_hours(load(db, Unit, world.unit_study))[2])
        == "08:00-12:00, 13:00-20:00"
    )


def test_only_national_admins_add_facilities(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    local = admin(admin_app, clock, world)
    assert local.get("/facilities/new").status_code == 403
    national = admin(admin_app, clock, world, "national")
    added = national.post(
        "/facilities/new",
        {"code": "kum", "name": "Kumla", "timezone": "Europe/Stockholm"},
        "/facilities/new",
    )
    assert added.status_code == 302
    assert "Kumla" in national.get("/units/").get_data(as_text=True)
