"""The inmate's requests: choose a type, fill its form, follow the answers, add, withdraw."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms import TextAreaField

from kiosk.errors import NotFound
from kiosk.i18n import _, _l
from kiosk.models import Inmate
from kiosk.models.requests import InmateRequest, PhoneContact, RequestType, Visit
from kiosk.routes.tiles import Tile, register_tile
from kiosk.services import requests as svc
from kiosk.web import access
from kiosk.web.context import actor, db, now, user
from kiosk.web.forms import BaseForm
from kiosk.web.request_forms import INMATE_STATUS_LABELS, form_class, form_fields
from kiosk.web.state import get_state

bp = Blueprint("requests", __name__, url_prefix="/requests")

register_tile(
    Tile(
        endpoint="requests.index",
        title=_l("Requests"),
        description=_l("Ask for healthcare, a visit, a haircut and more. Follow the answers."),
        icon="form",
        order=100,
    )
)

PER_PAGE = 20

STATUS_LABELS = INMATE_STATUS_LABELS


class TextForm(BaseForm):
    """One text: information the inmate adds."""

    body = TextAreaField(_l("Your information"))


class EmptyForm(BaseForm):
    """A button with CSRF protection."""


def _inmate() -> Inmate:
    who = user()
    if not isinstance(who, Inmate):
        raise NotFound()
    return who


@dataclass
class Page:
    """One page of a list."""

    items: list[Any]
    number: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        """True after the first page."""
        return self.number > 1


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        return 1
    return max(int(raw), 1)


@bp.get("/")
@access.inmate()
def index() -> str:
    """My requests, newest first, a page at a time."""
    inmate = _inmate()
    number = _page_number()
    # Only the columns the list shows, as plain rows: no answers, no staff, no ORM objects
    # (a third of this page's time went into building objects it never used).
    rows = list(
        db().execute(
            select(
                InmateRequest.id,
                InmateRequest.receipt_number,
                InmateRequest.submitted_at,
                InmateRequest.status,
                InmateRequest.is_open,
                InmateRequest.reply_by,
                RequestType.names.label("type_names"),
            )
            .join(RequestType, RequestType.id == InmateRequest.type_id)
            .where(InmateRequest.inmate_id == inmate.id)
            .order_by(InmateRequest.submitted_at.desc(), InmateRequest.id.desc())
            .limit(PER_PAGE + 1)
            .offset((number - 1) * PER_PAGE)
        )
    )
    page = Page(rows[:PER_PAGE], number, len(rows) > PER_PAGE)
    today = svc.local_date(now(), inmate.facility.timezone)
    return render_template(
        "requests/index.html", page=page, labels=STATUS_LABELS, today=today, localized=svc.localized
    )


@bp.get("/new")
@access.inmate()
def choose() -> str:
    """The kinds of request this inmate may make."""
    inmate = _inmate()
    types = svc.offered_types(db(), inmate.facility_id)
    return render_template("requests/choose.html", types=types, localized=svc.localized)


@bp.route("/new/<id:type_id>", methods=["GET", "POST"])
@access.inmate()
@access.rate_limited("20/minute")
def new(type_id: int) -> ResponseReturnValue:
    """Fill the form of one type; the receipt comes at once."""
    inmate = _inmate()
    session = db()
    rtype = svc.offered_type(session, type_id, inmate.facility_id)
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
                session,
                actor=actor(),
                vault=get_state().vault,
                inmate=inmate,
                rtype=rtype,
                raw=raw,
                idempotency_key=form.idem.data,
                now=now(),
            )
        except svc.InvalidAnswers as exc:
            for key, message in exc.errors.items():
                form["f_" + key].errors = [*form["f_" + key].errors, message]
            status = exc.status
        except svc.RequestError as exc:
            error = exc.message
            status = exc.status
        else:
            if result.created:
                flash(
                    _(
                        "Your request is sent. Receipt number %(receipt)s. Answer by %(date)s.",
                        receipt=result.request.receipt_number,
                        date=result.request.reply_by.isoformat(),
                    ),
                    "success",
                )
            return redirect(url_for("requests.show", request_id=result.request.id), 303)
    html = render_template(
        "requests/new.html",
        form=form,
        rtype=rtype,
        fields=form_fields(form, rtype),
        error=error,
        localized=svc.localized,
    )
    return make_response(html, status)


def _show(
    req: InmateRequest, text_form: TextForm, status: int = 200, error: Any = None
) -> ResponseReturnValue:
    session = db()
    vault = get_state().vault
    inmate = _inmate()
    events = svc.inmate_events(session, req)
    html = render_template(
        "requests/show.html",
        req=req,
        answers=svc.answers_of(req, vault),
        events=[(e, svc.body_of(e, vault)) for e in events],
        labels=STATUS_LABELS,
        text_form=text_form,
        action_form=EmptyForm(),
        error=error,
        today=svc.local_date(now(), inmate.facility.timezone),
        answer_text=svc.answer_text,
        localized=svc.localized,
    )
    response = make_response(html, status)
    # Health and complaint contents are not kept in a shared terminal's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<id:request_id>")
@access.inmate()
def show(request_id: int) -> ResponseReturnValue:
    """One of my requests: what I wrote, its status and the answers."""
    inmate = _inmate()
    req = svc.own_request(db(), inmate, request_id)
    svc.record_read(db(), actor=actor(), req=req, now=now())
    return _show(req, TextForm())


@bp.post("/<id:request_id>/info")
@access.inmate()
def add_info(request_id: int) -> ResponseReturnValue:
    """Add information (when staff asked for it, or anything that helps)."""
    inmate = _inmate()
    req = svc.own_request(db(), inmate, request_id)
    form = TextForm()
    if not form.validate():
        return _show(req, form, 422)
    try:
        svc.add_information(
            db(),
            actor=actor(),
            vault=get_state().vault,
            inmate=inmate,
            request_id=req.id,
            text=form.body.data,
            now=now(),
        )
    except svc.RequestError as exc:
        if exc.field == "body":
            form.body.errors = [exc.message]
            return _show(req, form, exc.status)
        return _show(req, form, exc.status, error=exc.message)
    flash(_("Your information was added to the request."), "success")
    return redirect(url_for("requests.show", request_id=req.id), 303)


@bp.post("/<id:request_id>/withdraw")
@access.inmate()
def withdraw(request_id: int) -> ResponseReturnValue:
    """Take back an open request."""
    inmate = _inmate()
    req = svc.own_request(db(), inmate, request_id)
    form = EmptyForm()
    if not form.validate():
        return _show(req, TextForm(), 400, error=_("The form had expired. Please try again."))
    try:
        svc.withdraw(
            db(),
            actor=actor(),
            vault=get_state().vault,
            inmate=inmate,
            request_id=req.id,
            now=now(),
        )
    except svc.RequestError as exc:
        return _show(req, TextForm(), exc.status, error=exc.message)
    flash(_("The request is withdrawn."), "success")
    return redirect(url_for("requests.show", request_id=req.id), 303)


@bp.get("/contacts")
@access.inmate()
def contacts() -> str:
    """My approved phone contacts and my booked visits."""
    inmate = _inmate()
    rows = list(
        db().scalars(
            select(PhoneContact)
            .where(PhoneContact.inmate_id == inmate.id, PhoneContact.removed_at.is_(None))
            .order_by(PhoneContact.name, PhoneContact.id)
            .limit(200)
        )
    )
    visits = list(
        db().scalars(
            select(Visit)
            .where(Visit.inmate_id == inmate.id, Visit.starts_at >= now() - dt.timedelta(days=1))
            .order_by(Visit.starts_at)
            .limit(50)
        )
    )
    return render_template("requests/contacts.html", contacts=rows, visits=visits)
