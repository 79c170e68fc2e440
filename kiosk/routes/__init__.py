"""Blueprints of the inmate portal. None of them is a staff page."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Attach every portal blueprint."""
    from kiosk.routes import (
        account,
        auth,
        enrol,
        home,
        learning,
        library,
        money,
        reader,
        requests,
        shop,
        system,
    )

    for module in (
        system,
        enrol,
        auth,
        home,
        account,
        requests,
        shop,
        money,
        reader,
        learning,
        library,
    ):
        app.register_blueprint(module.bp)
