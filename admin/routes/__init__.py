"""Blueprints of the staff app."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every staff-app blueprint."""
    from admin.routes import (
        account,
        accounts,
        audit,
        auth,
        certificates,
        commissary,
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
    # Commissary and money accounts (issue 4).
    for module in (commissary, accounts):
        app.register_blueprint(module.bp)
