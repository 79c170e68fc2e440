"""The staff overview: figures that need attention, from every area, in the staff member's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import Select, func, select

from admin.helpers import me
from admin.nav import CARDS, Card, NavItem, add_card, add_nav
from kiosk.i18n import _l
from kiosk.models import AuditEvent, Inmate, InmateStatus, Staff, Terminal, Unit
from kiosk.security.policy import Perm, can, facility_scope
from kiosk.web import access
from kiosk.web.context import db, now

bp = Blueprint("dashboard", __name__)


def scoped(staff: Staff, stmt: Select[Any], column: Any) -> Select[Any]:
    """Limit a count to the staff member's facilities."""
    scope = facility_scope(staff)
    return stmt if scope is None else stmt.where(column.in_(scope))


def _count(stmt: Select[Any]) -> int:
    return int(db().scalar(stmt) or 0)


def _active_inmates(staff: Staff) -> int | None:
    if not can(staff, Perm.INMATE_VIEW):
        return None
    stmt = select(func.count(Inmate.id)).where(Inmate.status == InmateStatus.ACTIVE)
    return _count(scoped(staff, stmt, Inmate.facility_id))


def _locked_inmates(staff: Staff) -> int | None:
    if not can(staff, Perm.INMATE_VIEW):
        return None
    stmt = select(func.count(Inmate.id)).where(Inmate.hard_locked_at.is_not(None))
    return _count(scoped(staff, stmt, Inmate.facility_id))


def _terminals(staff: Staff) -> int | None:
    if not can(staff, Perm.TERMINAL_VIEW):
        return None
    stmt = (
        select(func.count(Terminal.id))
        .join(Unit, Terminal.unit_id == Unit.id)
        .where(Terminal.credential_hash.is_not(None), Terminal.revoked_at.is_(None))
    )
    return _count(scoped(staff, stmt, Unit.facility_id))


def _failures(staff: Staff) -> int | None:
    if not can(staff, Perm.AUDIT_READ):
        return None
    since = now() - dt.timedelta(hours=24)
    stmt = select(func.count(AuditEvent.seq)).where(
        AuditEvent.occurred_at >= since, AuditEvent.outcome.in_(("failed", "refused"))
    )
    return _count(scoped(staff, stmt, AuditEvent.facility_id))


add_nav(NavItem("dashboard.index", _l("Overview"), None, 10))
add_card(Card("inmates", _l("active inmates"), "inmates.index", _active_inmates, 10))
add_card(
    Card(
        "locked",
        _l("inmate accounts locked until staff unlock them"),
        "inmates.index",
        _locked_inmates,
        20,
    )
)
add_card(Card("terminals", _l("enrolled terminals"), "terminals.index", _terminals, 30))
add_card(
    Card(
        "failed", _l("failed or refused actions in the last 24 hours"), "audit.index", _failures, 90
    )
)


@bp.get("/")
@access.staff()
def index() -> str:
    """Each area's figures that this staff member may see."""
    staff = me()
    figures = []
    for card in CARDS:
        value = card.count(staff)
        if value is not None:
            figures.append((card, value))
    return render_template("dashboard/index.html", figures=figures)
