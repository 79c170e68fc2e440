"""The staff side of requests: the queue, one request, replies, notes, forwarding, statuses."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput, TimeInput

from admin.helpers import me, paginate
from admin.nav import Card, NavItem, add_card, add_nav
from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _, _l
from kiosk.models import Facility, Inmate, InmateStatus, Role, Staff
from kiosk.models.requests import (
    InmateRequest,
    PhoneContact,
    RequestEvent,
    RequestType,
    Sensitivity,
    Status,
    Visit,
)
from kiosk.security.policy import (
    Perm,
    can,
    facility_scope,
    in_scope,
    request_groups_clause,
    require,
    visible_requests_clause,
)
from kiosk.services import audit
from kiosk.services import inmates as inmate_service
from kiosk.services import requests as svc
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm
from kiosk.web.request_forms import INMATE_STATUS_LABELS, form_class, form_fields
from kiosk.web.state import get_state

bp = Blueprint("requests", __name__, url_prefix="/requests")
add_nav(NavItem("requests.index", _l("Requests"), Perm.REQUEST_HANDLE, 30))

STATUS_LABELS: dict[str, Any] = {
    "submitted": _l("New"),
    "in_progress": _l("In progress"),
    "waiting": _l("Waiting for the inmate"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
    "withdrawn": _l("Withdrawn by the inmate"),
}
ROLE_LABELS: dict[Role, Any] = {
    Role.OFFICER: _l("Officers"),
    Role.HEALTHCARE: _l("Healthcare"),
    Role.CHAPLAIN: _l("Chaplaincy"),
    Role.CASEWORKER: _l("Caseworkers"),
    Role.COMMISSARY: _l("Commissary"),
    Role.ADMIN: _l("Management"),
}
SENSITIVITY_LABELS: dict[str, Any] = {
    "normal": _l("Normal"),
    "health": _l("Health (healthcare only)"),
    "complaint": _l("Complaint (handling group only)"),
}
EVENT_LABELS: dict[str, Any] = {
    "submitted": _l("Submitted"),
    "reply": _l("Reply to the inmate"),
    "note": _l("Internal note"),
    "forward": _l("Forwarded"),
    "status": _l("Status changed"),
    "info": _l("The inmate added information"),
    "withdrawn": _l("Withdrawn by the inmate"),
    "escalated": _l("Overdue: escalated to the supervisor"),
    "appointment": _l("External appointment arranged"),
    "named_staff": _l("Staff member named in the complaint"),
}


class TextForm(BaseForm):
    """A reply or a note."""

    body = TextAreaField(_l("Text"))


class StatusForm(BaseForm):
    """A new status with its message to the inmate."""

    status = SelectField(_l("New status"), validate_choice=True)
    body = TextAreaField(_l("Message to the inmate (the reason, when refusing)"))
    visit_date = StringField(_l("Visit date (when approving a visit)"), widget=DateInput())
    visit_time = StringField(_l("Visit time"), widget=TimeInput())


class ForwardForm(BaseForm):
    """Another group and a comment for it."""

    group = SelectField(_l("Forward to"), validate_choice=True)
    body = TextAreaField(_l("Comment for the group (internal)"))


class AppointmentForm(BaseForm):
    """An appointment outside the prison: staff-only details."""

    date = StringField(_l("Date"), widget=DateInput())
    time = StringField(_l("Time"), widget=TimeInput())
    place = StringField(_l("Place"))
    note = TextAreaField(_l("Note for the escort (internal)"))


class NameStaffForm(BaseForm):
    """The staff member a complaint is about."""

    staff = SelectField(_l("Staff member"), coerce=int, validate_choice=True)


class LogForm(BaseForm):
    """Which inmate and which kind of request, for a paper slip."""

    booking_number = StringField(_l("Booking number"))
    type_id = SelectField(_l("Kind of request"), coerce=int, validate_choice=True)


def _today() -> dt.date:
    return now().astimezone(ZoneInfo(get_state().settings.timezone)).date()


def _queue_count(staff: Staff) -> int | None:
    if not can(staff, Perm.REQUEST_HANDLE):
        return None
    stmt = select(func.count(InmateRequest.id)).where(
        visible_requests_clause(staff),
        request_groups_clause(staff),
        InmateRequest.is_open.is_(True),
    )
    return int(db().scalar(stmt) or 0)


def _escalated_count(staff: Staff) -> int | None:
    if not can(staff, Perm.REQUEST_HANDLE):
        return None
    stmt = select(func.count(InmateRequest.id)).where(
        visible_requests_clause(staff),
        InmateRequest.escalated_to_id == staff.id,
        InmateRequest.is_open.is_(True),
    )
    count = int(db().scalar(stmt) or 0)
    return count or None


add_card(Card("requests", _l("open requests in my queue"), "requests.index", _queue_count, 15))
add_card(
    Card(
        "requests_escalated",
        _l("overdue requests escalated to me"),
        "requests.index",
        _escalated_count,
        16,
    )
)


def _groups(staff: Staff) -> list[tuple[str, str]]:
    """The groups this staff member may filter by."""
    return [(r.value, str(ROLE_LABELS[r])) for r in svc.HANDLER_ROLES if r in staff.roles]


def _queue_statement(staff: Staff) -> tuple[Select[Any], dict[str, str]]:
    args = request.args
    chosen = {
        "status": args.get("status", "open")[:20],
        "type": args.get("type", "")[:10],
        "group": args.get("group", "")[:20],
        "overdue": "1" if args.get("overdue") == "1" else "",
        "mine": "1" if args.get("mine") == "1" else "",
        "q": args.get("q", "").strip()[:40],
    }
    stmt = select(InmateRequest).where(visible_requests_clause(staff))
    if chosen["status"] == "open":
        stmt = stmt.where(InmateRequest.is_open.is_(True))
    elif chosen["status"] in {s.value for s in Status}:
        stmt = stmt.where(InmateRequest.status == Status(chosen["status"]))
    else:
        chosen["status"] = "all"
    if chosen["type"].isdigit():
        stmt = stmt.where(InmateRequest.type_id == int(chosen["type"]))
    if chosen["group"] in {r.value for r in staff.roles}:
        stmt = stmt.where(InmateRequest.group_role == Role(chosen["group"]))
    if chosen["overdue"]:
        stmt = stmt.where(InmateRequest.is_open.is_(True), InmateRequest.reply_by < _today())
    if chosen["mine"]:
        stmt = stmt.where(InmateRequest.escalated_to_id == staff.id)
    else:
        # The groups' own queue; what was escalated to me from elsewhere is under "mine".
        # (Also lets the database walk the queue index in order instead of sorting.)
        stmt = stmt.where(request_groups_clause(staff))
    if chosen["q"]:
        query = chosen["q"]
        stmt = stmt.where(
            (InmateRequest.receipt_number == query.upper())
            | InmateRequest.inmate_id.in_(
                select(Inmate.id).where(
                    Inmate.booking_number == inmate_service.normalize_booking(query)
                )
            )
        )
    # Oldest reply-by first: overdue requests lead, then the oldest submitted.
    stmt = stmt.order_by(InmateRequest.reply_by, InmateRequest.id)
    return stmt, chosen


@bp.get("/")
@access.staff(Perm.REQUEST_HANDLE)
def index() -> str:
    """My groups' requests, most urgent first."""
    staff = me()
    stmt, chosen = _queue_statement(staff)
    page = paginate(db(), stmt)
    types = list(db().scalars(select(RequestType).order_by(RequestType.position, RequestType.id)))
    return render_template(
        "requests/index.html",
        page=page,
        chosen=chosen,
        types=types,
        groups=_groups(staff),
        labels=STATUS_LABELS,
        role_labels=ROLE_LABELS,
        today=_today(),
        localized=svc.localized,
    )


def _visible(request_id: int) -> InmateRequest:
    req = db().get(InmateRequest, request_id)
    if req is None:
        raise NotFound()
    require(me(), Perm.REQUEST_HANDLE, req)
    return req


def _forward_choices(req: InmateRequest) -> list[tuple[str, str]]:
    scope = facility_scope(me())
    stmt = select(Facility).order_by(Facility.name)
    facilities = list(db().scalars(stmt))
    out = []
    for facility in facilities:
        if scope is not None and facility.id not in scope and facility.id != req.facility_id:
            continue
        for role in svc.HANDLER_ROLES:
            if not svc.may_receive(role, req.sensitivity):
                continue
            if role is req.group_role and facility.id == req.group_facility_id:
                continue
            out.append((f"{role.value}:{facility.id}", f"{ROLE_LABELS[role]}, {facility.name}"))
    return out


def _status_choices(req: InmateRequest) -> list[tuple[str, str]]:
    return [
        (s.value, str(STATUS_LABELS[s.value]))
        for s in Status
        if s in svc.TRANSITIONS[req.status] and s is not Status.WITHDRAWN
    ]


def _staff_choices(req: InmateRequest) -> list[tuple[int, str]]:
    rows = db().scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name))
    return [
        (s.id, f"{s.name} ({s.username})")
        for s in rows
        if s.all_facilities or req.facility_id in s.facility_ids
    ]


def _detail(req: InmateRequest, http_status: int = 200, **forms: Any) -> ResponseReturnValue:
    session = db()
    vault = get_state().vault
    reply_form = forms.get("reply") or TextForm(prefix="reply")
    note_form = forms.get("note") or TextForm(prefix="note")
    status_form = forms.get("status") or StatusForm(prefix="status")
    status_form.status.choices = _status_choices(req)
    forward_form = forms.get("forward") or ForwardForm(prefix="forward")
    forward_form.group.choices = _forward_choices(req)
    appointment_form = forms.get("appointment") or AppointmentForm(prefix="appointment")
    name_form = forms.get("name_staff") or NameStaffForm(prefix="name")
    if req.sensitivity is Sensitivity.COMPLAINT:
        name_form.staff.choices = _staff_choices(req)
    events = svc.all_events(session, req)
    facilities = {f.id: f for f in session.scalars(select(Facility))}
    html = render_template(
        "requests/show.html",
        req=req,
        answers=svc.answers_of(req, vault),
        events=[(e, svc.body_of(e, vault)) for e in events],
        appointments=svc.appointments_of(session, req, vault)
        if req.sensitivity is Sensitivity.HEALTH
        else [],
        reply_form=reply_form,
        note_form=note_form,
        status_form=status_form,
        forward_form=forward_form,
        appointment_form=appointment_form,
        name_form=name_form,
        error=forms.get("error"),
        labels=STATUS_LABELS,
        role_labels=ROLE_LABELS,
        event_labels=EVENT_LABELS,
        sensitivity_labels=SENSITIVITY_LABELS,
        facilities=facilities,
        today=_today(),
        answer_text=svc.answer_text,
        localized=svc.localized,
    )
    response = make_response(html, http_status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<id:request_id>")
@access.staff(Perm.REQUEST_HANDLE)
def show(request_id: int) -> ResponseReturnValue:
    """One request, its whole timeline and what can be done with it."""
    req = _visible(request_id)
    svc.record_read(db(), actor=actor(), req=req, now=now())
    return _detail(req)


def _done(req: InmateRequest, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("requests.show", request_id=req.id), 303)


def _failed(req: InmateRequest, name: str, form: Any, exc: DomainError) -> ResponseReturnValue:
    target = getattr(form, exc.field or "", None) if exc.field else None
    if target is not None:
        target.errors = [*target.errors, exc.message]
        return _detail(req, exc.status, **{name: form})
    return _detail(req, exc.status, **{name: form, "error": exc.message})


@bp.post("/<id:request_id>/reply")
@access.staff(Perm.REQUEST_HANDLE)
def reply(request_id: int) -> ResponseReturnValue:
    """A message the inmate reads."""
    req = _visible(request_id)
    form = TextForm(prefix="reply")
    if not form.validate():
        return _detail(req, 422, reply=form)
    try:
        svc.reply(
            db(),
            actor=actor(),
            vault=get_state().vault,
            staff=me(),
            request_id=req.id,
            text=form.body.data,
            now=now(),
        )
    except DomainError as exc:
        return _failed(req, "reply", form, exc)
    return _done(req, _("The reply was sent to the inmate."))


@bp.post("/<id:request_id>/note")
@access.staff(Perm.REQUEST_HANDLE)
def note(request_id: int) -> ResponseReturnValue:
    """An internal note."""
    req = _visible(request_id)
    form = TextForm(prefix="note")
    if not form.validate():
        return _detail(req, 422, note=form)
    try:
        svc.note(
            db(),
            actor=actor(),
            vault=get_state().vault,
            staff=me(),
            request_id=req.id,
            text=form.body.data,
            now=now(),
        )
    except DomainError as exc:
        return _failed(req, "note", form, exc)
    return _done(req, _("The note was saved. The inmate does not see it."))


def _parse_moment(date_text: str | None, time_text: str | None) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat((date_text or "").strip())
        clock = dt.time.fromisoformat((time_text or "").strip())
    except ValueError:
        return None
    if not 2000 <= day.year <= 2100:
        return None
    zone = ZoneInfo(get_state().settings.timezone)
    return dt.datetime.combine(day, clock, tzinfo=zone).astimezone(dt.UTC)


@bp.post("/<id:request_id>/status")
@access.staff(Perm.REQUEST_HANDLE)
def change_status(request_id: int) -> ResponseReturnValue:
    """A new status; refusals, questions and answers carry their message."""
    req = _visible(request_id)
    form = StatusForm(prefix="status")
    form.status.choices = _status_choices(req)
    if not form.validate():
        if form.status.errors:
            form.status.errors = [_("Choose a status from the list.")]
        return _detail(req, 422, status=form)
    data: dict[str, Any] = {}
    if form.visit_date.data:
        moment = _parse_moment(form.visit_date.data, form.visit_time.data)
        if moment is None:
            form.visit_date.errors = [_("Write the date as 2026-12-24 and the time as 14:30.")]
            return _detail(req, 422, status=form)
        data["visit_at"] = moment
    try:
        svc.change_status(
            db(),
            actor=actor(),
            vault=get_state().vault,
            staff=me(),
            request_id=req.id,
            to=Status(form.status.data),
            text=form.body.data,
            now=now(),
            effect_data=data,
        )
    except DomainError as exc:
        if exc.field == "visit_at":
            form.visit_date.errors = [exc.message]
            return _detail(req, exc.status, status=form)
        return _failed(req, "status", form, exc)
    return _done(req, _("The status was changed."))


@bp.post("/<id:request_id>/forward")
@access.staff(Perm.REQUEST_HANDLE)
def forward(request_id: int) -> ResponseReturnValue:
    """Hand the request to another group with a comment."""
    req = _visible(request_id)
    form = ForwardForm(prefix="forward")
    form.group.choices = _forward_choices(req)
    if not form.validate():
        if form.group.errors:
            form.group.errors = [_("Choose a group from the list.")]
        return _detail(req, 422, forward=form)
    role_text, _sep, facility_text = (form.group.data or "").partition(":")
    facility = db().get(Facility, int(facility_text))
    if facility is None:
        raise NotFound()
    try:
        svc.forward(
            db(),
            actor=actor(),
            vault=get_state().vault,
            staff=me(),
            request_id=req.id,
            role=Role(role_text),
            facility=facility,
            text=form.body.data,
            now=now(),
        )
    except DomainError as exc:
        return _failed(req, "forward", form, exc)
    flash(_("The request was forwarded."), "success")
    after = db().get(InmateRequest, req.id)
    if after is not None and can(me(), Perm.REQUEST_HANDLE, after):
        return redirect(url_for("requests.show", request_id=req.id), 303)
    return redirect(url_for("requests.index"), 303)


@bp.post("/<id:request_id>/appointment")
@access.staff(Perm.REQUEST_HANDLE)
def appointment(request_id: int) -> ResponseReturnValue:
    """Record an external appointment; the inmate only learns that one exists."""
    req = _visible(request_id)
    form = AppointmentForm(prefix="appointment")
    if not form.validate():
        return _detail(req, 422, appointment=form)
    moment = _parse_moment(form.date.data, form.time.data)
    if moment is None:
        form.date.errors = [_("Write the date as 2026-12-24 and the time as 14:30.")]
        return _detail(req, 422, appointment=form)
    try:
        svc.arrange_appointment(
            db(),
            actor=actor(),
            vault=get_state().vault,
            staff=me(),
            request_id=req.id,
            when=moment,
            place=form.place.data or "",
            note_text=form.note.data or "",
            now=now(),
        )
    except DomainError as exc:
        return _failed(req, "appointment", form, exc)
    return _done(req, _("The appointment is recorded. The inmate sees only that it is arranged."))


@bp.post("/<id:request_id>/named-staff")
@access.staff(Perm.REQUEST_HANDLE)
def name_staff(request_id: int) -> ResponseReturnValue:
    """Link the staff member a complaint is about: they can no longer see it."""
    req = _visible(request_id)
    form = NameStaffForm(prefix="name")
    form.staff.choices = _staff_choices(req) if req.sensitivity is Sensitivity.COMPLAINT else []
    if not form.validate():
        form.staff.errors = [_("Choose a staff member from the list.")]
        return _detail(req, 422, name_staff=form)
    named = db().get(Staff, form.staff.data)
    if named is None:
        raise NotFound()
    try:
        svc.name_staff(
            db(),
            actor=actor(),
            vault=get_state().vault,
            staff=me(),
            request_id=req.id,
            named=named,
            now=now(),
        )
    except DomainError as exc:
        return _failed(req, "name_staff", form, exc)
    return _done(req, _("Saved. That staff member cannot see this complaint."))


@bp.get("/<id:request_id>/events/<id:event_id>/print")
@access.staff(Perm.REQUEST_HANDLE)
def print_reply(request_id: int, event_id: int) -> ResponseReturnValue:
    """A reply on paper, for an inmate who cannot read it on a screen."""
    req = _visible(request_id)
    event = db().get(RequestEvent, event_id)
    if event is None or event.request_id != req.id or not event.visible_to_inmate:
        raise NotFound()
    svc.record_read(db(), actor=actor(), req=req, now=now(), what="print")
    html = render_template(
        "requests/print.html",
        req=req,
        event=event,
        body=svc.body_of(event, get_state().vault),
        facility=db().get(Facility, req.facility_id),
        labels=INMATE_STATUS_LABELS,
        localized=svc.localized,
        role_labels=ROLE_LABELS,
    )
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


# Paper requests ------------------------------------------------------------------


def _loggable_types() -> list[RequestType]:
    return list(
        db().scalars(
            select(RequestType)
            .where(RequestType.active.is_(True))
            .order_by(RequestType.position, RequestType.id)
        )
    )


@bp.route("/log", methods=["GET", "POST"])
@access.staff(Perm.REQUEST_HANDLE)
def log_paper() -> ResponseReturnValue:
    """Log a request an inmate handed in on paper: first the inmate and the kind."""
    form = LogForm()
    types = _loggable_types()
    form.type_id.choices = [(t.id, svc.localized(t.names)) for t in types]
    status = 200
    if request.method == "POST":
        if form.validate():
            booking = inmate_service.normalize_booking(form.booking_number.data or "")
            inmate = db().scalars(select(Inmate).where(Inmate.booking_number == booking)).first()
            if (
                inmate is None
                or inmate.status is not InmateStatus.ACTIVE
                or not in_scope(me(), inmate.facility_id)
            ):
                form.booking_number.errors = [_("No active inmate with this booking number.")]
                status = 422
            else:
                return redirect(
                    url_for("requests.log_form", inmate_id=inmate.id, type_id=form.type_id.data),
                    303,
                )
        else:
            status = 422
    return make_response(render_template("requests/log.html", form=form), status)


@bp.route("/log/<id:inmate_id>/<id:type_id>", methods=["GET", "POST"])
@access.staff(Perm.REQUEST_HANDLE)
def log_form(inmate_id: int, type_id: int) -> ResponseReturnValue:
    """Type in the paper slip; the request is recorded as handed in on paper."""
    inmate = db().get(Inmate, inmate_id)
    if (
        inmate is None
        or inmate.status is not InmateStatus.ACTIVE
        or not in_scope(me(), inmate.facility_id)
    ):
        raise NotFound()
    rtype = svc.offered_type(db(), type_id, inmate.facility_id)
    form = form_class(rtype)()
    status = 200
    error: Any = None
    if request.method == "GET":
        form.idem.data = svc.new_idempotency_key()
    elif not form.validate():
        status = 422
    else:
        raw = {spec["key"]: form["f_" + spec["key"]].data for spec in rtype.fields}
        try:
            result = svc.submit(
                db(),
                actor=actor(),
                vault=get_state().vault,
                inmate=inmate,
                rtype=rtype,
                raw=raw,
                idempotency_key=form.idem.data,
                now=now(),
                logged_by=me(),
            )
        except svc.InvalidAnswers as exc:
            for key, message in exc.errors.items():
                form["f_" + key].errors = [*form["f_" + key].errors, message]
            status = exc.status
        except svc.RequestError as exc:
            error = exc.message
            status = exc.status
        else:
            req = result.request
            flash(
                _(
                    "Logged. Receipt number %(receipt)s, answer by %(date)s. "
                    "Give the inmate the receipt number.",
                    receipt=req.receipt_number,
                    date=req.reply_by.isoformat(),
                ),
                "success",
            )
            if can(me(), Perm.REQUEST_HANDLE, req):
                return redirect(url_for("requests.show", request_id=req.id), 303)
            return redirect(url_for("requests.log_paper"), 303)
    html = render_template(
        "requests/log_form.html",
        form=form,
        rtype=rtype,
        inmate=inmate,
        fields=form_fields(form, rtype),
        error=error,
        localized=svc.localized,
    )
    return make_response(html, status)


# Approved phone contacts and visits ---------------------------------------------------


def _contacts_statement() -> Select[Any]:
    stmt = (
        select(PhoneContact)
        .join(Inmate, Inmate.id == PhoneContact.inmate_id)
        .where(PhoneContact.removed_at.is_(None))
        .order_by(Inmate.booking_number, PhoneContact.name, PhoneContact.id)
    )
    scope = facility_scope(me())
    if scope is not None:
        stmt = stmt.where(Inmate.facility_id.in_(scope))
    booking = request.args.get("booking", "").strip()[:40]
    if booking:
        stmt = stmt.where(Inmate.booking_number == inmate_service.normalize_booking(booking))
    return stmt


@bp.get("/contacts")
@access.staff(Perm.INMATE_VIEW, Perm.REQUEST_HANDLE)
def contacts() -> str:
    """Approved phone contacts of inmates in scope (from approved requests)."""
    page = paginate(db(), _contacts_statement())
    upcoming = (
        select(Visit)
        .where(Visit.starts_at >= now() - dt.timedelta(days=1))
        .order_by(Visit.starts_at)
        .limit(100)
    )
    scope = facility_scope(me())
    if scope is not None:
        upcoming = upcoming.where(
            Visit.inmate_id.in_(select(Inmate.id).where(Inmate.facility_id.in_(scope)))
        )
    visits = list(db().scalars(upcoming))
    return render_template(
        "requests/contacts.html",
        page=page,
        visits=visits,
        booking=request.args.get("booking", "")[:40],
    )


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.get("/contacts.csv")
@access.staff(Perm.INMATE_VIEW, Perm.REQUEST_HANDLE)
def contacts_csv() -> ResponseReturnValue:
    """The approved contact list for the phone system (CSV, UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["booking_number", "inmate", "contact", "relation", "number", "approved_at"])
    rows = 0
    for contact in db().scalars(_contacts_statement().execution_options(yield_per=1000)):
        writer.writerow(
            [
                _cell(contact.inmate.booking_number),
                _cell(contact.inmate.name),
                _cell(contact.name),
                _cell(contact.relation),
                contact.number,
                contact.approved_at.isoformat(),
            ]
        )
        rows += 1
    with unit_of_work(db()):
        audit.record(db(), "contacts.export", actor=actor(), at=now(), details={"rows": rows})
    response = make_response(buffer.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="phone-contacts.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
