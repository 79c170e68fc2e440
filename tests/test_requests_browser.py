"""Requests through Chromium: a dentist request from the cell to healthcare and back."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from request_helpers import RequestWorld, rworld
from test_browser import axe_violations, browser, live, shot

from kiosk.clock import FrozenClock
from kiosk.security import totp

pytestmark = pytest.mark.browser
__all__ = ["browser", "live", "rworld"]


def test_an_inmate_asks_for_a_dentist_and_healthcare_arranges_it_without_telling_when(
    browser: Any,
    live: tuple[str, str],
    rworld: RequestWorld,
    clock: FrozenClock,
    kiosk_app: Flask,
) -> None:
    kiosk_url, admin_url = live
    world = rworld.world
    inmate = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    inmate.add_cookies(
        [{"name": "kiosk_terminal", "value": world.terminals["a1"][1], "url": kiosk_url}]
    )
    cell = inmate.new_page()
    outside: list[str] = []
    cell.on("request", lambda r: outside.append(r.url) if not r.url.startswith(kiosk_url) else None)
    cell.goto(f"{kiosk_url}/sign-in")
    person = world.inmates["2026-0001"]
    cell.get_by_label("Booking number").fill(person.booking)
    cell.get_by_label("PIN", exact=True).fill(person.pin)
    cell.get_by_role("button", name="Sign in").click()
    cell.get_by_role("link", name="Requests").click()
    cell.get_by_role("link", name="Make a new request").click()
    assert axe_violations(cell) == []
    cell.get_by_role("link", name="See a dentist").click()
    # Sent empty first: clear errors on the same page.
    cell.get_by_role("button", name="Send the request").click()
    expect(cell.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert axe_violations(cell) == []
    cell.get_by_label("Describe your problem").fill("A back tooth hurts when I chew.")
    cell.get_by_label("No", exact=True).check()
    cell.get_by_role("button", name="Send the request").click()
    expect(cell.get_by_text("Your request is sent. Receipt number")).to_be_visible()
    expect(cell.get_by_text("November 30, 2026")).to_be_visible()
    assert axe_violations(cell) == []
    receipt = cell.locator("dd strong").first.inner_text()
    shot(cell, "request-sent")

    staff = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    desk = staff.new_page()
    nurse = rworld.staff["nurse"]
    desk.goto(admin_url)
    desk.get_by_label("User name").fill(nurse.username)
    desk.get_by_label("Password").fill(nurse.password)
    desk.get_by_role("button", name="Continue").click()
    desk.get_by_label("Code").fill(totp.current_code(nurse.secret, clock.now()))
    desk.get_by_role("button", name="Sign in").click()
    desk.get_by_role("navigation", name="Main menu").get_by_role("link", name="Requests").click()
    assert axe_violations(desk) == []
    desk.get_by_role("link", name=receipt).click()
    expect(desk.get_by_text("A back tooth hurts when I chew.")).to_be_visible()
    desk.get_by_label("Text", exact=True).first.fill("We have booked you with the dentist.")
    desk.get_by_role("button", name="Send the reply").click()
    expect(desk.get_by_text("The reply was sent to the inmate.")).to_be_visible()
    desk.get_by_label("Date", exact=True).fill("2026-12-03")
    desk.get_by_label("Time", exact=True).fill("13:45")
    desk.get_by_label("Place", exact=True).fill("Folktandvården Storgatan 4")
    desk.get_by_role("button", name="Record the appointment").click()
    expect(desk.get_by_text("Folktandvården Storgatan 4")).to_be_visible()
    assert axe_violations(desk) == []
    shot(desk, "request-staff-view")

    cell.reload()
    expect(cell.get_by_text("We have booked you with the dentist.")).to_be_visible()
    expect(cell.get_by_text("An appointment has been arranged")).to_be_visible()
    html = cell.content()
    for secret in ("Storgatan", "Folktandv", "13:45", "14:45", "December 3", "2026-12-03"):
        assert secret not in html
    shot(cell, "request-answered")
    assert outside == []
    inmate.close()
    staff.close()


def test_the_staff_request_pages_pass_axe(
    browser: Any, live: tuple[str, str], rworld: RequestWorld, clock: FrozenClock
) -> None:
    _, admin_url = live
    member = rworld.world.staff["national"]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    page = context.new_page()
    page.goto(admin_url)
    page.get_by_label("User name").fill(member.username)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(totp.current_code(member.secret, clock.now()))
    page.get_by_role("button", name="Sign in").click()
    for path in (
        "/requests/",
        "/requests/log",
        "/requests/admin/types",
        "/requests/admin/types/new",
        f"/requests/admin/types/{rworld.types['visit']}",
        "/requests/admin/supervisors",
        "/requests/admin/figures",
    ):
        page.goto(admin_url + path)
        assert axe_violations(page) == [], path
    shot(page, "request-figures")
    context.close()
