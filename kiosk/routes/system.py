"""Health check for nginx and monitoring."""

from __future__ import annotations

from flask import Blueprint, Response, g
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from kiosk.web import access
from kiosk.web.context import db
from kiosk.web.state import get_state

bp = Blueprint("system", __name__)


@bp.get("/timeout.css")
@access.public
def timeout_css() -> Response:
    """Times the idle warning and cover to this site's idle timeout (CSP allows no inline style)."""
    idle = get_state().settings.inmate_idle_seconds
    warn = max(idle - 60, 0)
    css = (
        f".timeout--warning{{animation-delay:{warn}s}}\n"
        f".timeout--cover{{animation-delay:{idle + 2}s}}\n"
    )
    g.cacheable = True
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/healthz")
@access.public
def health() -> ResponseReturnValue:
    """200 when the database answers; the error handler turns an outage into a 503."""
    db().execute(text("SELECT 1"))
    return Response("ok\n", mimetype="text/plain")
