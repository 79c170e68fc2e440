"""Kinds of request as data: the type editor, group supervisors, and the figures."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.widgets import CheckboxInput, ListWidget

from admin.helpers import me
from admin.nav import NavItem, add_nav
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _, _l
from kiosk.models import Facility, Role, Staff
from kiosk.models.requests import FieldKind, InmateRequest, RequestGroupSupervisor, RequestType
from kiosk.security.policy import Perm, can, facility_scope, in_scope, require
from kiosk.services import requests as svc
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter

bp = Blueprint("request_types", __name__, url_prefix="/requests/admin")
add_nav(NavItem("request_types.figures", _l("Request figures"), Perm.REQUEST_STATS, 31))

CATEGORY_LABELS: dict[str, Any] = {
    "health": _l("Health"),
    "faith": _l("Faith"),
    "daily_life": _l("Daily life"),
    "money": _l("Money"),
    "complaint": _l("Complaints"),
    "contacts": _l("Contacts"),
    "visits": _l("Visits"),
    "education": _l("Education"),
    "work": _l("Work"),
    "other": _l("Other"),
}
KIND_LABELS: dict[str, Any] = {
    "short_text": _l("Short text"),
    "long_text": _l("Long text"),
    "choice": _l("Choice"),
    "date": _l("Date"),
    "number": _l("Number"),
    "yes_no": _l("Yes or no"),
}
EFFECT_LABELS: dict[str, Any] = {
    "none": _l("Nothing more"),
    "add_contact": _l("Add the phone contact (fields name, relation, number)"),
    "remove_contact": _l("Remove the phone contact (field number)"),
    "book_visit": _l("Book the visit (field visitors)"),
}
ROLE_LABELS: dict[Role, Any] = {
    Role.OFFICER: _l("Officers"),
    Role.HEALTHCARE: _l("Healthcare"),
    Role.CHAPLAIN: _l("Chaplaincy"),
    Role.CASEWORKER: _l("Caseworkers"),
    Role.COMMISSARY: _l("Commissary"),
    Role.ADMIN: _l("Management"),
}
EXTRA_ROWS = 3


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc] # WTForms is untyped
    """Checkboxes for a multiple choice."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class FieldRow(Form):  # type: ignore[misc] # WTForms is untyped
    """One field of the form (a row of the editor; a row without a key is dropped)."""

    key = StringField(_l("Key"), filters=[strip_filter])
    kind = SelectField(_l("Kind"), choices=list(KIND_LABELS.items()), validate_choice=True)
    label_sv = StringField(_l("Label in Swedish"), filters=[strip_filter])
    label_en = StringField(_l("Label in English"), filters=[strip_filter])
    required = BooleanField(_l("Required"))
    max_length = StringField(_l("Longest (characters)"), filters=[strip_filter])
    low = StringField(_l("Smallest number"), filters=[strip_filter])
    high = StringField(_l("Largest number"), filters=[strip_filter])
    options = TextAreaField(
        _l("Options, one a line: value | Swedish | English"), filters=[strip_filter]
    )


class TypeForm(BaseForm):
    """A kind of request."""

    code = StringField(_l("Code"), filters=[strip_filter])
    name_sv = StringField(_l("Name in Swedish"), filters=[strip_filter])
    name_en = StringField(_l("Name in English"), filters=[strip_filter])
    help_sv = TextAreaField(_l("Help text in Swedish"), filters=[strip_filter])
    help_en = TextAreaField(_l("Help text in English"), filters=[strip_filter])
    category = SelectField(
        _l("Category"), choices=list(CATEGORY_LABELS.items()), validate_choice=True
    )
    handler_role = SelectField(_l("Handled by"), validate_choice=True)
    handler_facility = SelectField(_l("In facility"), coerce=int, validate_choice=True)
    sensitivity = SelectField(_l("Confidentiality"), validate_choice=True)
    reply_days = StringField(_l("Answer within (working days)"), filters=[strip_filter])
    one_open = BooleanField(_l("Only one open request of this kind at a time"))
    names_staff = BooleanField(_l("About a staff member (the person named never sees it)"))
    effect = SelectField(
        _l("When approved"),
        choices=list(EFFECT_LABELS.items()),
        validate_choice=True,
    )
    active = BooleanField(_l("Offered to inmates"))
    everywhere = BooleanField(_l("Offered in every facility"))
    facilities = MultiCheckboxField(_l("Offered in"), coerce=int, validate_choice=True)
    position = StringField(_l("Position in the list"), filters=[strip_filter])
    fields = FieldList(FormField(FieldRow), min_entries=1)


def _facilities_in_scope() -> list[Facility]:
    scope = facility_scope(me())
    stmt = select(Facility).order_by(Facility.name)
    if scope is not None:
        stmt = stmt.where(Facility.id.in_(scope))
    return list(db().scalars(stmt))


def _prepare(form: TypeForm) -> None:
    facilities = _facilities_in_scope()
    form.handler_role.choices = [(r.value, str(ROLE_LABELS[r])) for r in svc.HANDLER_ROLES]
    form.handler_facility.choices = [(0, str(_l("The inmate's own facility")))] + [
        (f.id, f.name) for f in facilities
    ]
    form.sensitivity.choices = [
        ("normal", str(_l("Normal"))),
        ("health", str(_l("Health (healthcare only, encrypted)"))),
        ("complaint", str(_l("Complaint (handling group only)"))),
    ]
    form.facilities.choices = [(f.id, f.name) for f in facilities]


def _int(text: str | None) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    if value.lstrip("-").isdigit() and len(value) <= 10:
        return int(value)
    raise svc.BadTypeDefinition(_l("Write a whole number."), field="fields")


def _rows_to_fields(form: TypeForm) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in form.fields:
        row = entry.form
        if not row.key.data:
            continue
        spec: dict[str, Any] = {
            "key": row.key.data,
            "kind": row.kind.data,
            "label": {"sv": row.label_sv.data or "", "en": row.label_en.data or ""},
            "required": bool(row.required.data),
        }
        if row.kind.data in (FieldKind.SHORT_TEXT.value, FieldKind.LONG_TEXT.value):
            limit = _int(row.max_length.data)
            if limit is not None:
                spec["max_length"] = limit
        if row.kind.data == FieldKind.NUMBER.value:
            for name, text in (("min", row.low.data), ("max", row.high.data)):
                value = _int(text)
                if value is not None:
                    spec[name] = value
        if row.kind.data == FieldKind.CHOICE.value:
            choices = []
            for line in (row.options.data or "").splitlines():
                parts = [p.strip() for p in line.split("|")]
                if not parts or not parts[0]:
                    continue
                sv_label = parts[1] if len(parts) > 1 else parts[0]
                en_label = parts[2] if len(parts) > 2 else sv_label
                choices.append({"value": parts[0], "label": {"sv": sv_label, "en": en_label}})
            spec["choices"] = choices
        out.append(spec)
    return out


def _fill(form: TypeForm, rtype: RequestType) -> None:
    form.code.data = rtype.code
    form.name_sv.data = rtype.names.get("sv", "")
    form.name_en.data = rtype.names.get("en", "")
    form.help_sv.data = rtype.help_texts.get("sv", "")
    form.help_en.data = rtype.help_texts.get("en", "")
    form.category.data = rtype.category.value
    form.handler_role.data = rtype.handler_role.value
    form.handler_facility.data = rtype.handler_facility_id or 0
    form.sensitivity.data = rtype.sensitivity.value
    form.reply_days.data = str(rtype.reply_days)
    form.one_open.data = rtype.one_open
    form.names_staff.data = rtype.names_staff
    form.effect.data = rtype.effect.value
    form.active.data = rtype.active
    form.everywhere.data = rtype.offered_everywhere
    form.facilities.data = sorted(rtype.facility_ids)
    form.position.data = str(rtype.position)
    while len(form.fields.entries):
        form.fields.pop_entry()
    for spec in rtype.fields:
        form.fields.append_entry()
        row = form.fields.entries[-1].form
        row.key.data = spec["key"]
        row.kind.data = spec["kind"]
        row.label_sv.data = spec["label"].get("sv", "")
        row.label_en.data = spec["label"].get("en", "")
        row.required.data = spec.get("required", False)
        row.max_length.data = str(spec["max_length"]) if "max_length" in spec else ""
        row.low.data = str(spec["min"]) if "min" in spec else ""
        row.high.data = str(spec["max"]) if "max" in spec else ""
        row.options.data = "\n".join(
            f"{c['value']} | {c['label'].get('sv', '')} | {c['label'].get('en', '')}"
            for c in spec.get("choices", [])
        )


def _pad(form: TypeForm) -> None:
    blank = sum(1 for e in form.fields if not e.form.key.data)
    for _i in range(max(EXTRA_ROWS - blank, 0)):
        if len(form.fields.entries) >= RequestType.MAX_FIELDS:
            break
        form.fields.append_entry()


@bp.get("/types")
@access.staff(Perm.REQUEST_TYPES_MANAGE)
def index() -> str:
    """Every kind of request, with who handles it and its reply-by target."""
    types = list(db().scalars(select(RequestType).order_by(RequestType.position, RequestType.id)))
    staff = me()
    return render_template(
        "request_types/index.html",
        types=types,
        editable={t.id for t in types if can(staff, Perm.REQUEST_TYPES_MANAGE, t)},
        localized=svc.localized,
        role_labels=ROLE_LABELS,
        category_labels=CATEGORY_LABELS,
    )


def _save(form: TypeForm, rtype: RequestType | None) -> ResponseReturnValue | None:
    staff = me()
    reply_days = _int(form.reply_days.data) if form.reply_days.data else None
    position = _int(form.position.data) if form.position.data else 100
    offered = None if form.everywhere.data else list(form.facilities.data or [])
    owner = rtype.facility_id if rtype is not None else None
    if rtype is None and not staff.all_facilities:
        # A local administrator's type belongs to (and is offered in) their own facilities.
        scope = sorted(staff.facility_ids)
        owner = scope[0] if scope else None
        offered = [f for f in (offered or scope) if f in staff.facility_ids]
    if offered is not None and not staff.all_facilities:
        offered = [f for f in offered if in_scope(staff, f)]
    data = {
        "code": form.code.data,
        "names": {"sv": form.name_sv.data or "", "en": form.name_en.data or ""},
        "help_texts": {"sv": form.help_sv.data or "", "en": form.help_en.data or ""},
        "category": form.category.data,
        "handler_role": form.handler_role.data,
        "handler_facility_id": form.handler_facility.data or None,
        "sensitivity": form.sensitivity.data,
        "reply_days": reply_days,
        "one_open": form.one_open.data,
        "names_staff": form.names_staff.data,
        "effect": form.effect.data,
        "active": form.active.data,
        "position": position,
        "facility_ids": offered,
        "facility_id": owner,
        "fields": _rows_to_fields(form),
    }
    saved = svc.save_type(db(), actor=actor(), rtype=rtype, data=data, now=now())
    flash(_("The kind of request is saved."), "success")
    return redirect(url_for("request_types.edit", type_id=saved.id), 303)


def _editor(rtype: RequestType | None) -> ResponseReturnValue:
    form = TypeForm()
    _prepare(form)
    status = 200
    error: Any = None
    if request.method == "GET":
        if rtype is not None:
            _fill(form, rtype)
        else:
            form.active.data = True
            form.everywhere.data = True
            form.reply_days.data = "5"
    elif form.validate():
        try:
            done = _save(form, rtype)
        except (DomainError, ValueError) as exc:
            message = exc.message if isinstance(exc, DomainError) else _l("Check the choices.")
            field = exc.field if isinstance(exc, DomainError) else None
            target = getattr(form, field, None) if field and field != "fields" else None
            if target is not None:
                target.errors = [*target.errors, message]
            else:
                error = message
            status = exc.status if isinstance(exc, DomainError) else 422
        else:
            if done is not None:
                return done
    else:
        status = 422
    _pad(form)
    html = render_template(
        "request_types/edit.html", form=form, rtype=rtype, error=error, localized=svc.localized
    )
    return make_response(html, status)


@bp.route("/types/new", methods=["GET", "POST"])
@access.staff(Perm.REQUEST_TYPES_MANAGE)
def new() -> ResponseReturnValue:
    """A new kind of request."""
    return _editor(None)


@bp.route("/types/<id:type_id>", methods=["GET", "POST"])
@access.staff(Perm.REQUEST_TYPES_MANAGE)
def edit(type_id: int) -> ResponseReturnValue:
    """Change a kind of request (requests made before keep the form they were made with)."""
    rtype = db().get(RequestType, type_id)
    if rtype is None:
        raise NotFound()
    require(me(), Perm.REQUEST_TYPES_MANAGE, rtype)
    return _editor(rtype)


# Supervisors ---------------------------------------------------------------------


class SupervisorForm(BaseForm):
    """Who a group's overdue requests go to."""

    group = SelectField(_l("Group"), validate_choice=True)
    staff = SelectField(_l("Supervisor"), coerce=int, validate_choice=True)


@bp.route("/supervisors", methods=["GET", "POST"])
@access.staff(Perm.REQUEST_TYPES_MANAGE)
def supervisors() -> ResponseReturnValue:
    """Each group's supervisor: overdue requests escalate to them."""
    facilities = _facilities_in_scope()
    groups = [(r, f) for f in facilities for r in svc.HANDLER_ROLES]
    form = SupervisorForm()
    form.group.choices = [(f"{r.value}:{f.id}", f"{ROLE_LABELS[r]}, {f.name}") for r, f in groups]
    people = list(db().scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name)))
    form.staff.choices = [(0, str(_l("Nobody")))] + [
        (s.id, f"{s.name} ({s.username})") for s in people
    ]
    status = 200
    if request.method == "POST":
        if form.validate():
            role_text, _sep, facility_text = (form.group.data or "").partition(":")
            facility = db().get(Facility, int(facility_text))
            if facility is None or not in_scope(me(), facility.id):
                raise NotFound()
            role = Role(role_text)
            chosen = db().get(Staff, form.staff.data) if form.staff.data else None
            if chosen is not None and not (
                role in chosen.roles
                and (chosen.all_facilities or facility.id in chosen.facility_ids)
            ):
                form.staff.errors = [
                    _("The supervisor must hold the group's role in its facility.")
                ]
                status = 422
            else:
                svc.set_supervisor(
                    db(), actor=actor(), role=role, facility=facility, staff=chosen, now=now()
                )
                flash(_("The supervisor is saved."), "success")
                return redirect(url_for("request_types.supervisors"), 303)
        else:
            status = 422
    rows = {
        (row.role, row.facility_id): row.staff
        for row in db().scalars(
            select(RequestGroupSupervisor).where(
                RequestGroupSupervisor.facility_id.in_([f.id for f in facilities])
            )
        )
    }
    html = render_template(
        "request_types/supervisors.html",
        form=form,
        groups=groups,
        rows=rows,
        role_labels=ROLE_LABELS,
    )
    return make_response(html, status)


# Figures --------------------------------------------------------------------------


@bp.get("/figures")
@access.staff(Perm.REQUEST_STATS)
def figures() -> str:
    """Per kind and group: how many, median time to first reply, share answered in time."""
    raw = request.args.get("days", "90")
    days = int(raw) if raw.isdigit() and len(raw) <= 3 else 90
    days = min(max(days, 1), 366)
    since = now() - dt.timedelta(days=days)
    scope = facility_scope(me())
    stmt = select(
        InmateRequest.type_id,
        InmateRequest.group_role,
        InmateRequest.group_facility_id,
        InmateRequest.submitted_at,
        InmateRequest.first_reply_at,
        InmateRequest.decided_at,
        InmateRequest.reply_by,
    ).where(InmateRequest.submitted_at >= since)
    if scope is not None:
        stmt = stmt.where(InmateRequest.facility_id.in_(scope))
    facilities = {f.id: f for f in db().scalars(select(Facility))}
    counts: dict[tuple[int, Role, int], int] = defaultdict(int)
    waits: dict[tuple[int, Role, int], list[float]] = defaultdict(list)
    in_time: dict[tuple[int, Role, int], int] = defaultdict(int)
    for type_id, role, facility_id, submitted, first, decided, reply_by in db().execute(
        stmt.execution_options(yield_per=2000)
    ):
        key = (type_id, role, facility_id)
        counts[key] += 1
        if first is not None:
            waits[key].append((first - submitted).total_seconds() / 3600)
        zone = facilities[facility_id].timezone
        if decided is not None and svc.local_date(decided, zone) <= reply_by:
            in_time[key] += 1
    types = {t.id: t for t in db().scalars(select(RequestType))}
    rows = []
    for key in sorted(counts, key=lambda k: (types[k[0]].position, k[0], k[1].value, k[2])):
        type_id, role, facility_id = key
        rows.append(
            {
                "type": svc.localized(types[type_id].names),
                "group": f"{ROLE_LABELS.get(role, role.value)}, {facilities[facility_id].name}",
                "count": counts[key],
                "median_hours": statistics.median(waits[key]) if waits[key] else None,
                "share": in_time[key] / counts[key],
            }
        )
    return render_template("request_types/figures.html", rows=rows, days=days)
