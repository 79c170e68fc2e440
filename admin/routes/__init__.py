"""Blueprints of the staff app."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every staff-app blueprint."""
    from admin.routes import (
        account,
        audit,
        auth,
        certificates,
        courses,
        dashboard,
        inmates,
        places,
        request_types,
        requests,
        staff,
        system,
        terminals,
        whitelist,
    )

    for module in (
        system,
        auth,
        dashboard,
        account,
        staff,
        inmates,
        terminals,
        places,
        audit,
        whitelist,
        courses,
        certificates,
    ):
        app.register_blueprint(module.bp)
    for module in (requests, request_types):  # requests (issue 5)
        app.register_blueprint(module.bp)
