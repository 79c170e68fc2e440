"""Security headers on every response, error pages and static files included."""

from __future__ import annotations

from conftest import Portal, StaffBrowser, World
from flask import Flask

REQUIRED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def check(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in csp
    for outside in ("http:", "https:", "*"):
        assert outside not in csp, "nothing may load from outside the server"
    for name, value in REQUIRED.items():
        assert headers[name] == value, name


def test_portal_pages_carry_the_headers(portal: Portal, world: World) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    for path in (
        "/",
        "/account/",
        "/account/pin",
        "/no-such-page",
        "/static/css/kiosk.css",
        "/assets/ui.css",
        "/healthz",
    ):
        check(portal.get(path))
    check(portal.client.get("/sign-out"))  # 405


def test_signed_in_pages_are_never_cached(portal: Portal, world: World) -> None:
    person = world.inmates["2026-0001"]
    portal.sign_in(person.booking, person.pin)
    assert portal.get("/").headers["Cache-Control"] == "no-store"
    assert portal.get("/sign-in").headers["Cache-Control"] == "no-store"
    static = portal.get("/static/css/kiosk.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_staff_pages_carry_the_headers(staff_browser: StaffBrowser, world: World) -> None:
    staff_browser.sign_in(world.staff["admin"])
    for path in ("/", "/staff/", "/audit/", "/nothing-here", "/static/css/admin.css"):
        check(staff_browser.get(path))
    assert staff_browser.get("/").headers["Cache-Control"] == "no-store"


def test_the_portal_loads_nothing_from_outside(
    portal: Portal, world: World, kiosk_app: Flask
) -> None:
    person = world.inmates["2026-0001"]
    pages = [portal.get("/sign-in").get_data(as_text=True)]
    portal.sign_in(person.booking, person.pin)
    pages += [portal.get(p).get_data(as_text=True) for p in ("/", "/account/", "/account/pin")]
    pages.append(portal.get("/assets/ui.css").get_data(as_text=True))
    pages.append(portal.get("/static/css/kiosk.css").get_data(as_text=True))
    for html in pages:
        assert "http://" not in html
        assert "https://" not in html
        assert "//cdn" not in html
        assert "<script" not in html, "the portal needs no script"
        assert "@import" not in html
        assert "url(" not in html
