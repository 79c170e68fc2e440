"""Terminal enrolment: a one-time code typed on the device once gives it its credential."""

from __future__ import annotations

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from kiosk.i18n import _l
from kiosk.services import terminals
from kiosk.web import access
from kiosk.web.context import db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("enrol", __name__, url_prefix="/terminal")


class EnrolForm(BaseForm):
    """The one-time code from staff."""

    code = StringField(
        _l("Enrolment code"),
        validators=[DataRequired(_l("Type the enrolment code.")), Length(max=20)],
        filters=[strip_filter],
    )


@bp.route("/enrol", methods=["GET", "POST"])
@access.public
@access.rate_limited("10/minute;30/hour")
def start() -> ResponseReturnValue:
    """Show whether this device is enrolled; take a code if it is not."""
    form = EnrolForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                terminal, credential = terminals.enrol(
                    db(),
                    code=form.code.data or "",
                    now=now(),
                    ip=request.remote_addr,
                    fingerprint=g.get("cert_fingerprint"),
                )
            except terminals.EnrolmentCodeInvalid as exc:
                form.code.errors = [exc.message]
                status = 422
            else:
                from kiosk import TERMINAL_COOKIE_AGE, terminal_cookie_name

                settings = get_state().settings
                response = make_response(redirect(url_for("auth.sign_in", enrolled=1)))
                response.set_cookie(
                    terminal_cookie_name(settings),
                    credential,
                    max_age=TERMINAL_COOKIE_AGE,
                    httponly=True,
                    secure=settings.https,
                    samesite="Strict",
                    path="/",
                )
                del terminal
                return response
        else:
            status = 422
    html = render_template("enrol/start.html", form=form, terminal=g.get("terminal"))
    return make_response(html, status)
