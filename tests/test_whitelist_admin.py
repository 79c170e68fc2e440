"""The whitelist in the staff app: propose, approve by a second person, try, visits, requests."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import START, StaffBrowser, World, audit_actions, fresh
from flask import Flask
from sqlalchemy import select

from kiosk.clock import FrozenClock
from kiosk.models import (
    Inmate,
    RuleStatus,
    SiteRequest,
    SiteRequestStatus,
    Staff,
    VisitVerdict,
    WhitelistRule,
)
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor

ACTOR = Actor.system("test")


def _browser(admin_app: Flask, clock: FrozenClock, world: World, who: str) -> StaffBrowser:
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff[who])
    return browser


def _rules(db: Any) -> list[WhitelistRule]:
    return list(fresh(db).scalars(select(WhitelistRule).order_by(WhitelistRule.id)))


def _propose_form(browser: StaffBrowser, world: World, **extra: str) -> Any:
    data = {
        "prefix": "https://en.wikipedia.org/",
        "title": "Wikipedia",
        "scope": f"f:{world.facility}",
        "note": "Encyclopaedia",
        **extra,
    }
    return browser.post("/whitelist/new", data, form_page="/whitelist/new")


def test_a_teacher_proposes_and_security_approves_a_rule(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    teacher = _browser(admin_app, clock, world, "teacher")
    response = _propose_form(teacher, world)
    assert response.status_code == 303
    (rule,) = _rules(db)
    assert rule.status is RuleStatus.PROPOSED
    page = teacher.get(f"/whitelist/{rule.id}").get_data(as_text=True)
    assert "You proposed this rule: someone else must approve it." in page
    assert teacher.post(f"/whitelist/{rule.id}/approve", {}, "/whitelist/").status_code == 403
    security = _browser(admin_app, clock, world, "security")
    approved = security.post(f"/whitelist/{rule.id}/approve", {}, f"/whitelist/{rule.id}")
    assert approved.status_code == 303
    assert _rules(db)[0].status is RuleStatus.APPROVED
    assert "In force" in security.get("/whitelist/").get_data(as_text=True)


def test_the_proposer_is_told_on_the_page_that_someone_else_must_approve(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    security = _browser(admin_app, clock, world, "security")
    _propose_form(security, world)
    (rule,) = _rules(db)
    page = security.post(f"/whitelist/{rule.id}/approve", {}, f"/whitelist/{rule.id}")
    assert page.status_code == 409
    assert "Someone other than the proposer must approve a rule." in page.get_data(as_text=True)
    assert _rules(db)[0].status is RuleStatus.PROPOSED


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("https://en.wikipedia.org./", "The host name ends with a dot."),
        ("https://10.0.0.1/", "The host is a numeric IP address."),
        ("https://user@en.wikipedia.org/", "user name or an @"),
        ("https://en.wikipedia.org:8443/", "port"),
    ],
)
def test_a_hostile_prefix_is_refused_on_the_same_page_with_the_reason(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any, prefix: str, message: str
) -> None:
    teacher = _browser(admin_app, clock, world, "teacher")
    page = _propose_form(teacher, world, prefix=prefix)
    assert page.status_code == 422
    assert message in page.get_data(as_text=True)
    assert _rules(db) == []


def test_a_scope_outside_the_staff_members_facilities_is_not_offered_or_accepted(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    teacher = _browser(admin_app, clock, world, "teacher")
    form = teacher.get("/whitelist/new").get_data(as_text=True)
    assert f'value="f:{world.other_facility}"' not in form
    assert 'value="national"' not in form
    page = _propose_form(teacher, world, scope=f"f:{world.other_facility}")
    assert page.status_code == 422
    assert _rules(db) == []


def test_staff_without_whitelist_rights_cannot_open_it(
    admin_app: Flask, clock: FrozenClock, world: World
) -> None:
    officer = _browser(admin_app, clock, world, "officer")
    assert officer.get("/whitelist/").status_code == 403
    assert "/whitelist/" not in officer.get("/").get_data(as_text=True)


def test_a_rule_of_another_facility_is_not_found(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    other = db.get(Staff, world.staff["otheradmin"].id)
    rule = service.propose_rule(
        db,
        actor=ACTOR,
        staff=other,
        prefix="https://sv.wikipedia.org/",
        title="Wikipedia sv",
        facility_id=world.other_facility,
        now=START,
    )
    security = _browser(admin_app, clock, world, "security")
    assert security.get(f"/whitelist/{rule.id}").status_code == 404
    assert security.post(f"/whitelist/{rule.id}/approve", {}, "/whitelist/").status_code == 404
    assert "sv.wikipedia.org" not in security.get("/whitelist/").get_data(as_text=True)


def test_a_national_rule_is_visible_to_local_staff_but_they_cannot_change_it(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    national = db.get(Staff, world.staff["national"].id)
    rule = service.propose_rule(
        db,
        actor=ACTOR,
        staff=national,
        prefix="https://www.1177.se/",
        title="1177",
        facility_id=None,
        now=START,
    )
    security = _browser(admin_app, clock, world, "security")
    assert "Every facility (national)" in security.get(f"/whitelist/{rule.id}").get_data(
        as_text=True
    )
    assert security.post(f"/whitelist/{rule.id}/close", {}, "/whitelist/").status_code == 404
    assert _rules(db)[0].status is RuleStatus.PROPOSED


def test_disabling_and_expiring_a_rule_from_its_page(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    teacher = _browser(admin_app, clock, world, "teacher")
    _propose_form(teacher, world)
    (rule,) = _rules(db)
    security = _browser(admin_app, clock, world, "security")
    security.post(f"/whitelist/{rule.id}/approve", {}, f"/whitelist/{rule.id}")
    past = security.post(
        f"/whitelist/{rule.id}/expiry", {"expires_on": "2020-01-01"}, f"/whitelist/{rule.id}"
    )
    assert past.status_code == 422
    assert "The expiry date must lie in the future." in past.get_data(as_text=True)
    saved = security.post(
        f"/whitelist/{rule.id}/expiry", {"expires_on": "2026-12-31"}, f"/whitelist/{rule.id}"
    )
    assert saved.status_code == 303
    assert _rules(db)[0].expires_at is not None
    closed = teacher.post(f"/whitelist/{rule.id}/close", {}, f"/whitelist/{rule.id}")
    assert closed.status_code == 303
    assert _rules(db)[0].status is RuleStatus.DISABLED


def test_trying_an_address_explains_why_it_is_refused_or_allowed(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    teacher = db.get(Staff, world.staff["teacher"].id)
    rule = service.propose_rule(
        db,
        actor=ACTOR,
        staff=teacher,
        prefix="https://www.khanacademy.org/math/",
        title="Khan Academy maths",
        facility_id=world.facility,
        now=START,
    )
    service.approve_rule(
        db, actor=ACTOR, staff=db.get(Staff, world.staff["security"].id), rule_id=rule.id, now=START
    )
    security = _browser(admin_app, clock, world, "security")
    scope = f"f:{world.facility}"
    refused = security.get(
        f"/whitelist/try?scope={scope}&url=https://www.khanacademy.org/math/%252e%252e/admin"
    ).get_data(as_text=True)
    assert "Refused" in refused
    assert "The path contains . or .. segments." in refused
    allowed = security.get(
        f"/whitelist/try?scope={scope}&url=https://WWW.khanacademy.org:443/math/algebra"
    ).get_data(as_text=True)
    assert "Allowed" in allowed
    assert "https://www.khanacademy.org/math/algebra" in allowed
    outside = security.get(f"/whitelist/try?scope=f:{world.other_facility}&url=https://x.org/")
    assert outside.status_code == 404


def _visit(db: Any, world: World, booking: str, url: str, reason: str = "no_rule") -> None:
    inmate = db.get(Inmate, world.inmates[booking].id)
    service.record_visit(
        db,
        inmate=inmate,
        terminal_id=None,
        url=url,
        verdict=VisitVerdict.REFUSED,
        reason=reason,
        now=START,
    )


def test_visits_and_refusal_counts_are_shown_within_scope_only(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    _visit(db, world, "2026-0001", "https://chat.example.org/room")
    _visit(db, world, "2026-0001", "https://chat.example.org/other")
    _visit(db, world, "2026-0009", "https://elsewhere.example.org/")
    security = _browser(admin_app, clock, world, "security")
    page = security.get("/whitelist/visits").get_data(as_text=True)
    assert "https://chat.example.org/room" in page
    assert "chat.example.org" in page
    assert "No rule allows this address." in page
    assert "elsewhere.example.org" not in page
    dashboard = security.get("/").get_data(as_text=True)
    assert "whitelist refusals in the last 24 hours" in dashboard
    assert "whitelist.visits_read" in audit_actions(db)


def test_staff_see_a_request_with_the_refused_urls_behind_it_and_can_decline(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    _visit(db, world, "2026-0001", "https://www.khanacademy.org/science/biology")
    inmate = db.get(Inmate, world.inmates["2026-0001"].id)
    request_row, _ = service.ask_for_site(
        db,
        actor=ACTOR,
        inmate=inmate,
        url="https://www.khanacademy.org/science/",
        reason="Biology course",
        now=START,
    )
    security = _browser(admin_app, clock, world, "security")
    page = security.get("/whitelist/requests").get_data(as_text=True)
    assert "Biology course" in page
    assert "https://www.khanacademy.org/science/biology" in page
    form = security.get(f"/whitelist/new?request={request_row.id}").get_data(as_text=True)
    assert 'value="https://www.khanacademy.org/science/"' in form
    declined = security.post(
        f"/whitelist/requests/{request_row.id}/decline",
        {"answer": "Use the library instead."},
        "/whitelist/requests",
    )
    assert declined.status_code == 303
    row = fresh(db).get(SiteRequest, request_row.id)
    assert row.status is SiteRequestStatus.DECLINED
    assert row.answer == "Use the library instead."


def test_proposing_from_a_request_marks_the_request(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    inmate = db.get(Inmate, world.inmates["2026-0001"].id)
    request_row, _ = service.ask_for_site(
        db,
        actor=ACTOR,
        inmate=inmate,
        url="https://www.khanacademy.org/science/",
        reason="Biology",
        now=START,
    )
    teacher = _browser(admin_app, clock, world, "teacher")
    response = _propose_form(
        teacher,
        world,
        prefix="https://www.khanacademy.org/science/",
        site_request=str(request_row.id),
    )
    assert response.status_code == 303
    assert fresh(db).get(SiteRequest, request_row.id).status is SiteRequestStatus.PROPOSED
    assert _rules(db)[0].site_request_id == request_row.id
