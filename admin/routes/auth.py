"""Staff sign-in: password, then a TOTP code (QR enrolment the first time), then a new
password when a one-time password was used. Each step is a page; the state between
them lives in the server-side session for five minutes at most.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

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
from flask_login import login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from kiosk.i18n import _, _l
from kiosk.models import Staff
from kiosk.security import totp
from kiosk.security.passwords import PASSWORD_MAX, WeakSecret
from kiosk.security.sessions import ServerSession
from kiosk.services import audit
from kiosk.services import staff as staff_service
from kiosk.web import access
from kiosk.web.context import actor, db, now, user
from kiosk.web.forms import BaseForm, safe_next, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("auth", __name__)

PENDING = "pending_sign_in"
PENDING_FOR = dt.timedelta(minutes=5)


class PasswordForm(BaseForm):
    """User name and password."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Type your user name.")), Length(max=Staff.USERNAME_MAX)],
        filters=[strip_filter],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Type your password.")), Length(max=PASSWORD_MAX)],
    )


class CodeForm(BaseForm):
    """A TOTP code or a recovery code."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Type the code.")), Length(max=20)],
        filters=[strip_filter],
    )


class NewPasswordForm(BaseForm):
    """A new password, twice."""

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


def _server_session() -> ServerSession | None:
    current = session
    return current if isinstance(current, ServerSession) else None


def _pending(stage: str) -> dict[str, Any] | None:
    """The half-finished sign-in at ``stage``, if it is fresh."""
    data = session.get(PENDING)
    if not isinstance(data, dict) or data.get("stage") != stage:
        return None
    try:
        started = dt.datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        return None
    if now() - started > PENDING_FOR:
        session.pop(PENDING, None)
        return None
    return data


def _start_pending(staff: Staff, stage: str, **extra: Any) -> None:
    session.clear()
    session[PENDING] = {"staff_id": staff.id, "stage": stage, "at": now().isoformat(), **extra}
    current = _server_session()
    if current is not None:
        current.regenerate()


def _restart() -> WerkzeugResponse:
    flash(_("Please start again: sign-in steps must be finished within five minutes."), "info")
    return redirect(url_for("auth.sign_in"))


def _complete(staff: Staff, next_url: str | None) -> WerkzeugResponse:
    """All steps done: a fresh session for the signed-in staff member."""
    session.clear()
    session["lang"] = staff.preferred_language
    login_user(staff)
    current = _server_session()
    if current is not None:
        current.regenerate()
    return redirect(safe_next(next_url, url_for("dashboard.index")))


def _after_second_factor(staff: Staff, next_url: str | None) -> ResponseReturnValue:
    """Show new recovery codes if there are none left; then the password step or done."""
    state = get_state()
    codes: list[str] = []
    if staff_service.unused_recovery_codes(db(), staff) == 0:
        codes = staff_service.new_recovery_codes(
            db(), actor=actor_for(staff), pepper=state.secrets.pin_pepper, staff=staff, now=now()
        )
    if staff.must_change_password:
        _start_pending(staff, "password", next=next_url)
        response: WerkzeugResponse = redirect(url_for("auth.new_password"))
    else:
        response = _complete(staff, next_url)
    if codes:
        # Shown once, in this response only: they are stored hashed.
        page = render_template("auth/recovery_codes.html", codes=codes, target=response.location)
        return make_response(page)
    return response


def actor_for(staff: Staff) -> audit.Actor:
    """The audit actor of a staff member mid-sign-in."""
    return audit.Actor(kind="staff", id=staff.id, label=staff.username, ip=request.remote_addr)


@bp.route("/sign-in", methods=["GET", "POST"])
@access.public
@access.rate_limited("10/minute;60/hour")
def sign_in() -> ResponseReturnValue:
    """Step 1: user name and password."""
    if isinstance(user(), Staff):
        return redirect(url_for("dashboard.index"))
    form = PasswordForm()
    error = None
    status = 200
    next_url = request.args.get("next")
    if request.method == "POST":
        if form.validate():
            try:
                staff = staff_service.check_password_step(
                    db(),
                    hasher=get_state().hasher,
                    username=form.username.data or "",
                    password=form.password.data or "",
                    now=now(),
                    ip=request.remote_addr,
                )
            except staff_service.StaffError as exc:
                error = exc.message
                status = exc.status
            else:
                stage = "code" if staff.totp_secret else "enrol"
                _start_pending(staff, stage, next=next_url)
                return redirect(url_for("auth.code" if stage == "code" else "auth.setup"))
        else:
            status = 422
        form.password.data = ""
    html = render_template("auth/sign_in.html", form=form, error=error)
    return make_response(html, status)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@access.public
@access.rate_limited("10/minute;60/hour")
def code() -> ResponseReturnValue:
    """Step 2: the code from the authenticator app (or a recovery code)."""
    pending = _pending("code")
    if pending is None:
        return _restart()
    form = CodeForm()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate():
            state = get_state()
            try:
                staff = staff_service.check_second_factor(
                    db(),
                    vault=state.vault,
                    pepper=state.secrets.pin_pepper,
                    staff_id=int(pending["staff_id"]),
                    code=form.code.data or "",
                    now=now(),
                    ip=request.remote_addr,
                )
            except staff_service.StaffError as exc:
                error = exc.message
                status = exc.status
                if isinstance(exc, staff_service.StaffSignInFailed):
                    session.pop(PENDING, None)
            else:
                return _after_second_factor(staff, pending.get("next"))
        else:
            status = 422
        form.code.data = ""
    return make_response(render_template("auth/code.html", form=form, error=error), status)


@bp.route("/sign-in/setup", methods=["GET", "POST"])
@access.public
@access.rate_limited("10/minute;60/hour")
def setup() -> ResponseReturnValue:
    """Step 2, first time: scan the QR code, then prove it works with a code."""
    pending = _pending("enrol")
    if pending is None:
        return _restart()
    staff = db().get(Staff, int(pending["staff_id"]))
    if staff is None:
        return _restart()
    secret = pending.get("secret")
    if not isinstance(secret, str):
        secret = totp.new_secret()
        pending["secret"] = secret
        session[PENDING] = pending
    form = CodeForm()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                staff = staff_service.confirm_totp(
                    db(),
                    vault=get_state().vault,
                    staff_id=staff.id,
                    secret=secret,
                    code=form.code.data or "",
                    now=now(),
                    ip=request.remote_addr,
                )
            except staff_service.StaffError as exc:
                error = exc.message
                status = exc.status
            else:
                return _after_second_factor(staff, pending.get("next"))
        else:
            status = 422
        form.code.data = ""
    uri = totp.provisioning_uri(secret, staff.username, staff_service.ISSUER)
    qr = Markup(totp.qr_svg(uri, _("QR code for your authenticator app")))  # noqa: S704 - segno's own SVG
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    html = render_template("auth/setup.html", form=form, error=error, qr=qr, secret=spaced)
    return make_response(html, status)


@bp.route("/sign-in/new-password", methods=["GET", "POST"])
@access.public
@access.rate_limited("10/minute")
def new_password() -> ResponseReturnValue:
    """Step 3, after a one-time password: choose your own."""
    pending = _pending("password")
    if pending is None:
        return _restart()
    staff = db().get(Staff, int(pending["staff_id"]))
    if staff is None or not staff.active:
        return _restart()
    form = NewPasswordForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                staff_service.change_password(
                    db(),
                    actor=actor_for(staff),
                    hasher=get_state().hasher,
                    staff=staff,
                    current=None,
                    new=form.password.data or "",
                    now=now(),
                )
            except (staff_service.StaffError, WeakSecret) as exc:
                form.password.errors = [exc.message]
                status = exc.status
            else:
                flash(_("Your new password is saved."), "success")
                return _complete(staff, pending.get("next"))
        else:
            status = 422
    form.password.data = ""
    form.password_again.data = ""
    return make_response(render_template("auth/new_password.html", form=form), status)


@bp.post("/sign-out")
@access.public
def sign_out() -> ResponseReturnValue:
    """End the session."""
    staff = user()
    if isinstance(staff, Staff):
        from kiosk.db import unit_of_work

        with unit_of_work(db()):
            audit.record(db(), "staff.sign_out", actor=actor(), obj=staff, at=now())
    logout_user()
    current = _server_session()
    if current is not None:
        current.terminate("signed out")
    else:  # pragma: no cover
        session.clear()
    flash(_("You are signed out."), "success")
    return redirect(url_for("auth.sign_in"))
