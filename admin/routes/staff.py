"""Staff accounts (administrators): create, roles and scope, reset password or TOTP,
deactivate, unlock, end sessions."""

from __future__ import annotations

from typing import Any

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
from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from admin.helpers import me, paginate, visible
from admin.nav import NavItem, add_nav
from kiosk.db import unit_of_work
from kiosk.i18n import _, _l
from kiosk.models import Facility, Role, Staff, StaffFacility, WebSession
from kiosk.security.policy import Perm, can, facility_scope
from kiosk.security.sessions import end_sessions
from kiosk.services import audit
from kiosk.services import staff as staff_service
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("staff", __name__, url_prefix="/staff")
add_nav(NavItem("staff.index", _l("Staff"), Perm.STAFF_VIEW, 30))

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.SECURITY: _l("Security"),
    Role.OFFICER: _l("Officer"),
    Role.HEALTHCARE: _l("Healthcare"),
    Role.CHAPLAIN: _l("Chaplain"),
    Role.COMMISSARY: _l("Commissary"),
    Role.TEACHER: _l("Teacher"),
    Role.CASEWORKER: _l("Caseworker"),
    Role.AUDITOR: _l("Auditor"),
}


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc] # WTForms is untyped
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AccessForm(BaseForm):
    """Name, roles and facilities of an account."""

    name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Type the full name.")), Length(max=Staff.NAME_MAX)],
        filters=[strip_filter],
    )
    roles = MultiCheckboxField(_l("Roles"), choices=[], validate_choice=True)
    facilities = MultiCheckboxField(_l("Facilities"), choices=[], coerce=int, validate_choice=True)
    all_facilities = BooleanField(_l("All facilities (national account)"))


class NewStaffForm(AccessForm):
    """A new account also needs a user name."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Type a user name.")), Length(max=Staff.USERNAME_MAX)],
        filters=[strip_filter],
    )


def _facilities_in_scope() -> list[Facility]:
    scope = facility_scope(me())
    stmt = select(Facility).order_by(Facility.name)
    if scope is not None:
        stmt = stmt.where(Facility.id.in_(scope))
    return list(db().scalars(stmt))


def _fill_choices(form: AccessForm) -> None:
    form.roles.choices = [(r.value, str(ROLE_LABELS[r])) for r in Role]
    form.facilities.choices = [(f.id, f"{f.name} ({f.code})") for f in _facilities_in_scope()]


def _visible_staff_filter(stmt: object) -> object:
    scope = facility_scope(me())
    if scope is None:
        return stmt
    inside = select(StaffFacility.staff_id).where(StaffFacility.facility_id.in_(scope))
    return stmt.where(Staff.id.in_(inside), Staff.all_facilities.is_(False))  # type: ignore[attr-defined]


@bp.get("/")
@access.staff(Perm.STAFF_VIEW)
def index() -> str:
    """Accounts in the staff member's scope, searchable."""
    query = request.args.get("q", "").strip()[:64]
    stmt = select(Staff).order_by(Staff.username)
    if query:
        stmt = stmt.where(
            or_(
                Staff.username.contains(query.lower(), autoescape=True),
                Staff.name.icontains(query, autoescape=True),
            )
        )
    page = paginate(db(), _visible_staff_filter(stmt))  # type: ignore[arg-type]
    return render_template("staff/index.html", page=page, query=query, role_labels=ROLE_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@access.staff(Perm.STAFF_MANAGE)
def new() -> ResponseReturnValue:
    """Create an account; the one-time password is shown once."""
    form = NewStaffForm()
    _fill_choices(form)
    status = 200
    if request.method == "POST":
        if form.validate():
            state = get_state()
            try:
                created, password, _secret = staff_service.create_staff(
                    db(),
                    actor=actor(),
                    actor_staff=me(),
                    hasher=state.hasher,
                    vault=state.vault,
                    username=form.username.data or "",
                    name=form.name.data or "",
                    roles=[Role(r) for r in form.roles.data or []],
                    facility_ids=form.facilities.data or [],
                    all_facilities=bool(form.all_facilities.data),
                    now=now(),
                    language=state.settings.default_language,
                )
            except staff_service.StaffError as exc:
                target = getattr(form, exc.field or "username", form.username)
                target.errors = [*target.errors, exc.message]
                status = exc.status
            else:
                html = render_template(
                    "staff/password.html", staff=created, password=password, new=True
                )
                return make_response(html, 201)
        else:
            status = 422
    return make_response(render_template("staff/new.html", form=form), status)


@bp.route("/<id:staff_id>", methods=["GET", "POST"])
@access.staff(Perm.STAFF_VIEW)
def show(staff_id: int) -> ResponseReturnValue:
    """One account; administrators change its roles and scope with the form on it."""
    target = visible(Staff, staff_id, Perm.STAFF_VIEW)
    form = AccessForm(obj=None if request.method == "POST" else target)
    _fill_choices(form)
    if request.method == "GET":
        form.roles.data = sorted(target.roles)
        form.facilities.data = sorted(target.facility_ids)
        form.all_facilities.data = target.all_facilities
    status = 200
    if request.method == "POST":
        visible(Staff, staff_id, Perm.STAFF_MANAGE)
        if form.validate():
            try:
                staff_service.update_access(
                    db(),
                    actor=actor(),
                    actor_staff=me(),
                    staff=target,
                    name=form.name.data or "",
                    roles=[Role(r) for r in form.roles.data or []],
                    facility_ids=form.facilities.data or [],
                    all_facilities=bool(form.all_facilities.data),
                    now=now(),
                )
            except staff_service.StaffError as exc:
                field: Any = getattr(form, exc.field or "roles", form.roles)
                field.errors = [*field.errors, exc.message]
                status = exc.status
            else:
                flash(_("The account was saved."), "success")
                return redirect(url_for("staff.show", staff_id=staff_id))
        else:
            status = 422
    sessions = list(
        db().scalars(
            select(WebSession)
            .where(WebSession.staff_id == target.id, WebSession.ended_at.is_(None))
            .order_by(WebSession.last_seen_at.desc())
        )
    )
    html = render_template(
        "staff/show.html",
        target=target,
        form=form,
        sessions=sessions,
        role_labels=ROLE_LABELS,
        may_manage=can(me(), Perm.STAFF_MANAGE, target),
        may_end_sessions=can(me(), Perm.SESSION_MANAGE, target),
        codes_left=staff_service.unused_recovery_codes(db(), target),
    )
    return make_response(html, status)


def _managed(staff_id: int) -> Staff:
    return visible(Staff, staff_id, Perm.STAFF_MANAGE)


@bp.post("/<id:staff_id>/password")
@access.staff(Perm.STAFF_MANAGE)
def reset_password(staff_id: int) -> ResponseReturnValue:
    """A new one-time password, shown once."""
    target = _managed(staff_id)
    password = staff_service.reset_password(
        db(), actor=actor(), hasher=get_state().hasher, staff=target, now=now()
    )
    return make_response(
        render_template("staff/password.html", staff=target, password=password, new=False)
    )


@bp.post("/<id:staff_id>/totp")
@access.staff(Perm.STAFF_MANAGE)
def reset_totp(staff_id: int) -> ResponseReturnValue:
    """Forget the TOTP seed: a QR code is shown at the next sign-in."""
    staff_service.reset_totp(db(), actor=actor(), staff=_managed(staff_id), now=now())
    flash(
        _("Two-step sign-in was reset. The person sets it up again at the next sign-in."), "success"
    )
    return redirect(url_for("staff.show", staff_id=staff_id))


@bp.post("/<id:staff_id>/active")
@access.staff(Perm.STAFF_MANAGE)
def set_active(staff_id: int) -> ResponseReturnValue:
    """Deactivate or reactivate."""
    target = _managed(staff_id)
    active = request.form.get("active") == "1"
    try:
        staff_service.set_active(
            db(), actor=actor(), actor_staff=me(), staff=target, active=active, now=now()
        )
    except staff_service.StaffError as exc:
        flash(str(exc.message), "error")
        return make_response(redirect(url_for("staff.show", staff_id=staff_id)), 303)
    flash(
        _("The account is active again.") if active else _("The account is deactivated."), "success"
    )
    return redirect(url_for("staff.show", staff_id=staff_id))


@bp.post("/<id:staff_id>/unlock")
@access.staff(Perm.STAFF_MANAGE)
def unlock(staff_id: int) -> ResponseReturnValue:
    """Lift a lock after failed sign-ins."""
    staff_service.unlock(db(), actor=actor(), staff=_managed(staff_id), now=now())
    flash(_("The account is unlocked."), "success")
    return redirect(url_for("staff.show", staff_id=staff_id))


@bp.post("/<id:staff_id>/sessions/end")
@access.staff(Perm.SESSION_MANAGE)
def end_all_sessions(staff_id: int) -> ResponseReturnValue:
    """End every open session of the account."""
    target = visible(Staff, staff_id, Perm.SESSION_MANAGE)
    with unit_of_work(db()):
        ended = end_sessions(db(), now=now(), reason="ended by staff", staff_id=target.id)
        audit.record(
            db(),
            "staff.sessions_end",
            actor=actor(),
            obj=target,
            at=now(),
            details={"sessions_ended": ended},
        )
    flash(_("%(n)d sessions were ended.", n=ended), "success")
    return redirect(url_for("staff.show", staff_id=staff_id))
