"""Bad input gets a 4xx and a clear page, never a 500 or a traceback, and changes nothing."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import Portal, StaffBrowser, World, fresh
from flask import Flask
from werkzeug.datastructures import MultiDict

from kiosk.clock import FrozenClock
from kiosk.models import AuditEvent, Facility, Inmate, Staff, Terminal, Unit

NASTY = [
    "",
    " ",
    "\x00",
    "abc\x00def",
    "\u202eevil",
    "x" * 5000,
    "'; DROP TABLE inmates; --",
    "<script>alert(1)</script>",
    "%00%0a%0d",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "١٢٣٤٥٦",
    "\uff11\uff12\uff13\uff14\uff15\uff16"  # full-width digits,
    "-1",
    "1e309",
    "99999999999999999999999999",
    "0x10",
    "null",
    "[]",
    "{}",
    "../../etc/passwd",
    "\r\nSet-Cookie: x=1",
]


def counts(db: Any) -> dict[str, int]:
    fresh(db)
    return {
        m.__name__: fresh(db).query(m).count() for m in (Inmate, Staff, Terminal, Unit, Facility)
    }


def post_fields(app: Flask) -> dict[str, list[str]]:
    """Every POST route of an app, with the field names its form would send."""
    fields = {
        "/sign-in": ["booking_number", "pin", "username", "password"],
        "/terminal/enrol": ["code"],
        "/account/pin": ["current_pin", "pin", "pin_again"],
        "/account/language": ["lang", "next"],
        "/account/": ["current_password", "password", "password_again"],
        "/sign-in/code": ["code"],
        "/staff/new": ["username", "name", "roles", "facilities", "all_facilities"],
        "/inmates/new": ["booking_number", "name", "unit", "language"],
        "/terminals/new": ["name", "unit"],
        "/units/new": ["facility", "code", "name", "hours"],
        "/facilities/new": ["code", "name", "timezone"],
        "/units/1": [f"day{d}" for d in range(7)],
        "/staff/1": ["name", "roles", "facilities", "all_facilities"],
        "/inmates/1/move": ["unit"],
        "/inmates/1/release": ["status"],
        "/terminals/1/certificate": ["fingerprint"],
        "/staff/2/active": ["active"],
    }
    paths = {
        r.rule.replace("<int:staff_id>", "1")
        .replace("<int:inmate_id>", "1")
        .replace("<int:terminal_id>", "1")
        .replace("<int:unit_id>", "1")
        for r in app.url_map.iter_rules()
        if "POST" in (r.methods or set())
    }
    return {p: fields[p] for p in paths if p in fields}


def fuzz(
    client: Any, token: str, paths: dict[str, list[str]], rounds: int
) -> list[tuple[str, int]]:
    rng = random.Random(20261122)
    seen = []
    for path, names in paths.items():
        for _ in range(rounds):
            data: list[tuple[str, str]] = [("csrf_token", token)]
            for name in names:
                for _ in range(rng.choice([0, 1, 1, 1, 2])):
                    data.append((name, rng.choice(NASTY)))
            response = client.post(path, data=MultiDict(data))
            seen.append((path, response.status_code))
            assert response.status_code < 500, (path, data, response.get_data(as_text=True)[:300])
            assert "Traceback" not in response.get_data(as_text=True)
    return seen


def test_the_portal_never_answers_malformed_forms_with_a_500(
    kiosk_app: Flask, world: World, db: Any
) -> None:
    before = counts(db)
    person = world.inmates["2026-0001"]
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    anonymous = fuzz(
        portal.client, portal.token("/sign-in"), {"/sign-in": ["booking_number", "pin"]}, 40
    )
    assert all(400 <= status < 500 for _, status in anonymous)
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    token = portal.token("/account/pin")
    fuzz(portal.client, token, post_fields(kiosk_app), 25)
    assert counts(db) == before
    unenrolled = Portal(kiosk_app)
    fuzz(unenrolled.client, unenrolled.token("/terminal/enrol"), {"/terminal/enrol": ["code"]}, 10)


def test_the_staff_app_never_answers_malformed_forms_with_a_500(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    before = counts(db)
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff["national"])
    fuzz(browser.client, browser.token("/staff/new"), post_fields(admin_app), 20)
    after = counts(db)
    assert after == before, "nothing malformed was saved"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe\xfa" * 100, "application/x-www-form-urlencoded"),
        (b"booking_number=%ff%fe&pin=%00%00", "application/x-www-form-urlencoded"),
        (b'{"booking_number": "2026-0001"}', "application/json"),
        (
            b'--x\r\nContent-Disposition: form-data; name="pin"\r\n\r\n1\r\n--x--',
            "multipart/form-data; boundary=x",
        ),
        (b"--x\r\ngarbage", "multipart/form-data; boundary=x"),
        (b"a=" + b"b" * (2 * 1024 * 1024), "application/x-www-form-urlencoded"),
    ],
)
def test_raw_garbage_bodies_get_a_4xx(portal: Portal, body: bytes, content_type: str) -> None:
    response = portal.client.post("/sign-in", data=body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_form_error_is_shown_on_the_same_page_translated(portal: Portal, world: World) -> None:
    token = portal.token("/sign-in")
    portal.client.post(
        "/account/language", data={"csrf_token": token, "lang": "en", "next": "/sign-in"}
    )
    english = portal.client.post(
        "/sign-in", data={"csrf_token": token, "booking_number": "", "pin": "12"}
    )
    assert english.status_code == 422
    html = english.get_data(as_text=True)
    assert "There is a problem" in html
    assert "Type your booking number." in html
    assert 'aria-invalid="true"' in html
    assert 'href="#booking_number"' in html
    portal.client.post(
        "/account/language", data={"csrf_token": token, "lang": "sv", "next": "/sign-in"}
    )
    swedish = portal.client.post(
        "/sign-in", data={"csrf_token": token, "booking_number": "", "pin": "12"}
    )
    assert swedish.status_code == 422
    assert "Det finns ett problem" in swedish.get_data(as_text=True)


def test_ids_that_are_not_numbers_are_404_not_500(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff["admin"])
    for path in (
        "/inmates/abc",
        "/inmates/-1",
        "/inmates/99999999999999999999999",
        "/staff/1.5",
        "/audit/?object_id=abc&since=notadate&before=-4&outcome=<x>",
        "/inmates/?page=-3",
        "/inmates/?page=99999999999999999999",
    ):
        response = browser.get(path)
        assert response.status_code in {200, 404}, path


def test_events_of_failures_are_kept_but_nothing_else(
    portal: Portal, world: World, db: Any
) -> None:
    before = fresh(db).query(AuditEvent).count()
    portal.sign_in("2026-0001", "\x00\x00\x00\x00\x00\x00")
    fresh(db)
    assert fresh(db).query(AuditEvent).count() == before, (
        "a malformed form never reaches the service"
    )
