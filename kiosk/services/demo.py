"""Demo data: one facility, units, terminals, inmates and a staff member of every role.

Only for trying the product. It refuses to touch a database that holds real
data, and every account it makes is marked as a demo account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.models import (
    Facility,
    Inmate,
    InmateStatus,
    PinThrottle,
    Role,
    Staff,
    StaffFacility,
    StaffRole,
    SystemFlag,
    Terminal,
    Unit,
)
from kiosk.security import totp
from kiosk.security.crypto import Vault
from kiosk.security.passwords import SecretHasher
from kiosk.services import (
    audit,
    demo_commissary,
    demo_learning,
    demo_requests,
    demo_whitelist,
    places,
    terminals,
)
from kiosk.services.audit import Actor

DEMO_FLAG = "demo"
DEMO_PASSWORD = "demo-passphrase-2026"  # noqa: S105 - printed for the demo on purpose
FACILITY = ("NRB", "Norrby prison")
UNITS = [
    ("A", "Unit A", "00:00-24:00"),
    ("B", "Unit B", "00:00-24:00"),
    ("S", "Study room", "07:00-21:00"),
]
INMATES = [
    ("2026-0001", "Alex Andersson", "A", "sv", "482916"),
    ("2026-0002", "Sam Berg", "A", "en", "730152"),
    ("2026-0003", "Kim Carlsson", "B", "sv", "561094"),
    ("2026-0004", "Robin Dahl", "S", "sv", "915372"),
]
TERMINALS = [("Demo tablet A1", "A"), ("Corridor kiosk B", "B"), ("Study room PC 1", "S")]
STAFF_NAMES = {
    Role.ADMIN: "Ada Admin",
    Role.SECURITY: "Sigge Security",
    Role.OFFICER: "Olle Officer",
    Role.HEALTHCARE: "Hanna Nurse",
    Role.CHAPLAIN: "Carl Chaplain",
    Role.COMMISSARY: "Cecilia Commissary",
    Role.TEACHER: "Tove Teacher",
    Role.CASEWORKER: "Kalle Caseworker",
    Role.AUDITOR: "Agnes Auditor",
}


class NotADemoDatabase(DomainError):
    """The database holds data that the demo did not make."""


@dataclass
class DemoResult:
    """What the demo made, for printing the sign-in steps."""

    enrolment_code: str
    terminal_name: str
    inmates: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)


def is_demo(session: Session) -> bool:
    """True when this database was set up by ``kiosk demo``."""
    flag = session.get(SystemFlag, DEMO_FLAG)
    return flag is not None and flag.value == "true"


def _has_real_data(session: Session) -> bool:
    real_staff = session.scalar(select(Staff.id).where(Staff.is_demo.is_(False)).limit(1))
    other_facility = session.scalar(
        select(Facility.id).where(Facility.code != FACILITY[0]).limit(1)
    )
    return real_staff is not None or other_facility is not None


def load(
    session: Session,
    *,
    hasher: SecretHasher,
    vault: Vault,
    now: dt.datetime,
    force: bool = False,
) -> DemoResult:
    """Create the demo data where missing, reset demo PINs and locks, issue an enrolment code."""
    actor = Actor.system("kiosk demo")
    if not is_demo(session) and _has_real_data(session) and not force:
        raise NotADemoDatabase(
            "this database holds data that kiosk demo did not make; use --force to add demo data"
        )
    with unit_of_work(session):
        if session.get(SystemFlag, DEMO_FLAG) is None:
            session.add(SystemFlag(key=DEMO_FLAG, value="true"))
        facility = session.scalars(select(Facility).where(Facility.code == FACILITY[0])).first()
        if facility is None:
            facility = places.create_facility(
                session,
                actor=actor,
                code=FACILITY[0],
                name=FACILITY[1],
                timezone="Europe/Stockholm",
                now=now,
            )
        units: dict[str, Unit] = {}
        for code, name, hours in UNITS:
            unit = session.scalars(
                select(Unit).where(Unit.facility_id == facility.id, Unit.code == code)
            ).first()
            if unit is None:
                unit = places.create_unit(
                    session,
                    actor=actor,
                    facility=facility,
                    code=code,
                    name=name,
                    hours=places.every_day(hours),
                    now=now,
                )
            units[code] = unit

        result_inmates = []
        for booking, name, unit_code, lang, pin in INMATES:
            inmate = session.scalars(select(Inmate).where(Inmate.booking_number == booking)).first()
            if inmate is None:
                inmate = Inmate(
                    booking_number=booking,
                    name=name,
                    facility_id=facility.id,
                    unit_id=units[unit_code].id,
                    preferred_language=lang,
                    created_at=now,
                )
                session.add(inmate)
            # Known PINs, reset on every run, so the demo always signs in.
            inmate.status = InmateStatus.ACTIVE
            inmate.left_at = None
            inmate.pin_hash = hasher.hash_pin(pin)
            inmate.pin_set_at = now
            inmate.pin_issued = False
            inmate.failed_sign_ins = 0
            inmate.hard_locked_at = None
            session.flush()
            for throttle in session.scalars(
                select(PinThrottle).where(PinThrottle.inmate_id == inmate.id)
            ):
                session.delete(throttle)
            audit.record(session, "demo.inmate", actor=actor, obj=inmate, at=now)
            result_inmates.append((booking, pin, name, units[unit_code].name, lang))

        staff_names = []
        for role, name in STAFF_NAMES.items():
            username = role.value
            staff = session.scalars(select(Staff).where(Staff.username == username)).first()
            if staff is None:
                staff = Staff(
                    username=username,
                    name=name,
                    password_hash=hasher.hash_password(DEMO_PASSWORD),
                    must_change_password=False,
                    totp_secret=vault.encrypt(totp.new_secret()),
                    totp_confirmed_at=now,
                    all_facilities=role is Role.ADMIN,
                    is_demo=True,
                    created_at=now,
                    role_rows=[StaffRole(role=role)],
                    facility_rows=[StaffFacility(facility_id=facility.id)],
                )
                session.add(staff)
                session.flush()
                audit.record(session, "demo.staff", actor=actor, obj=staff, at=now)
            else:
                staff.active = True
                staff.failed_sign_ins = 0
                staff.locked_until = None
                staff.hard_locked_at = None
            staff_names.append(username)

        terminal_rows: dict[str, Terminal] = {}
        for name, unit_code in TERMINALS:
            term = session.scalars(
                select(Terminal).where(
                    Terminal.name == name, Terminal.unit_id == units[unit_code].id
                )
            ).first()
            if term is None:
                term, _code = terminals.create_terminal(
                    session, actor=actor, name=name, unit=units[unit_code], now=now, code_hours=24
                )
            term.locked_until = None
            terminal_rows[name] = term
        demo_commissary.load(session, actor=actor, facility=facility, units=units, now=now)
        first = terminal_rows[TERMINALS[0][0]]
        code = terminals.issue_enrolment_code(
            session, actor=actor, terminal=first, now=now, code_hours=24
        )
    demo_requests.load(session, vault=vault, now=now)  # requests (issue 5)
    demo_learning.load(session, now=now)  # courses, lessons, a quiz, learners (learning area)
    demo_whitelist.load(session, now=now)  # learning sites, a request, an offline library
    return DemoResult(
        enrolment_code=code, terminal_name=first.name, inmates=result_inmates, staff=staff_names
    )


def totp_code_for(
    session: Session, *, vault: Vault, username: str, now: dt.datetime
) -> tuple[str, str, int]:
    """A code that signs a demo account in now, its otpauth URI, and seconds it stays valid."""
    if not is_demo(session):
        raise NotADemoDatabase("this is not a demo database")
    staff = session.scalars(select(Staff).where(Staff.username == username.lower())).first()
    if staff is None or not staff.is_demo or staff.totp_secret is None:
        raise NotADemoDatabase(f"{username} is not a demo account")
    secret = vault.decrypt(staff.totp_secret)
    step = totp.step_at(now)
    if staff.totp_last_step is not None and staff.totp_last_step >= step:
        # This step's code was used already (replays are refused): give the next one,
        # which the server accepts too (one step of clock drift is allowed).
        step = staff.totp_last_step + 1
    remaining = (step + 1) * totp.STEP_SECONDS - int(now.timestamp())
    uri = totp.provisioning_uri(secret, staff.username, "Kiosk demo")
    return totp.code_at(secret, step), uri, max(remaining, 0)
