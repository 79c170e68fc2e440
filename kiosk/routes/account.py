"""The inmate's own account: choose a PIN, choose a language."""

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
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from kiosk.i18n import _l
from kiosk.models import Inmate
from kiosk.security.passwords import WeakSecret
from kiosk.security.sessions import ServerSession
from kiosk.services import inmates
from kiosk.web import access
from kiosk.web.context import actor, db, now, user
from kiosk.web.forms import BaseForm, safe_next
from kiosk.web.state import get_state

bp = Blueprint("account", __name__, url_prefix="/account")


class PinForm(BaseForm):
    """Current PIN, new PIN twice."""

    current_pin = PasswordField(
        _l("Your current PIN"),
        validators=[
            DataRequired(_l("Type your current PIN.")),
            Length(max=6, message=_l("The PIN has 6 digits.")),
        ],
    )
    pin = PasswordField(
        _l("New PIN (6 digits)"),
        validators=[
            DataRequired(_l("Type a new PIN.")),
            Length(max=6, message=_l("The PIN has 6 digits.")),
        ],
    )
    pin_again = PasswordField(
        _l("New PIN again"),
        validators=[
            DataRequired(_l("Type the new PIN again.")),
            EqualTo("pin", message=_l("The two new PINs are not the same.")),
        ],
    )


class LanguageForm(BaseForm):
    """The language chosen with a button."""

    lang = HiddenField(validators=[DataRequired()])
    next = HiddenField()


@bp.get("/")
@access.inmate()
def index() -> str:
    """Account overview."""
    return render_template("account/index.html", inmate=user())


@bp.route("/pin", methods=["GET", "POST"])
@access.inmate()
@access.rate_limited("10/minute")
def pin() -> ResponseReturnValue:
    """Choose your own PIN."""
    form = PinForm()
    status = 200
    inmate = user()
    assert isinstance(inmate, Inmate)  # noqa: S101 - the route is for inmates only
    if request.method == "POST":
        if form.validate():
            current = session
            try:
                inmates.change_pin(
                    db(),
                    actor=actor(),
                    hasher=get_state().hasher,
                    inmate=inmate,
                    current_pin=form.current_pin.data or "",
                    new=form.pin.data or "",
                    now=now(),
                    keep_session_id=current.record_id
                    if isinstance(current, ServerSession)
                    else None,
                )
            except (inmates.InmateError, WeakSecret) as exc:
                target = form.current_pin if exc.field == "current_pin" else form.pin
                target.errors = [exc.message]
                status = exc.status
            else:
                flash(str(_l("Your new PIN is saved. Use it next time you sign in.")), "success")
                return redirect(url_for("account.index"))
        else:
            status = 422
    for field in (form.current_pin, form.pin, form.pin_again):
        field.data = ""
    return make_response(render_template("account/pin.html", form=form), status)


@bp.post("/language")
@access.public  # also on the enrolment page of a device that is not set up yet
def language() -> ResponseReturnValue:
    """Switch language (before and after sign-in); remembered for the inmate."""
    form = LanguageForm()
    settings = get_state().settings
    if not form.validate() or form.lang.data not in settings.languages:
        return make_response(redirect(url_for("home.index")), 303)
    lang = form.lang.data
    session["lang"] = lang
    inmate = user()
    if isinstance(inmate, Inmate):
        inmates.set_language(db(), actor=actor(), inmate=inmate, language=lang, now=now())
    target = safe_next(form.next.data, url_for("home.index"))
    return make_response(redirect(target), 303)
