"""Blueprints of the staff app."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every staff-app blueprint."""
    from admin.routes import (
        account,
        audit,
        auth,
        dashboard,
        inmates,
        places,
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
    ):
        app.register_blueprint(module.bp)
