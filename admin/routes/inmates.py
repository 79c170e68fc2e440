"""Inmate accounts: create, issue a PIN, unlock, release or transfer, move, end sessions."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import or_, select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from admin.helpers import me, paginate, visible
from admin.nav import NavItem, add_nav
from kiosk.db import unit_of_work
from kiosk.errors import NotFound
from kiosk.i18n import LANGUAGE_NAMES, _, _l
from kiosk.models import Facility, Inmate, InmateStatus, PinThrottle, Unit, WebSession
from kiosk.security.policy import Perm, can, facility_scope, in_scope
from kiosk.security.sessions import end_sessions
from kiosk.services import audit, inmates
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("inmates", __name__, url_prefix="/inmates")
add_nav(NavItem("inmates.index", _l("Inmates"), Perm.INMATE_VIEW, 20))

STATUS_LABELS = {
    InmateStatus.ACTIVE: _l("Active"),
    InmateStatus.TRANSFERRED: _l("Transferred"),
    InmateStatus.RELEASED: _l("Released"),
}


class InmateForm(BaseForm):
    """A new inmate account."""

    booking_number = StringField(
        _l("Booking number"),
        validators=[DataRequired(_l("Type the booking number.")), Length(max=Inmate.BOOKING_MAX)],
        filters=[strip_filter],
    )
    name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Type the full name.")), Length(max=Inmate.NAME_MAX)],
        filters=[strip_filter],
    )
    unit = SelectField(_l("Unit"), coerce=int, validate_choice=True)
    language = SelectField(_l("Language"), validate_choice=True)


class MoveForm(BaseForm):
    """Another unit."""

    unit = SelectField(_l("New unit"), coerce=int, validate_choice=True)


def _units_in_scope() -> list[Unit]:
    scope = facility_scope(me())
    stmt = select(Unit).join(Facility).order_by(Facility.name, Unit.code)
    if scope is not None:
        stmt = stmt.where(Unit.facility_id.in_(scope))
    return list(db().scalars(stmt))


def _unit_choices() -> list[tuple[int, str]]:
    return [(u.id, f"{u.facility.name}: {u.name} ({u.code})") for u in _units_in_scope()]


@bp.get("/")
@access.staff(Perm.INMATE_VIEW)
def index() -> str:
    """Inmates in scope; search by booking number or name; filter by status."""
    query = request.args.get("q", "").strip()[:64]
    status = request.args.get("status", "active")
    stmt = select(Inmate).order_by(Inmate.booking_number)
    scope = facility_scope(me())
    if scope is not None:
        stmt = stmt.where(Inmate.facility_id.in_(scope))
    if status in {s.value for s in InmateStatus}:
        stmt = stmt.where(Inmate.status == InmateStatus(status))
    if query:
        stmt = stmt.where(
            or_(
                Inmate.booking_number.contains(inmates.normalize_booking(query), autoescape=True),
                Inmate.name.icontains(query, autoescape=True),
            )
        )
    page = paginate(db(), stmt)
    return render_template(
        "inmates/index.html", page=page, query=query, status=status, status_labels=STATUS_LABELS
    )


@bp.route("/new", methods=["GET", "POST"])
@access.staff(Perm.INMATE_MANAGE)
def new() -> ResponseReturnValue:
    """Create an inmate account; the first PIN is shown once."""
    form = InmateForm()
    form.unit.choices = _unit_choices()
    settings = get_state().settings
    form.language.choices = [(code, LANGUAGE_NAMES.get(code, code)) for code in settings.languages]
    if request.method == "GET":
        form.language.data = settings.default_language
    status = 200
    if request.method == "POST":
        if form.validate():
            unit = db().get(Unit, form.unit.data)
            if unit is None or not in_scope(me(), unit.facility_id):
                raise NotFound()
            try:
                created, pin = inmates.create_inmate(
                    db(),
                    actor=actor(),
                    hasher=get_state().hasher,
                    booking_number=form.booking_number.data or "",
                    name=form.name.data or "",
                    facility=unit.facility,
                    unit=unit,
                    language=form.language.data or "sv",
                    now=now(),
                )
            except inmates.InmateError as exc:
                target = getattr(form, exc.field or "booking_number", form.booking_number)
                target.errors = [*target.errors, exc.message]
                status = exc.status
            else:
                html = render_template("inmates/pin.html", inmate=created, pin=pin, new=True)
                return make_response(html, 201)
        else:
            status = 422
    return make_response(render_template("inmates/new.html", form=form), status)


@bp.get("/<id:inmate_id>")
@access.staff(Perm.INMATE_VIEW)
def show(inmate_id: int) -> str:
    """One inmate: status, locks, sessions, and the actions the staff member may take."""
    inmate = visible(Inmate, inmate_id, Perm.INMATE_VIEW)
    move_form = MoveForm()
    move_form.unit.choices = _unit_choices()
    move_form.unit.data = inmate.unit_id
    session = db()
    throttles = list(
        session.scalars(
            select(PinThrottle).where(
                PinThrottle.inmate_id == inmate.id, PinThrottle.locked_until > now()
            )
        )
    )
    open_sessions = list(
        session.scalars(
            select(WebSession).where(
                WebSession.inmate_id == inmate.id, WebSession.ended_at.is_(None)
            )
        )
    )
    staff = me()
    return render_template(
        "inmates/show.html",
        inmate=inmate,
        throttles=throttles,
        sessions=open_sessions,
        move_form=move_form,
        status_labels=STATUS_LABELS,
        may_credentials=can(staff, Perm.INMATE_CREDENTIALS, inmate),
        may_manage=can(staff, Perm.INMATE_MANAGE, inmate),
        may_end_sessions=can(staff, Perm.SESSION_MANAGE, inmate),
    )


@bp.post("/<id:inmate_id>/pin")
@access.staff(Perm.INMATE_CREDENTIALS)
def issue_pin(inmate_id: int) -> ResponseReturnValue:
    """A new random PIN, shown once to give to the inmate in a sealed slip."""
    inmate = visible(Inmate, inmate_id, Perm.INMATE_CREDENTIALS)
    if inmate.status is not InmateStatus.ACTIVE:
        flash(_("This inmate is not active."), "error")
        return make_response(redirect(url_for("inmates.show", inmate_id=inmate_id)), 303)
    pin = inmates.issue_pin(
        db(), actor=actor(), hasher=get_state().hasher, inmate=inmate, now=now()
    )
    return make_response(render_template("inmates/pin.html", inmate=inmate, pin=pin, new=False))


@bp.post("/<id:inmate_id>/unlock")
@access.staff(Perm.INMATE_CREDENTIALS)
def unlock(inmate_id: int) -> ResponseReturnValue:
    """Lift every sign-in lock."""
    inmate = visible(Inmate, inmate_id, Perm.INMATE_CREDENTIALS)
    inmates.unlock(db(), actor=actor(), inmate=inmate, now=now())
    flash(_("The account is unlocked."), "success")
    return redirect(url_for("inmates.show", inmate_id=inmate_id))


@bp.post("/<id:inmate_id>/release")
@access.staff(Perm.INMATE_MANAGE)
def release(inmate_id: int) -> ResponseReturnValue:
    """Released or transferred out: sign-in stops and sessions end at once."""
    inmate = visible(Inmate, inmate_id, Perm.INMATE_MANAGE)
    choice = request.form.get("status", "")
    if choice not in (InmateStatus.RELEASED.value, InmateStatus.TRANSFERRED.value):
        flash(_("Choose released or transferred."), "error")
        return make_response(redirect(url_for("inmates.show", inmate_id=inmate_id)), 303)
    try:
        inmates.end_stay(db(), actor=actor(), inmate=inmate, status=InmateStatus(choice), now=now())
    except inmates.InmateError as exc:
        flash(str(exc.message), "error")
        return make_response(redirect(url_for("inmates.show", inmate_id=inmate_id)), 303)
    flash(_("Saved. The inmate can no longer sign in."), "success")
    return redirect(url_for("inmates.show", inmate_id=inmate_id))


@bp.post("/<id:inmate_id>/move")
@access.staff(Perm.INMATE_MANAGE)
def move(inmate_id: int) -> ResponseReturnValue:
    """Move to another unit in scope."""
    inmate = visible(Inmate, inmate_id, Perm.INMATE_MANAGE)
    form = MoveForm()
    form.unit.choices = _unit_choices()
    if not form.validate():
        flash(_("Choose a unit from the list."), "error")
        return make_response(redirect(url_for("inmates.show", inmate_id=inmate_id)), 303)
    unit = db().get(Unit, form.unit.data)
    if unit is None or not in_scope(me(), unit.facility_id):
        raise NotFound()
    try:
        inmates.move(db(), actor=actor(), inmate=inmate, unit=unit, now=now())
    except inmates.InmateError as exc:
        flash(str(exc.message), "error")
        return make_response(redirect(url_for("inmates.show", inmate_id=inmate_id)), 303)
    flash(_("The inmate was moved."), "success")
    return redirect(url_for("inmates.show", inmate_id=inmate_id))


@bp.post("/<id:inmate_id>/sessions/end")
@access.staff(Perm.SESSION_MANAGE)
def end_all_sessions(inmate_id: int) -> ResponseReturnValue:
    """Sign the inmate out everywhere now."""
    inmate = visible(Inmate, inmate_id, Perm.SESSION_MANAGE)
    with unit_of_work(db()):
        ended = end_sessions(db(), now=now(), reason="ended by staff", inmate_id=inmate.id)
        audit.record(
            db(),
            "inmate.sessions_end",
            actor=actor(),
            obj=inmate,
            at=now(),
            details={"sessions_ended": ended},
        )
    flash(_("%(n)d sessions were ended.", n=ended), "success")
    return redirect(url_for("inmates.show", inmate_id=inmate_id))
