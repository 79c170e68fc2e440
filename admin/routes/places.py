"""Facilities and units, with the kiosk's opening hours per weekday."""

from __future__ import annotations

from babel.dates import get_day_names
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
from flask_babel import get_locale
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from admin.helpers import me, visible
from admin.nav import NavItem, add_nav
from kiosk.errors import NotFound
from kiosk.i18n import _, _l
from kiosk.models import Facility, Unit
from kiosk.security.policy import Perm, can, facility_scope, in_scope
from kiosk.services import places
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("places", __name__)
add_nav(NavItem("places.units", _l("Units and hours"), Perm.UNIT_MANAGE, 50))

HOURS_HINT = _l("For example 07:00-21:00, or 07:00-11:30, 13:00-21:00. Leave empty for closed.")


class HoursForm(BaseForm):
    """Opening hours, one text field per weekday (fields day0 .. day6, Monday first)."""

    day0 = StringField(filters=[strip_filter], validators=[Length(max=100)])
    day1 = StringField(filters=[strip_filter], validators=[Length(max=100)])
    day2 = StringField(filters=[strip_filter], validators=[Length(max=100)])
    day3 = StringField(filters=[strip_filter], validators=[Length(max=100)])
    day4 = StringField(filters=[strip_filter], validators=[Length(max=100)])
    day5 = StringField(filters=[strip_filter], validators=[Length(max=100)])
    day6 = StringField(filters=[strip_filter], validators=[Length(max=100)])


class FacilityForm(BaseForm):
    """A new facility."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Type a code.")), Length(max=16)],
        filters=[strip_filter],
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Type a name.")), Length(max=Facility.NAME_MAX)],
        filters=[strip_filter],
    )
    timezone = StringField(
        _l("Time zone"), validators=[DataRequired(), Length(max=64)], filters=[strip_filter]
    )


class UnitForm(BaseForm):
    """A new unit."""

    facility = SelectField(_l("Facility"), coerce=int, validate_choice=True)
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Type a code.")), Length(max=16)],
        filters=[strip_filter],
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Type a name.")), Length(max=Unit.NAME_MAX)],
        filters=[strip_filter],
    )
    hours = StringField(
        _l("Opening hours every day"), validators=[Length(max=100)], filters=[strip_filter]
    )


def _day_fields(form: HoursForm) -> list[tuple[str, StringField]]:
    names = get_day_names("wide", locale=get_locale())
    return [(str(names[d]).capitalize(), getattr(form, f"day{d}")) for d in places.WEEKDAYS]


def _facilities_in_scope() -> list[Facility]:
    scope = facility_scope(me())
    stmt = select(Facility).order_by(Facility.name)
    if scope is not None:
        stmt = stmt.where(Facility.id.in_(scope))
    return list(db().scalars(stmt))


@bp.get("/units/")
@access.staff(Perm.UNIT_MANAGE)
def units() -> str:
    """Units in scope with their opening hours."""
    facilities = _facilities_in_scope()
    rows = [(fac, [(u, places.load_hours(u)) for u in fac.units]) for fac in facilities]
    names = get_day_names("abbreviated", locale=get_locale())
    return render_template(
        "places/units.html",
        rows=rows,
        day_names=[str(names[d]) for d in places.WEEKDAYS],
        format_day=places.format_day,
        may_add_facility=can(me(), Perm.FACILITY_MANAGE),
    )


@bp.route("/units/<id:unit_id>", methods=["GET", "POST"])
@access.staff(Perm.UNIT_MANAGE)
def unit(unit_id: int) -> ResponseReturnValue:
    """Edit a unit's opening hours."""
    target = visible(Unit, unit_id, Perm.UNIT_MANAGE)
    form = HoursForm()
    status = 200
    if request.method == "GET":
        for day, intervals in places.load_hours(target).items():
            getattr(form, f"day{day}").data = places.format_day(intervals)
    elif form.validate():
        hours: places.Hours = {}
        ok = True
        for day in places.WEEKDAYS:
            field = getattr(form, f"day{day}")
            try:
                hours[day] = places.parse_day(field.data or "")
            except places.InvalidHours as exc:
                field.errors = [*field.errors, exc.message]
                ok = False
        if ok:
            places.set_hours(db(), actor=actor(), unit=target, hours=hours, now=now())
            flash(_("The opening hours were saved."), "success")
            return redirect(url_for("places.units"))
        status = 422
    else:
        status = 422
    html = render_template(
        "places/unit.html", unit=target, form=form, days=_day_fields(form), hint=HOURS_HINT
    )
    return make_response(html, status)


@bp.route("/units/new", methods=["GET", "POST"])
@access.staff(Perm.UNIT_MANAGE)
def new_unit() -> ResponseReturnValue:
    """Add a unit to a facility in scope."""
    form = UnitForm()
    form.facility.choices = [(f.id, f"{f.name} ({f.code})") for f in _facilities_in_scope()]
    if request.method == "GET":
        form.hours.data = "07:00-21:00"
    status = 200
    if request.method == "POST":
        if form.validate():
            facility = db().get(Facility, form.facility.data)
            if facility is None or not in_scope(me(), facility.id):
                raise NotFound()
            try:
                places.create_unit(
                    db(),
                    actor=actor(),
                    facility=facility,
                    code=form.code.data or "",
                    name=form.name.data or "",
                    hours=places.every_day(form.hours.data or ""),
                    now=now(),
                )
            except places.PlaceError as exc:
                target = getattr(form, exc.field or "hours", form.hours)
                target.errors = [*target.errors, exc.message]
                status = exc.status
            else:
                flash(_("The unit was added."), "success")
                return redirect(url_for("places.units"))
        else:
            status = 422
    return make_response(
        render_template("places/new_unit.html", form=form, hint=HOURS_HINT), status
    )


@bp.route("/facilities/new", methods=["GET", "POST"])
@access.staff(Perm.FACILITY_MANAGE)
def new_facility() -> ResponseReturnValue:
    """Add a facility (national administrators)."""
    form = FacilityForm()
    if request.method == "GET":
        form.timezone.data = get_state().settings.timezone
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                places.create_facility(
                    db(),
                    actor=actor(),
                    code=form.code.data or "",
                    name=form.name.data or "",
                    timezone=form.timezone.data or "",
                    now=now(),
                )
            except places.PlaceError as exc:
                target = getattr(form, exc.field or "code", form.code)
                target.errors = [*target.errors, exc.message]
                status = exc.status
            else:
                flash(_("The facility was added. Add its units next."), "success")
                return redirect(url_for("places.units"))
        else:
            status = 422
    return make_response(render_template("places/new_facility.html", form=form), status)
