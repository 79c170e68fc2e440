"""Facilities, units and the kiosk's opening hours."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import Facility, Unit
from kiosk.services import audit
from kiosk.services.audit import Actor

WEEKDAYS = range(7)
END_OF_DAY = dt.time(23, 59, 59, 999999)
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,15}", re.ASCII)
# A hyphen or an en dash (U+2013) between the times: people type both.
_INTERVAL = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-\u2013]\s*(\d{1,2})[:.](\d{2})\s*$", re.ASCII)

Hours = dict[int, list[tuple[dt.time, dt.time]]]


class PlaceError(DomainError):
    """A facility or unit rule said no."""


class InvalidHours(PlaceError):
    """Opening hours that cannot be read."""


class DuplicateCode(PlaceError):
    """The code is taken."""

    status = 409


def normalize_code(raw: str) -> str:
    """Codes are upper-case without spaces."""
    return raw.strip().upper()


def _check_code(code: str) -> str:
    code = normalize_code(code)
    if not _CODE.fullmatch(code):
        raise PlaceError(
            _l("Use 1 to 16 letters A-Z, digits or dashes for the code."), field="code"
        )
    return code


def create_facility(
    session: Session, *, actor: Actor, code: str, name: str, timezone: str, now: dt.datetime
) -> Facility:
    """A new facility."""
    code = _check_code(code)
    name = name.strip()
    if not name or len(name) > Facility.NAME_MAX:
        raise PlaceError(_l("Give a name of at most %(n)d characters.", n=Facility.NAME_MAX))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PlaceError(_l("Unknown time zone."), field="timezone") from exc
    with unit_of_work(session):
        if session.scalar(select(Facility.id).where(Facility.code == code)) is not None:
            raise DuplicateCode(_l("A facility with this code exists already."), field="code")
        facility = Facility(code=code, name=name, timezone=timezone, created_at=now)
        session.add(facility)
        session.flush()
        audit.record(
            session,
            "facility.create",
            actor=actor,
            obj=facility,
            at=now,
            details={"code": code, "name": name},
        )
    return facility


def create_unit(
    session: Session,
    *,
    actor: Actor,
    facility: Facility,
    code: str,
    name: str,
    hours: Hours | None,
    now: dt.datetime,
) -> Unit:
    """A new unit; without hours it stays closed until someone sets them."""
    code = _check_code(code)
    name = name.strip()
    if not name or len(name) > Unit.NAME_MAX:
        raise PlaceError(_l("Give a name of at most %(n)d characters.", n=Unit.NAME_MAX))
    with unit_of_work(session):
        exists = session.scalar(
            select(Unit.id).where(Unit.facility_id == facility.id, Unit.code == code)
        )
        if exists is not None:
            raise DuplicateCode(_l("A unit with this code exists already."), field="code")
        unit = Unit(
            facility_id=facility.id,
            code=code,
            name=name,
            opening_hours=dump_hours(hours or {}),
            created_at=now,
        )
        session.add(unit)
        session.flush()
        audit.record(
            session,
            "unit.create",
            actor=actor,
            obj=unit,
            at=now,
            details={"code": code, "name": name, "hours": format_hours(hours or {})},
        )
    return unit


def set_hours(
    session: Session, *, actor: Actor, unit: Unit, hours: Hours, now: dt.datetime
) -> None:
    """Replace a unit's opening hours."""
    with unit_of_work(session):
        before = format_hours(load_hours(unit))
        unit.opening_hours = dump_hours(hours)
        audit.record(
            session,
            "unit.hours",
            actor=actor,
            obj=unit,
            at=now,
            details={"before": before, "after": format_hours(hours)},
        )


# Opening hours -------------------------------------------------------------


def _fmt(t: dt.time) -> str:
    return "24:00" if t == END_OF_DAY else t.strftime("%H:%M")


def _parse_time(hours: str, minutes: str) -> dt.time:
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:
        return END_OF_DAY
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise InvalidHours(_l("Times go from 00:00 to 24:00."))
    return dt.time(h, m)


def parse_day(text: str) -> list[tuple[dt.time, dt.time]]:
    """``"07:00-11:30, 13:00-21:00"`` into intervals; empty or "-" means closed."""
    text = text.strip()
    if text in ("", "-", "\u2013"):
        return []
    intervals: list[tuple[dt.time, dt.time]] = []
    for part in text.split(","):
        match = _INTERVAL.match(part)
        if not match:
            raise InvalidHours(
                _l("Write opening hours like 07:00-21:00, or leave empty for closed.")
            )
        opens = _parse_time(match.group(1), match.group(2))
        closes = _parse_time(match.group(3), match.group(4))
        if closes <= opens:
            raise InvalidHours(_l("Each period must close after it opens."))
        intervals.append((opens, closes))
    intervals.sort()
    for (_, first_close), (second_open, _) in itertools.pairwise(intervals):
        if second_open < first_close:
            raise InvalidHours(_l("The periods of one day must not overlap."))
    if len(intervals) > 4:
        raise InvalidHours(_l("Give at most four periods a day."))
    return intervals


def format_day(intervals: list[tuple[dt.time, dt.time]]) -> str:
    """The text form of one day's intervals."""
    return ", ".join(f"{_fmt(a)}-{_fmt(b)}" for a, b in intervals)


def every_day(text: str) -> Hours:
    """The same hours on all seven days."""
    day = parse_day(text)
    return {d: list(day) for d in WEEKDAYS}


def dump_hours(hours: Hours) -> str:
    """The stored JSON of opening hours."""
    return json.dumps(
        {
            str(d): [[_fmt(a), _fmt(b)] for a, b in hours.get(d, [])]
            for d in WEEKDAYS
            if hours.get(d)
        },
        sort_keys=True,
    )


def load_hours(unit: Unit) -> Hours:
    """A unit's opening hours; anything unreadable counts as closed."""
    try:
        raw = json.loads(unit.opening_hours or "{}")
    except ValueError:
        return {}
    hours: Hours = {}
    if not isinstance(raw, dict):
        return hours
    for key, intervals in raw.items():
        try:
            day = int(key)
            hours[day] = [
                (_parse_time(*a.split(":")), _parse_time(*b.split(":"))) for a, b in intervals
            ]
        except (ValueError, TypeError, InvalidHours):
            continue
    return hours


def format_hours(hours: Hours) -> dict[str, str]:
    """Weekday number to text, for the audit trail."""
    return {str(d): format_day(hours.get(d, [])) for d in WEEKDAYS}


def local_time(unit: Unit, now: dt.datetime) -> dt.datetime:
    """``now`` in the unit's facility time zone."""
    return now.astimezone(ZoneInfo(unit.facility.timezone))


def is_open(unit: Unit, now: dt.datetime) -> bool:
    """True when the kiosk of this unit is open at ``now``."""
    local = local_time(unit, now)
    moment = local.time().replace(tzinfo=None)
    return any(a <= moment < b for a, b in load_hours(unit).get(local.weekday(), []))


def next_opening(unit: Unit, now: dt.datetime) -> dt.datetime | None:
    """When the kiosk opens next (local time), or None if it has no hours at all."""
    hours = load_hours(unit)
    local = local_time(unit, now)
    for offset in range(8):
        day = (local + dt.timedelta(days=offset)).date()
        for opens, _closes in hours.get(day.weekday(), []):
            candidate = dt.datetime.combine(day, opens, tzinfo=local.tzinfo)
            if candidate > local:
                return candidate
    return None
