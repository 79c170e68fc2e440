"""The portal as the system tests serve it, with one extra route that hands out media.

No area of the portal serves uploads yet; this route does what such a view must
(check access, then ``send_media``), so the tests can prove that nginx serves the
file through X-Accel-Redirect, with ranges, only after the app said yes.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort
from flask.typing import ResponseReturnValue

from kiosk import create_app
from kiosk.models import MediaFile
from kiosk.services.media import send_media
from kiosk.web import access
from kiosk.web.context import db
from kiosk.web.state import get_state

bp = Blueprint("system_test_media", __name__)


@bp.get("/test-media/<id:media_id>")
@access.inmate()
def media(media_id: int) -> ResponseReturnValue:
    """A file whose purpose is "inmates"; anything else is 404, as if it did not exist."""
    row = db().get(MediaFile, media_id)
    if row is None or row.purpose != "inmates":
        abort(404)
    settings = get_state().settings
    return send_media(
        row, instance_path=settings.instance_path, accel_prefix=settings.media_accel_prefix
    )


def create_portal() -> Flask:
    """The inmate portal with the media route added."""
    app = create_app()
    app.register_blueprint(bp)
    return app
