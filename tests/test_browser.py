"""Through Debian's Chromium, as a person would: enrol a terminal, sign in, sign out;
staff sign in with a TOTP code; pages pass axe-core's WCAG 2.1 A and AA rules."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import World, load
from flask import Flask
from playwright.sync_api import expect
from werkzeug.serving import make_server

from kiosk.clock import FrozenClock
from kiosk.models import Unit
from kiosk.security import totp
from kiosk.services import audit as audit_service
from kiosk.services import terminals

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".test-artifacts"
AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MISSING = (
    "Debian's chromium is not installed: run `make test-deps` "
    "(apt-get install chromium chromium-driver)"
)


def _missing(message: str) -> None:
    # In CI a missing component is a failure, not a quiet skip.
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, from Debian's package (no browser download)."""
    if not os.path.exists(CHROMIUM):
        _missing(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def live(kiosk_app: Flask, admin_app: Flask) -> Iterator[tuple[str, str]]:
    """Both apps served on loopback ports, each in a thread."""
    servers = [make_server("127.0.0.1", 0, app, threaded=True) for app in (kiosk_app, admin_app)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield tuple(f"http://127.0.0.1:{s.server_port}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()


def axe_violations(page: Any) -> list[str]:
    """WCAG 2.1 A and AA violations axe-core finds on the page."""
    if not AXE.exists():
        _missing("axe-core is not installed: run `make test-deps` (npm ci --prefix tests/a11y)")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', "
        "values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['target']})"
        for v in result["violations"]
    ]


def shot(page: Any, name: str) -> None:
    """Keep a screenshot for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
def test_an_inmate_enrols_a_terminal_signs_in_and_out_in_chromium(
    browser: Any, live: tuple[str, str], world: World, db: Any, clock: FrozenClock, javascript: bool
) -> None:
    kiosk_url, _ = live
    unit = load(db, Unit, world.unit_a)
    _, code = terminals.create_terminal(
        db,
        actor=audit_service.Actor.system("test"),
        name="Cell A-104 tablet",
        unit=unit,
        now=clock.now(),
        code_hours=24,
    )
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1280, "height": 800}, locale="en-GB"
    )
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(kiosk_url) else None)

    page.goto(kiosk_url)
    assert page.url.endswith("/terminal/enrol")
    page.get_by_label("Enrolment code").fill(code)
    page.get_by_role("button", name="Set up terminal").click()
    page.wait_for_url("**/sign-in?enrolled=1")
    expect(page.get_by_text("This terminal is now set up.")).to_be_visible()

    person = world.inmates["2026-0001"]
    page.get_by_label("Booking number").fill(person.booking)
    page.get_by_label("PIN", exact=True).fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The booking number or PIN is not right")).to_be_visible()

    page.get_by_label("PIN", exact=True).fill(person.pin)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, Inmate 1")).to_be_visible()
    shot(page, f"inmate-home-{'js' if javascript else 'nojs'}")

    page.get_by_role("button", name="Svenska").click()
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()
    page.get_by_role("button", name="English").click()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    expect(page.get_by_text("You are signed out. Thank you.")).to_be_visible()
    assert outside == [], "the portal loads nothing from outside the server"
    context.close()


def test_the_portal_fits_a_1024x768_thin_client_and_passes_axe(
    browser: Any, live: tuple[str, str], world: World
) -> None:
    kiosk_url, _ = live
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="sv-SE")
    context.add_cookies(
        [{"name": "kiosk_terminal", "value": world.terminals["a1"][1], "url": kiosk_url}]
    )
    page = context.new_page()
    page.goto(f"{kiosk_url}/sign-in")
    assert axe_violations(page) == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1024, "no sideways scrolling"
    person = world.inmates["2026-0002"]
    page.get_by_label("Booking number").fill(person.booking)
    page.get_by_label("PIN", exact=True).fill(person.pin)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="My account")).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "inmate-home-1024x768")
    page.goto(f"{kiosk_url}/account/pin")
    page.get_by_role("button", name="Save my new PIN").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert axe_violations(page) == []
    for target in page.locator("button, a.button, a.tile, input").all():
        box = target.bounding_box()
        if box and target.is_visible():
            assert box["height"] >= 44, (
                f"touch target too small: {target.evaluate('e => e.outerHTML')}"
            )
    context.close()


def test_staff_sign_in_with_totp_in_chromium(
    browser: Any, live: tuple[str, str], world: World, clock: FrozenClock
) -> None:
    _, admin_url = live
    member = world.staff["admin"]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    page = context.new_page()
    page.goto(admin_url)
    assert "/sign-in" in page.url
    page.get_by_label("User name").fill(member.username)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(totp.current_code(member.secret, clock.now()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Welcome, Admin")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Inmates").click()
    page.get_by_role("link", name="2026-0001").click()
    page.get_by_role("button", name="Give a new PIN").click()
    expect(page.get_by_role("heading", name="New PIN for 2026-0001")).to_be_visible()
    pin = page.locator(".secret-box code").inner_text()
    assert len(pin) == 6
    assert pin.isdigit()
    for path in ("/staff/", "/terminals/", "/units/", "/audit/", "/account/", "/staff/new"):
        page.goto(admin_url + path)
        assert axe_violations(page) == [], path
    shot(page, "staff-new-account")
    context.close()
