"""The signed-in staff member's own account: password, language, sessions, recovery codes."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from admin.helpers import me
from kiosk.db import unit_of_work
from kiosk.errors import NotFound
from kiosk.i18n import _, _l
from kiosk.models import WebSession
from kiosk.security.passwords import PASSWORD_MAX, WeakSecret
from kiosk.security.sessions import ServerSession, end_sessions
from kiosk.services import audit
from kiosk.services import staff as staff_service
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, safe_next
from kiosk.web.state import get_state

bp = Blueprint("account", __name__, url_prefix="/account")


class ChangePasswordForm(BaseForm):
    """Current password and a new one, twice."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Type your current password.")), Length(max=PASSWORD_MAX)],
    )
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Type a new password.")), Length(max=PASSWORD_MAX)],
    )
    password_again = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Type the new password again.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )


class LanguageForm(BaseForm):
    """The language chosen with a button."""

    lang = HiddenField(validators=[DataRequired()])
    next = HiddenField()


def _current_session_id() -> int | None:
    current = session
    return current.record_id if isinstance(current, ServerSession) else None


def _open_sessions() -> list[WebSession]:
    return list(
        db().scalars(
            select(WebSession)
            .where(WebSession.staff_id == me().id, WebSession.ended_at.is_(None))
            .order_by(WebSession.last_seen_at.desc())
        )
    )


@bp.route("/", methods=["GET", "POST"])
@access.staff()
def index() -> ResponseReturnValue:
    """Own account page; the form on it changes the password."""
    form = ChangePasswordForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                staff_service.change_password(
                    db(),
                    actor=actor(),
                    hasher=get_state().hasher,
                    staff=me(),
                    current=form.current_password.data or "",
                    new=form.password.data or "",
                    now=now(),
                    keep_session_id=_current_session_id(),
                )
            except (staff_service.StaffError, WeakSecret) as exc:
                target = form.current_password if exc.field == "current_password" else form.password
                target.errors = [exc.message]
                status = exc.status
            else:
                flash(_("Your new password is saved. Your other sessions were ended."), "success")
                return redirect(url_for("account.index"))
        else:
            status = 422
    for field in (form.current_password, form.password, form.password_again):
        field.data = ""
    html = render_template(
        "account/index.html",
        form=form,
        sessions=_open_sessions(),
        current_session_id=_current_session_id(),
        codes_left=staff_service.unused_recovery_codes(db(), me()),
    )
    return make_response(html, status)


@bp.post("/sessions/<id:session_id>/end")
@access.staff()
def end_session(session_id: int) -> ResponseReturnValue:
    """End one of your own sessions (on another computer)."""
    row = db().get(WebSession, session_id)
    if row is None or row.staff_id != me().id or row.ended_at is not None:
        raise NotFound()
    with unit_of_work(db()):
        end_sessions(db(), now=now(), reason="ended by owner", session_id=session_id)
        audit.record(
            db(),
            "session.end",
            actor=actor(),
            object_type="session",
            object_id=session_id,
            at=now(),
        )
    flash(_("The session was ended."), "success")
    return redirect(url_for("account.index"))


@bp.post("/recovery-codes")
@access.staff()
def recovery_codes() -> ResponseReturnValue:
    """Make ten new recovery codes (the old ones stop working) and show them once."""
    codes = staff_service.new_recovery_codes(
        db(), actor=actor(), pepper=get_state().secrets.pin_pepper, staff=me(), now=now()
    )
    page = render_template("auth/recovery_codes.html", codes=codes, target=url_for("account.index"))
    return make_response(page)


@bp.post("/language")
@access.public
def language() -> ResponseReturnValue:
    """Switch language; remembered for the signed-in staff member."""
    form = LanguageForm()
    settings = get_state().settings
    if form.validate() and form.lang.data in settings.languages:
        session["lang"] = form.lang.data
        from kiosk.models import Staff
        from kiosk.web.context import user

        staff = user()
        if isinstance(staff, Staff) and staff.preferred_language != form.lang.data:
            with unit_of_work(db()):
                staff.preferred_language = form.lang.data
                audit.record(
                    db(),
                    "staff.language",
                    actor=actor(),
                    obj=staff,
                    at=now(),
                    details={"after": form.lang.data},
                )
    return make_response(redirect(safe_next(form.next.data, url_for("dashboard.index"))), 303)
