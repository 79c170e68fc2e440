"""The request's database session, time and actor."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, request
from flask_login import current_user
from sqlalchemy.orm import Session

from kiosk.models import Inmate, Staff, Terminal
from kiosk.services.audit import Actor
from kiosk.web.state import get_state


def db() -> Session:
    """The session of this request, opened on first use and closed at teardown."""
    session = g.get("_kiosk_db")
    if session is None:
        session = get_state().database.session()
        g._kiosk_db = session
    return session  # type: ignore[no-any-return]


def close_db(_exc: BaseException | None = None) -> None:
    """Roll back anything uncommitted and return the connection (teardown)."""
    session = g.pop("_kiosk_db", None)
    if session is not None:
        session.close()


def now() -> dt.datetime:
    """The app clock's time."""
    return get_state().clock.now()


def terminal() -> Terminal | None:
    """The enrolled terminal this request comes from (inmate portal), if any."""
    value = g.get("terminal")
    return value if isinstance(value, Terminal) else None


def user() -> Any:
    """The signed-in inmate or staff member, or None."""
    obj = current_user._get_current_object() if current_user else None
    if isinstance(obj, Inmate | Staff):
        return obj
    return None


def actor() -> Actor:
    """Who is acting in this request, for the audit trail."""
    ip = request.remote_addr
    term = terminal()
    who = user()
    if isinstance(who, Inmate):
        return Actor(
            kind="inmate",
            id=who.id,
            label=who.booking_number,
            terminal_id=term.id if term else None,
            ip=ip,
            facility_id=who.facility_id,
        )
    if isinstance(who, Staff):
        return Actor(kind="staff", id=who.id, label=who.username, ip=ip)
    return Actor.anonymous(ip, term.id if term else None)
