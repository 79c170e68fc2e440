"""The inmate portal, and the domain both apps share.

``create_app()`` builds the portal that cell tablets and thin clients reach.
It holds no staff route at all and never imports ``admin``.
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
from kiosk.models import Inmate
from kiosk.security.policy import can
from kiosk.security.sessions import ServerSession
from kiosk.services import audit, inmate_auth, terminals
from kiosk.web import context as web
from kiosk.web.access import rule_for
from kiosk.web.base import apply_rate_limits, build_app, coerce_settings, limiter_for
from kiosk.web.context import actor, now, user
from kiosk.web.state import get_state

__all__ = ["create_app"]

log = logging.getLogger(__name__)

TERMINAL_COOKIE = "kiosk_terminal"
# Long-lived: the device keeps its credential until staff revoke it.
TERMINAL_COOKIE_AGE = 10 * 365 * 24 * 3600

ENDED_MESSAGES: dict[str, Any] = {
    "idle": _l("You were signed out because nothing happened for a while."),
    "expired": _l("You were signed out because you had been signed in for a long time."),
    "closed": _l("You were signed out because the kiosk has closed for now."),
    "inactive": _l("You were signed out. Please ask staff."),
    "locked": _l("You were signed out. Please ask staff."),
    "facility": _l("You were signed out. Please ask staff."),
    "terminal": _l("You were signed out because this terminal changed."),
}


# Built once: every signed-in request loads its inmate (a prepared statement is cheaper
# than session.get's own, and the identity map is empty at that point anyway).
_INMATE_BY_ID = select(Inmate).where(Inmate.id == bindparam("id"))


def terminal_cookie_name(settings: Settings) -> str:
    """The device-credential cookie; ``__Host-`` prefixed behind HTTPS."""
    return f"__Host-{TERMINAL_COOKIE}" if settings.https else TERMINAL_COOKIE


def _select_locale() -> str:
    settings = get_state().settings
    if not has_request_context():
        return settings.default_language
    lang = session.get("lang")
    if isinstance(lang, str) and lang in settings.languages:
        return lang
    loaded = g.get("_login_user")
    if isinstance(loaded, Inmate) and loaded.preferred_language in settings.languages:
        return loaded.preferred_language
    return settings.default_language


def _limit_key() -> str:
    term = g.get("terminal")
    if term is not None:
        return f"terminal:{term.id}"
    return f"ip:{request.remote_addr or 'unknown'}"


def create_app(
    config: Settings | Mapping[str, Any] | None = None, *, clock: Clock | None = None
) -> Flask:
    """Build the inmate portal."""
    settings = coerce_settings(config)
    app, _state = build_app(
        __name__,
        app_name="kiosk",
        settings=settings,
        clock=clock,
        root=Path(__file__).parent,
        idle_seconds=settings.inmate_idle_seconds,
        absolute_seconds=settings.inmate_absolute_seconds,
        locale_selector=_select_locale,
    )
    login: LoginManager = app.login_manager  # type: ignore[attr-defined]

    def load_inmate(user_id: str) -> Inmate | None:
        if not user_id.isdigit():
            return None
        return web.db().scalars(_INMATE_BY_ID, {"id": int(user_id)}).first()

    login.user_loader(load_inmate)

    @app.before_request
    def identify_terminal() -> None:
        fingerprint = None
        if settings.behind_proxy:
            fingerprint = terminals.fingerprint_from_header(
                request.headers.get(settings.client_cert_header)
            )
        g.cert_fingerprint = fingerprint
        g.terminal = terminals.identify(
            web.db(),
            credential=request.cookies.get(terminal_cookie_name(settings)),
            fingerprint=fingerprint,
            require_cert=settings.require_client_cert,
        )

    limiter = limiter_for(app, _limit_key)

    @app.before_request
    def guard_session() -> None:
        current = session
        if isinstance(current, ServerSession) and current.ended_reason:
            flash(str(ENDED_MESSAGES.get(current.ended_reason, ENDED_MESSAGES["idle"])), "info")
            current.ended_reason = None
        inmate = user()
        if not isinstance(inmate, Inmate):
            return
        term = g.get("terminal")
        reason = None
        if term is None or session.get("terminal_id") != term.id:
            reason = "terminal"
        else:
            reason = inmate_auth.check_session(inmate, term, now())
        if reason is not None:
            end_inmate_session(reason)
            flash(str(ENDED_MESSAGES[reason]), "info")

    @app.before_request
    def enforce_access() -> ResponseReturnValue | None:
        if request.endpoint is None:
            return None  # routing failed: the 404 or 405 follows
        rule = rule_for(app, request.endpoint)
        if rule is None:
            log.error("endpoint %s declares no access rule: refused", request.endpoint)
            abort(404)
        if rule.audience == "public":
            return None
        if g.get("terminal") is None:
            return redirect(url_for("enrol.start"))
        if rule.audience == "terminal":
            return None
        if rule.audience != "inmate":
            abort(404)  # a staff rule cannot be served here
        inmate = user()
        if not isinstance(inmate, Inmate):
            return redirect(url_for("auth.sign_in"))
        if not all(can(inmate, perm) for perm in rule.perms):
            abort(403)
        return None

    @app.context_processor
    def portal_context() -> dict[str, Any]:
        return {"idle_seconds": settings.inmate_idle_seconds}

    from kiosk.routes import register_blueprints

    register_blueprints(app)
    apply_rate_limits(app, limiter)
    return app


def end_inmate_session(reason: str) -> None:
    """Sign the inmate out now (sign-out button, release, closing time) and record it."""
    inmate = user()
    if isinstance(inmate, Inmate):
        from kiosk.db import unit_of_work

        with unit_of_work(web.db()):
            audit.record(
                web.db(),
                "inmate.sign_out",
                actor=actor(),
                obj=inmate,
                at=now(),
                details={"reason": reason},
            )
    logout_user()
    current = session
    if isinstance(current, ServerSession):
        current.terminate(reason)
    else:  # pragma: no cover - the server-side interface is always installed
        session.clear()
