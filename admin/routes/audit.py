"""The audit trail (security staff and auditors): filter, page through, verify the chain."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from admin.helpers import me
from admin.nav import NavItem, add_nav
from kiosk.db import unit_of_work
from kiosk.i18n import _l
from kiosk.security.policy import Perm, facility_scope
from kiosk.services import audit
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.state import get_state

bp = Blueprint("audit", __name__, url_prefix="/audit")
add_nav(NavItem("audit.index", _l("Audit trail"), Perm.AUDIT_READ, 90))

OUTCOMES = {
    "ok": _l("Done"),
    "failed": _l("Failed"),
    "refused": _l("Refused"),
    "partial": _l("Step done"),
}
_TEXT_MAX = 64


def _date(raw: str | None) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _int(raw: str | None) -> int | None:
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if value < 2**31 else None


@bp.get("/")
@access.staff(Perm.AUDIT_READ)
def index() -> str:
    """Newest first, 50 a page; every search is itself recorded."""
    args = request.args
    since = _date(args.get("since"))
    until = _date(args.get("until"))
    scope = facility_scope(me())
    flt = audit.AuditFilter(
        action=(args.get("action") or "").strip()[:_TEXT_MAX] or None,
        actor_label=(args.get("actor") or "").strip()[:_TEXT_MAX] or None,
        object_type=(args.get("object_type") or "").strip()[:32] or None,
        object_id=_int(args.get("object_id")),
        outcome=args.get("outcome") if args.get("outcome") in OUTCOMES else None,
        facility_ids=scope,
        include_unscoped=scope is None,
        since=dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC) if since else None,
        until=dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        if until
        else None,
    )
    before = _int(args.get("before"))
    events = audit.search(db(), flt, before_seq=before, limit=51)
    has_more = len(events) > 50
    events = events[:50]
    with unit_of_work(db()):
        # Who looked at the log, and for what, is itself in the log.
        audit.record(
            db(),
            "audit.search",
            actor=actor(),
            at=now(),
            details={k: v for k, v in args.items() if k != "csrf_token"},
        )
    next_args = dict(args)
    if has_more and events:
        next_args["before"] = str(events[-1].seq)
    return render_template(
        "audit/index.html",
        events=events,
        args=args,
        has_more=has_more,
        next_args=next_args,
        outcomes=OUTCOMES,
        parse_details=audit.parse_details,
    )


@bp.get("/verify")
@access.staff(Perm.AUDIT_READ)
def verify() -> str:
    """Check the whole hash chain now."""
    result = audit.verify(db(), get_state().secrets.audit_key.encode())
    with unit_of_work(db()):
        audit.record(
            db(),
            "audit.verify",
            actor=actor(),
            at=now(),
            outcome="ok" if result.ok else "failed",
            details={"checked": result.checked, "first_bad": result.first_bad_seq},
        )
    return render_template("audit/verify.html", result=result)
