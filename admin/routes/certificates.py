"""Certificates of completion: staff check a code; teachers print what they issued."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from admin.helpers import visible
from admin.nav import NavItem, add_nav
from kiosk.i18n import _, _l
from kiosk.models import Certificate, Facility
from kiosk.security.policy import Perm
from kiosk.services import learning
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm

bp = Blueprint("certificates", __name__, url_prefix="/certificates")
add_nav(NavItem("certificates.check", _l("Check a certificate"), Perm.CERTIFICATE_CHECK, 45))


@bp.get("/check")
@access.staff(Perm.CERTIFICATE_CHECK)
@access.rate_limited("30/minute", methods=("GET",))  # codes are long; guessing is slowed too
def check() -> ResponseReturnValue:
    """Type a certificate's code: is it real, whose is it, for which course?"""
    code = request.args.get("code", "")[:40]
    cert = None
    looked = bool(code.strip())
    if looked:
        cert = learning.check_certificate(db(), actor=actor(), code=code, now=now())
    facility = db().get(Facility, cert.facility_id) if cert is not None else None
    status = 404 if looked and cert is None else 200
    return make_response(
        render_template(
            "certificates/check.html", code=code, cert=cert, looked=looked, facility=facility
        ),
        status,
    )


@bp.get("/<id:certificate_id>")
@access.staff(Perm.COURSE_MANAGE)
def show(certificate_id: int) -> str:
    """A certificate to print and hand over."""
    cert = visible(Certificate, certificate_id, Perm.COURSE_MANAGE)
    facility = db().get(Facility, cert.facility_id)
    return render_template("certificates/show.html", cert=cert, facility=facility)


@bp.post("/<id:certificate_id>/revoke")
@access.staff(Perm.COURSE_MANAGE)
def revoke(certificate_id: int) -> ResponseReturnValue:
    """Withdraw a certificate issued by mistake."""
    cert = visible(Certificate, certificate_id, Perm.COURSE_MANAGE)
    if BaseForm().validate():
        learning.revoke_certificate(db(), actor=actor(), certificate=cert, now=now())
        flash(_("The certificate is withdrawn: a check now says it is not valid."), "success")
    return redirect(url_for("certificates.show", certificate_id=cert.id), 303)
