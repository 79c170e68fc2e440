"""The staff dashboard: what needs attention, and the way to each section."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import Select, func, select

from admin.helpers import me
from kiosk.models import AuditEvent, Inmate, InmateStatus, Terminal, Unit
from kiosk.security.policy import Perm, can, facility_scope
from kiosk.web import access
from kiosk.web.context import db, now

bp = Blueprint("dashboard", __name__)


def _scoped(stmt: Select[Any], column: Any) -> Select[Any]:
    scope = facility_scope(me())
    return stmt if scope is None else stmt.where(column.in_(scope))


@bp.get("/")
@access.staff()
def index() -> str:
    """Counts in the staff member's scope and links to what they may use."""
    staff = me()
    figures: dict[str, int] = {}
    session = db()
    if can(staff, Perm.INMATE_VIEW):
        figures["inmates"] = (
            session.scalar(
                _scoped(
                    select(func.count(Inmate.id)).where(Inmate.status == InmateStatus.ACTIVE),
                    Inmate.facility_id,
                )
            )
            or 0
        )
        figures["locked"] = (
            session.scalar(
                _scoped(
                    select(func.count(Inmate.id)).where(Inmate.hard_locked_at.is_not(None)),
                    Inmate.facility_id,
                )
            )
            or 0
        )
    if can(staff, Perm.TERMINAL_VIEW):
        figures["terminals"] = (
            session.scalar(
                _scoped(
                    select(func.count(Terminal.id))
                    .join(Unit, Terminal.unit_id == Unit.id)
                    .where(Terminal.credential_hash.is_not(None), Terminal.revoked_at.is_(None)),
                    Unit.facility_id,
                )
            )
            or 0
        )
    if can(staff, Perm.AUDIT_READ):
        since = now() - dt.timedelta(hours=24)
        figures["failed"] = (
            session.scalar(
                _scoped(
                    select(func.count(AuditEvent.seq)).where(
                        AuditEvent.occurred_at >= since,
                        AuditEvent.outcome.in_(("failed", "refused")),
                    ),
                    AuditEvent.facility_id,
                )
            )
            or 0
        )
    return render_template("dashboard/index.html", figures=figures)
