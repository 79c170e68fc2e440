"""Shared helpers of the request tests: the catalogue, request staff, and making requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import Portal, StaffBrowser, StaffMember, World, add_staff
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import Inmate, RequestType, Role
from kiosk.services import requests as svc
from kiosk.services.audit import Actor

_IDEM = re.compile(r'name="idem" type="hidden" value="([^"]+)"|name="idem" value="([^"]+)"')


@dataclass
class RequestWorld:
    """The world plus the catalogue and staff who handle requests."""

    world: World
    types: dict[str, int]
    staff: dict[str, StaffMember]


@pytest.fixture
def rworld(kiosk_app: Flask, clock: FrozenClock, world: World) -> RequestWorld:
    """The shipped catalogue, and healthcare, chaplain, caseworker, commissary staff in NRB."""
    state = kiosk_app.extensions["kiosk"]
    now = clock.now()
    staff = dict(world.staff)
    with kiosk_app.app_context(), state.database.session() as session:
        svc.seed_catalogue(session, actor=Actor.system("test"), now=now)
        types = {t.code: t.id for t in session.query(RequestType)}
        for username, role in (
            ("nurse", Role.HEALTHCARE),
            ("nurse2", Role.HEALTHCARE),
            ("chaplain", Role.CHAPLAIN),
            ("caseworker", Role.CASEWORKER),
            ("commissary", Role.COMMISSARY),
        ):
            staff[username] = add_staff(session, state, username, [role], [world.facility], now)
        staff["othernurse"] = add_staff(
            session, state, "othernurse", [Role.HEALTHCARE], [world.other_facility], now
        )
    return RequestWorld(world, types, staff)


def signed_in(app: Flask, world: World, booking: str = "2026-0001", terminal: str = "a1") -> Portal:
    """A portal browser with the inmate signed in."""
    portal = Portal(app, world.terminals[terminal][1])
    person = world.inmates[booking]
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    return portal


def staff_in(app: Flask, clock: FrozenClock, rw: RequestWorld, who: str) -> StaffBrowser:
    """A staff browser signed in as ``who``."""
    browser = StaffBrowser(app, clock)
    browser.sign_in(rw.staff[who])
    return browser


def idem_of(html: str) -> str:
    """The idempotency key of a request form."""
    match = _IDEM.search(html)
    assert match, "no idempotency key in the form"
    return match.group(1) or match.group(2)


def ask(portal: Portal, type_id: int, answers: dict[str, str], idem: str | None = None) -> Any:
    """Open a type's form and post it (with its own idempotency key unless given)."""
    page = portal.get(f"/requests/new/{type_id}")
    assert page.status_code == 200
    key = idem or idem_of(page.get_data(as_text=True))
    data = {"idem": key, **{f"f_{k}": v for k, v in answers.items()}}
    return portal.post(f"/requests/new/{type_id}", data, form_page=f"/requests/new/{type_id}")


def make_request(
    session: Any,
    vault: Any,
    inmate_id: int,
    type_id: int,
    answers: dict[str, str],
    now: Any,
) -> int:
    """A request made directly through the service; its id."""
    inmate = session.get(Inmate, inmate_id)
    rtype = session.get(RequestType, type_id)
    actor = Actor("inmate", inmate.id, inmate.booking_number, facility_id=inmate.facility_id)
    result = svc.submit(
        session,
        actor=actor,
        vault=vault,
        inmate=inmate,
        rtype=rtype,
        raw=answers,
        idempotency_key=None,
        now=now,
    )
    return int(result.request.id)


DENTIST = {"problem": "A tooth aches when I eat.", "urgent": "no"}
NURSE = {"problem": "Headache every morning.", "urgent": "yes"}
