"""Inmate sign-in and sign-out."""

from __future__ import annotations

from flask import (
    Blueprint,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import login_user
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from kiosk.i18n import _l
from kiosk.models import Inmate
from kiosk.security.sessions import ServerSession
from kiosk.services import inmate_auth
from kiosk.web import access
from kiosk.web.context import db, now, user
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("auth", __name__)


class SignInForm(BaseForm):
    """Booking number and PIN."""

    booking_number = StringField(
        _l("Booking number"),
        validators=[
            DataRequired(_l("Type your booking number.")),
            Length(max=Inmate.BOOKING_MAX, message=_l("The booking number is too long.")),
        ],
        filters=[strip_filter],
    )
    pin = PasswordField(
        _l("PIN"),
        validators=[
            DataRequired(_l("Type your PIN.")),
            Length(min=6, max=6, message=_l("The PIN has 6 digits.")),
        ],
    )


@bp.route("/sign-in", methods=["GET", "POST"])
@access.terminal
@access.rate_limited("15/minute")
def sign_in() -> ResponseReturnValue:
    """The sign-in page of an enrolled terminal."""
    if isinstance(user(), Inmate):
        return redirect(url_for("home.index"))
    form = SignInForm()
    status = 200
    error = None
    terminal = g.terminal
    if request.method == "POST":
        if form.validate():
            state = get_state()
            try:
                inmate = inmate_auth.sign_in(
                    db(),
                    hasher=state.hasher,
                    pepper=state.secrets.pin_pepper,
                    terminal_id=terminal.id,
                    booking_number=form.booking_number.data or "",
                    pin=form.pin.data or "",
                    now=now(),
                    ip=request.remote_addr,
                )
            except inmate_auth.SignInError as exc:
                error = exc.message
                status = exc.status
            else:
                lang = inmate.preferred_language
                session.clear()
                session["terminal_id"] = terminal.id
                session["lang"] = lang
                login_user(inmate)
                current = session
                if isinstance(current, ServerSession):
                    current.regenerate()
                return redirect(url_for("home.index"))
        else:
            status = 422
        form.pin.data = ""
    html = render_template(
        "auth/sign_in.html",
        form=form,
        error=error,
        terminal=terminal,
        enrolled=request.args.get("enrolled") == "1",
    )
    return make_response(html, status)


@bp.post("/sign-out")
@access.terminal
def sign_out() -> ResponseReturnValue:
    """End the session (a POST form: a link or a prefetch cannot sign anyone out)."""
    from flask import flash

    from kiosk import end_inmate_session

    if isinstance(user(), Inmate):
        end_inmate_session("signed out")
        flash(str(_l("You are signed out. Thank you.")), "success")
    return redirect(url_for("auth.sign_in"))
