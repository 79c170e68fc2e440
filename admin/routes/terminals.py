"""Terminals: enrol (a one-time code), re-enrol, revoke, unlock, certificate fingerprint."""

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
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from admin.helpers import me, paginate, visible
from admin.nav import NavItem, add_nav
from kiosk.errors import NotFound
from kiosk.i18n import _, _l
from kiosk.models import Facility, Terminal, Unit, WebSession
from kiosk.security.policy import Perm, can, facility_scope, in_scope
from kiosk.services import terminals
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("terminals", __name__, url_prefix="/terminals")
add_nav(NavItem("terminals.index", _l("Terminals"), Perm.TERMINAL_VIEW, 40))


class TerminalForm(BaseForm):
    """A new terminal."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Give the terminal a name.")), Length(max=Terminal.NAME_MAX)],
        filters=[strip_filter],
    )
    unit = SelectField(_l("Unit"), coerce=int, validate_choice=True)


class FingerprintForm(BaseForm):
    """The client certificate's SHA-256 fingerprint."""

    fingerprint = StringField(
        _l("Certificate fingerprint (SHA-256)"),
        validators=[Optional(), Length(max=100)],
        filters=[strip_filter],
    )


def _unit_choices() -> list[tuple[int, str]]:
    scope = facility_scope(me())
    stmt = select(Unit).join(Facility).order_by(Facility.name, Unit.code)
    if scope is not None:
        stmt = stmt.where(Unit.facility_id.in_(scope))
    return [(u.id, f"{u.facility.name}: {u.name} ({u.code})") for u in db().scalars(stmt)]


@bp.get("/")
@access.staff(Perm.TERMINAL_VIEW)
def index() -> str:
    """Terminals in scope."""
    stmt = select(Terminal).join(Unit).order_by(Unit.facility_id, Unit.code, Terminal.name)
    scope = facility_scope(me())
    if scope is not None:
        stmt = stmt.where(Unit.facility_id.in_(scope))
    return render_template("terminals/index.html", page=paginate(db(), stmt), now=now())


@bp.route("/new", methods=["GET", "POST"])
@access.staff(Perm.TERMINAL_MANAGE)
def new() -> ResponseReturnValue:
    """Create a terminal; its one-time enrolment code is shown once."""
    form = TerminalForm()
    form.unit.choices = _unit_choices()
    status = 200
    if request.method == "POST":
        if form.validate():
            unit = db().get(Unit, form.unit.data)
            if unit is None or not in_scope(me(), unit.facility_id):
                raise NotFound()
            try:
                created, code = terminals.create_terminal(
                    db(),
                    actor=actor(),
                    name=form.name.data or "",
                    unit=unit,
                    now=now(),
                    code_hours=get_state().settings.enrolment_code_hours,
                )
            except terminals.TerminalError as exc:
                form.name.errors = [exc.message]
                status = exc.status
            else:
                html = render_template(
                    "terminals/code.html",
                    terminal=created,
                    code=code,
                    hours=get_state().settings.enrolment_code_hours,
                )
                return make_response(html, 201)
        else:
            status = 422
    return make_response(render_template("terminals/new.html", form=form), status)


@bp.get("/<id:terminal_id>")
@access.staff(Perm.TERMINAL_VIEW)
def show(terminal_id: int) -> str:
    """One terminal."""
    terminal = visible(Terminal, terminal_id, Perm.TERMINAL_VIEW)
    sessions = list(
        db().scalars(
            select(WebSession).where(
                WebSession.terminal_id == terminal.id, WebSession.ended_at.is_(None)
            )
        )
    )
    form = FingerprintForm(data={"fingerprint": terminal.cert_fingerprint or ""})
    return render_template(
        "terminals/show.html",
        terminal=terminal,
        sessions=sessions,
        form=form,
        now=now(),
        may_manage=can(me(), Perm.TERMINAL_MANAGE, terminal),
    )


def _managed(terminal_id: int) -> Terminal:
    return visible(Terminal, terminal_id, Perm.TERMINAL_MANAGE)


@bp.post("/<id:terminal_id>/code")
@access.staff(Perm.TERMINAL_MANAGE)
def code(terminal_id: int) -> ResponseReturnValue:
    """A new one-time code (re-enrolment: the old device credential stops when it is used)."""
    terminal = _managed(terminal_id)
    hours = get_state().settings.enrolment_code_hours
    new_code = terminals.issue_enrolment_code(
        db(), actor=actor(), terminal=terminal, now=now(), code_hours=hours
    )
    return make_response(
        render_template("terminals/code.html", terminal=terminal, code=new_code, hours=hours)
    )


@bp.post("/<id:terminal_id>/revoke")
@access.staff(Perm.TERMINAL_MANAGE)
def revoke(terminal_id: int) -> ResponseReturnValue:
    """The credential stops working now; sessions on the terminal end."""
    terminals.revoke(db(), actor=actor(), terminal=_managed(terminal_id), now=now())
    flash(
        _("The terminal is revoked. Nobody can sign in on it until it is enrolled again."),
        "success",
    )
    return redirect(url_for("terminals.show", terminal_id=terminal_id))


@bp.post("/<id:terminal_id>/unlock")
@access.staff(Perm.TERMINAL_MANAGE)
def unlock(terminal_id: int) -> ResponseReturnValue:
    """Lift the lock after failed sign-ins on many accounts."""
    terminals.unlock(db(), actor=actor(), terminal=_managed(terminal_id), now=now())
    flash(_("The terminal is unlocked."), "success")
    return redirect(url_for("terminals.show", terminal_id=terminal_id))


@bp.post("/<id:terminal_id>/certificate")
@access.staff(Perm.TERMINAL_MANAGE)
def certificate(terminal_id: int) -> ResponseReturnValue:
    """Record the fingerprint of the terminal's client certificate (empty: clear it)."""
    terminal = _managed(terminal_id)
    form = FingerprintForm()
    raw = (form.fingerprint.data or "") if form.validate() else None
    fingerprint = terminals.normalize_fingerprint(raw) if raw else None
    if raw is None or (raw and fingerprint is None):
        flash(_("A fingerprint is 64 hexadecimal characters (colons allowed)."), "error")
        return make_response(redirect(url_for("terminals.show", terminal_id=terminal_id)), 303)
    terminals.set_fingerprint(
        db(), actor=actor(), terminal=terminal, fingerprint=fingerprint, now=now()
    )
    flash(_("The certificate fingerprint was saved."), "success")
    return redirect(url_for("terminals.show", terminal_id=terminal_id))
