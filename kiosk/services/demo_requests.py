"""Demo requests: the catalogue, supervisors and a few requests in several states."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.models import Facility, Inmate, Role, Staff
from kiosk.models.requests import InmateRequest, RequestType, Status
from kiosk.security.crypto import Vault
from kiosk.services import requests as svc
from kiosk.services.audit import Actor


def load(session: Session, *, vault: Vault, now: dt.datetime, facility_code: str = "NRB") -> None:
    """Seed the catalogue and, once, a handful of requests for the demo inmates."""
    actor = Actor.system("kiosk demo")
    svc.seed_catalogue(session, actor=actor, now=now)
    facility = session.scalars(select(Facility).where(Facility.code == facility_code)).one()
    staff = {s.username: s for s in session.scalars(select(Staff).where(Staff.is_demo.is_(True)))}
    for role in (Role.HEALTHCARE, Role.CHAPLAIN, Role.OFFICER, Role.CASEWORKER, Role.COMMISSARY):
        if role.value in staff:
            svc.set_supervisor(
                session, actor=actor, role=role, facility=facility, staff=staff[role.value], now=now
            )
    if "admin" in staff:
        svc.set_supervisor(
            session, actor=actor, role=Role.ADMIN, facility=facility, staff=staff["admin"], now=now
        )
    inmates = {i.booking_number: i for i in session.scalars(select(Inmate))}
    alex, sam = inmates.get("2026-0001"), inmates.get("2026-0002")
    if alex is None or sam is None:
        return
    if session.scalar(select(InmateRequest.id).where(InmateRequest.inmate_id == alex.id).limit(1)):
        return  # made on an earlier run
    types = {t.code: t for t in session.scalars(select(RequestType))}
    earlier = now - dt.timedelta(days=9)

    def make(inmate: Inmate, code: str, answers: dict[str, str], when: dt.datetime) -> int:
        result = svc.submit(
            session,
            actor=Actor("inmate", inmate.id, inmate.booking_number, facility_id=inmate.facility_id),
            vault=vault,
            inmate=inmate,
            rtype=types[code],
            raw=answers,
            idempotency_key=None,
            now=when,
        )
        return result.request.id

    nurse = staff.get("healthcare")
    officer = staff.get("officer")
    caseworker = staff.get("caseworker")
    dentist = make(
        alex,
        "dentist",
        {"problem": "A tooth at the back aches when I eat.", "urgent": "no"},
        earlier,
    )
    if nurse is not None:
        svc.reply(
            session,
            actor=actor,
            vault=vault,
            staff=nurse,
            request_id=dentist,
            text="We will book you with the dentist. You will be told on the day.",
            now=earlier + dt.timedelta(days=1),
        )
        svc.arrange_appointment(
            session,
            actor=actor,
            vault=vault,
            staff=nurse,
            request_id=dentist,
            when=now + dt.timedelta(days=6, hours=2),
            place="Folktandvården Norrby, Storgatan 1",
            note_text="Escort: two officers.",
            now=earlier + dt.timedelta(days=2),
        )
    make(alex, "hairdresser", {"service": "cut"}, now - dt.timedelta(days=2))
    library = make(sam, "library", {"wish": "A Swedish grammar book, please."}, earlier)
    if officer is not None:
        svc.change_status(
            session,
            actor=actor,
            vault=vault,
            staff=officer,
            request_id=library,
            to=Status.ANSWERED,
            text="The book is on its way to your unit's shelf.",
            now=earlier + dt.timedelta(days=3),
        )
    work = make(sam, "work", {"wish": "The kitchen: I worked as a cook before."}, earlier)
    if caseworker is not None:
        svc.change_status(
            session,
            actor=actor,
            vault=vault,
            staff=caseworker,
            request_id=work,
            to=Status.REJECTED,
            text="The kitchen has no free place this month. Ask again in January.",
            now=earlier + dt.timedelta(days=4),
        )
        contact = make(
            alex,
            "contact_add",
            {"name": "Maria Andersson", "relation": "Sister", "number": "070-123 45 67"},
            now - dt.timedelta(days=1),
        )
        svc.change_status(
            session,
            actor=actor,
            vault=vault,
            staff=caseworker,
            request_id=contact,
            to=Status.WAITING,
            text="Is this a mobile or a home number?",
            now=now,
        )
    make(sam, "money", {"question": "Why was 50 kronor taken from my account last week?"}, earlier)
