"""Health check of the staff app."""

from __future__ import annotations

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from kiosk.web import access
from kiosk.web.context import db

bp = Blueprint("system", __name__)


@bp.get("/healthz")
@access.public
def health() -> ResponseReturnValue:
    """200 when the database answers."""
    db().execute(text("SELECT 1"))
    return Response("ok\n", mimetype="text/plain")
