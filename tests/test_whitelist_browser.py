"""The reader through Chromium: a hostile upstream page loads nothing from outside the portal,
and the reader's and the staff's whitelist pages pass axe-core's WCAG 2.1 A and AA rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from conftest import World
from flask import Flask
from playwright.sync_api import expect
from test_browser import axe_violations, browser, live, shot
from test_whitelist_library import make_zim
from test_whitelist_reader import connections, reader, upstream

from kiosk.clock import FrozenClock
from kiosk.models import Staff
from kiosk.security import totp
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor

pytestmark = pytest.mark.browser
__all__ = ["browser", "connections", "live", "reader", "upstream"]


def test_a_hostile_page_read_in_chromium_loads_nothing_from_outside_the_portal(
    browser: Any,
    live: tuple[str, str],
    world: World,
    reader: str,
    kiosk_app: Flask,
    db: Any,
) -> None:
    kiosk_url, _ = live
    folder = kiosk_app.extensions["kiosk"].settings.zim_folder
    folder.mkdir(parents=True, exist_ok=True)
    make_zim(folder / "wiki.zim")
    library = service.add_library(
        db,
        actor=Actor.system("test"),
        staff=db.get(Staff, world.staff["security"].id),
        folder=folder,
        file_name="wiki.zim",
        name="Test encyclopaedia",
        facility_id=world.facility,
        now=kiosk_app.extensions["kiosk"].clock.now(),
    )
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    context.add_cookies(
        [{"name": "kiosk_terminal", "value": world.terminals["a1"][1], "url": kiosk_url}]
    )
    page = context.new_page()
    outside: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(kiosk_url) else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{kiosk_url}/sign-in")
    person = world.inmates["2026-0001"]
    page.get_by_label("Booking number").fill(person.booking)
    page.get_by_label("PIN", exact=True).fill(person.pin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Learning sites").click()
    expect(page.get_by_role("heading", name="Learning sites")).to_be_visible()
    assert axe_violations(page) == []
    page.goto(f"{kiosk_url}/reader/view?url={quote(reader + 'index.html', safe='')}")
    expect(page.get_by_role("heading", name="Cells")).to_be_visible()
    expect(page.get_by_text("(not available)").first).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "reader-page")
    page.get_by_role("link", name="the next page").click()
    expect(page.get_by_role("heading", name="Other")).to_be_visible()
    page.goto(f"{kiosk_url}/reader/view?url={quote('https://evil.example/', safe='')}")
    expect(page.get_by_role("heading", name="This page is not available")).to_be_visible()
    assert axe_violations(page) == []
    page.goto(f"{kiosk_url}/library/{library.id}/search?q=chlorophyll")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Photosynthesis").click()
    expect(page.get_by_role("heading", name="Photosynthesis")).to_be_visible()
    assert axe_violations(page) == []
    assert outside == []
    assert dialogs == []
    context.close()


def test_the_staff_whitelist_pages_pass_axe(
    browser: Any, live: tuple[str, str], world: World, clock: FrozenClock
) -> None:
    _, admin_url = live
    member = world.staff["security"]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    page = context.new_page()
    page.goto(admin_url)
    page.get_by_label("User name").fill(member.username)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(totp.current_code(member.secret, clock.now()))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Whitelist").click()
    page.get_by_role("link", name="Propose a rule").click()
    page.get_by_label("Address prefix").fill("https://en.wikipedia.org./")
    page.get_by_label("Title inmates see").fill("Wikipedia")
    page.get_by_role("button", name="Propose").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert axe_violations(page) == []
    for path in (
        "/whitelist/",
        "/whitelist/try?url=https://x.example.org/&scope=f:" + str(world.facility),
        "/whitelist/visits",
        "/whitelist/requests",
        "/whitelist/libraries",
    ):
        page.goto(admin_url + path)
        assert axe_violations(page) == [], path
    context.close()
