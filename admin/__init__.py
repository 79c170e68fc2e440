"""The staff app: teachers, officers, specialists, security staff and administrators.

Its own factory, secret key, cookie, templates and static files; it uses the
kiosk domain (models, services, policy) but none of the portal's routes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, abort, flash, g, has_request_context, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, logout_user
from sqlalchemy import bindparam, select

from kiosk.clock import Clock
from kiosk.config import Settings
from kiosk.i18n import _l
from kiosk.models import Staff
from kiosk.security.policy import Perm, can
from kiosk.security.sessions import ServerSession
from kiosk.web.access import rule_for
from kiosk.web.base import apply_rate_limits, build_app, coerce_settings, limiter_for
from kiosk.web.context import user
from kiosk.web.state import get_state

__all__ = ["create_app"]

log = logging.getLogger(__name__)

ENDED_MESSAGES: dict[str, Any] = {
    "idle": _l("You were signed out after 15 minutes without activity."),
    "expired": _l("You were signed out because your session reached its 12-hour limit."),
    "inactive": _l("Your account is deactivated."),
}


def _select_locale() -> str:
    settings = get_state().settings
    if not has_request_context():
        return settings.default_language
    lang = session.get("lang")
    if isinstance(lang, str) and lang in settings.languages:
        return lang
    loaded = g.get("_login_user")
    if isinstance(loaded, Staff) and loaded.preferred_language in settings.languages:
        return loaded.preferred_language
    best = request.accept_languages.best_match(settings.languages)
    return best or settings.default_language


def _limit_key() -> str:
    return f"ip:{request.remote_addr or 'unknown'}"


# Built once: every signed-in request loads its staff member.
_STAFF_BY_ID = select(Staff).where(Staff.id == bindparam("id"))


def create_app(
    config: Settings | Mapping[str, Any] | None = None, *, clock: Clock | None = None
) -> Flask:
    """Build the staff app."""
    settings = coerce_settings(config)
    app, _state = build_app(
        __name__,
        app_name="admin",
        settings=settings,
        clock=clock,
        root=Path(__file__).parent,
        idle_seconds=settings.staff_idle_seconds,
        absolute_seconds=settings.staff_absolute_seconds,
        locale_selector=_select_locale,
    )
    login: LoginManager = app.login_manager  # type: ignore[attr-defined]

    def load_staff(user_id: str) -> Staff | None:
        from kiosk.web.context import db

        if not user_id.isdigit():
            return None
        return db().scalars(_STAFF_BY_ID, {"id": int(user_id)}).first()

    login.user_loader(load_staff)

    limiter = limiter_for(app, _limit_key)

    @app.before_request
    def guard_session() -> None:
        current = session
        if isinstance(current, ServerSession) and current.ended_reason:
            flash(str(ENDED_MESSAGES.get(current.ended_reason, ENDED_MESSAGES["idle"])), "info")
            current.ended_reason = None
        staff = user()
        if isinstance(staff, Staff) and not staff.active:
            logout_user()
            if isinstance(current, ServerSession):
                current.terminate("inactive")
            flash(str(ENDED_MESSAGES["inactive"]), "error")

    @app.before_request
    def enforce_access() -> ResponseReturnValue | None:
        if request.endpoint is None:
            return None
        rule = rule_for(app, request.endpoint)
        if rule is None:
            log.error("endpoint %s declares no access rule: refused", request.endpoint)
            abort(404)
        if rule.audience == "public":
            return None
        if rule.audience != "staff":
            abort(404)  # terminal and inmate rules belong to the portal
        staff = user()
        if not isinstance(staff, Staff):
            back = request.path if request.method == "GET" else None
            return redirect(url_for("auth.sign_in", next=back))
        if not all(can(staff, perm) for perm in rule.perms):
            abort(403)
        return None

    @app.context_processor
    def staff_context() -> dict[str, Any]:
        staff = user()

        def allowed(perm: str) -> bool:
            return isinstance(staff, Staff) and can(staff, Perm(perm))

        from admin.nav import NAV

        items = [n for n in NAV if n.perm is None or allowed(n.perm)]
        return {
            "allowed": allowed,
            "staff_user": staff if isinstance(staff, Staff) else None,
            "nav_items": items if isinstance(staff, Staff) else [],
        }

    from admin.routes import register_blueprints

    register_blueprints(app)
    apply_rate_limits(app, limiter)
    return app
