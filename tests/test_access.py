"""Default deny: every route declares who may use it; a walk over both url_maps proves it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import Portal, StaffBrowser, World
from flask import Flask
from werkzeug.routing import IntegerConverter

from kiosk.clock import FrozenClock
from kiosk.web.access import rule_for

PORTAL_PUBLIC = {
    "static",
    "assets.static",
    "system.health",
    "system.timeout_css",
    "enrol.start",
    "account.language",
}
PORTAL_TERMINAL = {"auth.sign_in", "auth.sign_out"}
STAFF_PUBLIC = {
    "static",
    "assets.static",
    "system.health",
    "auth.sign_in",
    "auth.code",
    "auth.setup",
    "auth.new_password",
    "auth.sign_out",
    "account.language",
}


def concrete_paths(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every route, with 1 for each URL argument."""
    out = []
    for rule in app.url_map.iter_rules():
        values: dict[str, Any] = {
            arg: 1 if isinstance(conv, IntegerConverter) else "x"
            for arg, conv in rule._converters.items()
        }
        if "filename" in values:
            values["filename"] = "css/kiosk.css" if rule.endpoint == "static" else "ui.css"
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m, v=values: str(v[m.group(1)]), rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, path))
    return out


def test_every_portal_route_declares_an_audience(kiosk_app: Flask) -> None:
    declared = {
        rule.endpoint: rule_for(kiosk_app, rule.endpoint) for rule in kiosk_app.url_map.iter_rules()
    }
    assert all(declared.values()), [e for e, r in declared.items() if r is None]
    public = {e for e, r in declared.items() if r.audience == "public"}
    terminal = {e for e, r in declared.items() if r.audience == "terminal"}
    assert public == PORTAL_PUBLIC, "a new public route must be added here on purpose"
    assert terminal == PORTAL_TERMINAL


def test_every_staff_route_declares_an_audience(admin_app: Flask) -> None:
    declared = {
        rule.endpoint: rule_for(admin_app, rule.endpoint) for rule in admin_app.url_map.iter_rules()
    }
    assert all(declared.values()), [e for e, r in declared.items() if r is None]
    public = {e for e, r in declared.items() if r.audience == "public"}
    assert public == STAFF_PUBLIC, "a new public route must be added here on purpose"
    assert all(r.audience in {"public", "staff"} for r in declared.values())


@pytest.mark.parametrize("csrf", [True, False], ids=["csrf-on", "csrf-off"])
def test_anonymous_visitors_are_refused_everywhere_in_the_portal(
    kiosk_app: Flask, world: World, csrf: bool
) -> None:
    kiosk_app.config["WTF_CSRF_ENABLED"] = csrf
    nobody = kiosk_app.test_client()
    on_terminal = Portal(kiosk_app, world.terminals["a1"][1]).client
    for endpoint, method, path in concrete_paths(kiosk_app):
        if endpoint in PORTAL_PUBLIC:
            continue
        response = nobody.open(path, method=method)
        if endpoint == "auth.sign_out" and response.status_code == 303:
            # Signing out without a session (its CSRF token gone) just shows the sign-in page.
            assert response.headers["Location"] == "/sign-in"
            continue
        assert response.status_code in {302, 400, 404, 405}, (
            endpoint,
            method,
            response.status_code,
        )
        if response.status_code == 302:
            assert response.headers["Location"] == "/terminal/enrol", endpoint
        if endpoint in PORTAL_TERMINAL:
            continue
        signed_out = on_terminal.open(path, method=method)
        assert signed_out.status_code in {302, 400, 404, 405}, (endpoint, method)
        if signed_out.status_code == 302:
            assert signed_out.headers["Location"] == "/sign-in", endpoint


@pytest.mark.parametrize("csrf", [True, False], ids=["csrf-on", "csrf-off"])
def test_anonymous_visitors_are_refused_everywhere_in_the_staff_app(
    admin_app: Flask, world: World, csrf: bool
) -> None:
    admin_app.config["WTF_CSRF_ENABLED"] = csrf
    nobody = admin_app.test_client()
    for endpoint, method, path in concrete_paths(admin_app):
        if endpoint in STAFF_PUBLIC:
            continue
        response = nobody.open(path, method=method)
        assert response.status_code in {302, 400, 404, 405}, (
            endpoint,
            method,
            response.status_code,
        )
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/sign-in"), endpoint


def test_staff_without_the_role_are_refused_everywhere(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    """A teacher (no staff, inmate, terminal or audit rights) is refused every such page."""
    admin_app.config["WTF_CSRF_ENABLED"] = False
    teacher = StaffBrowser(admin_app, clock)
    teacher.sign_in(world.staff["teacher"])
    allowed = {
        "dashboard.index",
        "account.index",
        "account.end_session",
        "account.recovery_codes",
        "inmates.index",
        "inmates.show",
        # Teachers propose whitelist rules (a second person approves them).
        "whitelist.index",
        "whitelist.new",
        "whitelist.show",
        "whitelist.try_url",
        "whitelist.requests",
        "whitelist.libraries",
        "whitelist.close",
        "whitelist.expiry",
        "whitelist.decline",
        # Learning: teachers hold COURSE_MANAGE and CERTIFICATE_CHECK (course pages of an
        # id that does not exist answer 404, which the walk accepts anyway).
        "courses.index",
        "courses.new",
        "courses.import_course",
        "courses.learner",  # inmate 1 is in the teacher's facility
        "certificates.check",
    }
    for endpoint, method, path in concrete_paths(admin_app):
        rule = rule_for(admin_app, endpoint)
        if rule.audience == "public" or endpoint in allowed:
            continue
        response = teacher.client.open(path, method=method)
        assert response.status_code in {403, 404, 405}, (endpoint, method, response.status_code)


def test_an_admin_of_another_facility_gets_404_for_our_objects(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    outsider = StaffBrowser(admin_app, clock)
    outsider.sign_in(world.staff["otheradmin"])
    ours = world.inmates["2026-0001"].id
    assert outsider.get(f"/inmates/{ours}").status_code == 404
    assert outsider.post(f"/inmates/{ours}/pin").status_code == 404
    assert outsider.get(f"/terminals/{world.terminals['a1'][0]}").status_code == 404
    assert outsider.get(f"/staff/{world.staff['teacher'].id}").status_code == 404
    theirs = world.inmates["2026-0009"].id
    assert outsider.get(f"/inmates/{theirs}").status_code == 200
    listing = outsider.get("/inmates/?status=all").get_data(as_text=True)
    assert "2026-0009" in listing
    assert "2026-0001" not in listing


def test_an_officer_may_issue_pins_but_not_release(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    officer = StaffBrowser(admin_app, clock)
    officer.sign_in(world.staff["officer"])
    target = world.inmates["2026-0001"].id
    assert officer.post(f"/inmates/{target}/pin", form_page=f"/inmates/{target}").status_code == 200
    refused = officer.post(
        f"/inmates/{target}/release", {"status": "released"}, form_page=f"/inmates/{target}"
    )
    assert refused.status_code == 403


def test_nonexistent_objects_answer_404(admin_app: Flask, clock: FrozenClock, world: World) -> None:
    admin = StaffBrowser(admin_app, clock)
    admin.sign_in(world.staff["admin"])
    for path in ("/inmates/99999", "/staff/99999", "/terminals/99999", "/units/99999"):
        assert admin.get(path).status_code == 404, path


def test_no_route_changes_state_on_get(kiosk_app: Flask, admin_app: Flask) -> None:
    """Every GET route is a page or a file: state changes are POST-only by construction."""
    get_only = {
        "home.index",
        "account.index",
        "dashboard.index",
        "staff.index",
        "inmates.index",
        "terminals.index",
        "places.units",
        "audit.index",
        "audit.verify",
        "system.health",
        "system.timeout_css",
        "inmates.show",
        "terminals.show",
        "requests.index",
        "requests.choose",
        "requests.show",
        "requests.print_reply",
        "requests.contacts",
        "requests.contacts_csv",
        "request_types.index",
        "request_types.figures",
        "static",
        "assets.static",
        # Whitelist reader: these log the visit (like an audit event of a read), nothing else.
        "reader.index",
        "reader.view",
        "reader.image",
        "library.home",
        "library.search",
        "library.article",
        "whitelist.index",
        "whitelist.show",
        "whitelist.try_url",
        "whitelist.visits",
        "whitelist.requests",
        "whitelist.libraries",
        # commissary (issue 4)
        "shop.index",
        "shop.cart",
        "shop.orders",
        "shop.order",
        "shop.picture",
        "money.index",
        "commissary.index",
        "commissary.order",
        "commissary.pick_list",
        "commissary.report",
        "commissary.products",
        "commissary.picture",
        "accounts.index",
        "accounts.show",
        "accounts.proposals",
        # Learning (certificates.check records the check in the audit trail, nothing else)
        "learning.index",
        "learning.course",
        "learning.lesson",
        "learning.media",
        "learning.submission_file",
        "learning.progress",
        "learning.certificate",
        "courses.index",
        "courses.show",
        "courses.preview_lesson",
        "courses.media",
        "courses.learners",
        "courses.submission_file",
        "courses.progress",
        "courses.export",
        "courses.learner",
        "certificates.check",
        "certificates.show",
    }
    posting = {
        "auth.sign_out",
        "account.language",
        "account.end_session",
        "account.recovery_codes",
        "staff.reset_password",
        "staff.reset_totp",
        "staff.set_active",
        "staff.unlock",
        "staff.end_all_sessions",
        "inmates.issue_pin",
        "inmates.unlock",
        "inmates.release",
        "inmates.move",
        "inmates.end_all_sessions",
        "terminals.code",
        "terminals.revoke",
        "terminals.unlock",
        "terminals.certificate",
        "reader.ask",
        "whitelist.approve",
        "whitelist.close",
        "whitelist.expiry",
        "whitelist.decline",
        "whitelist.add_library",
        "whitelist.library_state",
        # commissary (issue 4)
        "shop.add",
        "shop.update",
        "shop.remove",
        "shop.place",
        "shop.cancel",
        "commissary.pack",
        "commissary.deliver",
        "commissary.reject",
        "commissary.add_restriction",
        "commissary.remove_restriction",
        "commissary.end_stop",
        "accounts.propose",
        "accounts.limit",
        "accounts.approve",
        "accounts.reject",
        "requests.add_info",
        "requests.withdraw",
        "requests.reply",
        "requests.note",
        "requests.change_status",
        "requests.forward",
        "requests.appointment",
        "requests.name_staff",
        "learning.join",
        "learning.mark_read",
        "learning.reading",
        "courses.publish",
        "courses.add_module",
        "courses.enrol",
        "courses.enrol_class",
        "courses.decide",
        "courses.withdraw",
        "courses.add_question",
        "courses.delete_question",
        "courses.certificate",
        "courses.move_lesson",
        "courses.delete_part",
        "courses.delete_module",
        "certificates.revoke",
        "courses.move_module",
    }
    for app in (kiosk_app, admin_app):
        for rule in app.url_map.iter_rules():
            methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
            if rule.endpoint in posting:
                assert methods == {"POST"}, rule
            elif methods == {"GET"}:
                assert rule.endpoint in get_only, f"{rule.endpoint}: is this GET free of changes?"
