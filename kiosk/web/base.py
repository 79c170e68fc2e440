"""What both apps are built from: settings, database, sessions, CSRF, languages, headers, errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from kiosk.clock import Clock
from kiosk.config import Settings, load_or_create_secrets
from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import LANGUAGE_NAMES, TRANSLATIONS_DIR, _l, direction
from kiosk.security.headers import apply_security_headers
from kiosk.security.sessions import ServerSession, ServerSessionInterface
from kiosk.services import audit
from kiosk.services.audit import Actor
from kiosk.web import formatting, icons
from kiosk.web.access import RATE_ATTR, UPLOAD_ATTR, is_static
from kiosk.web.context import close_db, db
from kiosk.web.state import EXTENSION, KioskState, build_state

log = logging.getLogger(__name__)

ERROR_TITLES: dict[int, Any] = {
    400: _l("Something in the request was not right"),
    403: _l("You cannot open this page"),
    404: _l("Page not found"),
    405: _l("This cannot be done here"),
    413: _l("Too much data was sent"),
    422: _l("Please check what you entered"),
    429: _l("Too many tries"),
    500: _l("Something went wrong"),
    503: _l("The service is not available right now"),
}
ERROR_TEXTS: dict[int, Any] = {
    400: _l("Go back and try again."),
    403: _l("If you think you should be able to, ask staff."),
    404: _l("The page does not exist, or you cannot see it."),
    405: _l("Go back and use the buttons on the page."),
    413: _l("Send less at a time."),
    422: _l("Go back and check what you entered."),
    429: _l("Wait a while before you try again."),
    500: _l("It was not your fault. Try again in a moment; if it keeps happening, tell staff."),
    503: _l("Please try again in a few minutes."),
}


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive integer that fits in the database's INTEGER."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


def coerce_settings(config: Settings | Mapping[str, Any] | None) -> Settings:
    """Accept settings, a mapping of overrides, or None (environment only)."""
    if isinstance(config, Settings):
        return config
    return Settings.from_env(**dict(config or {}))


def build_app(
    import_name: str,
    *,
    app_name: str,
    settings: Settings,
    clock: Clock | None,
    root: Path,
    idle_seconds: int,
    absolute_seconds: int,
    locale_selector: Callable[[], str | None],
) -> tuple[Flask, KioskState]:
    """A Flask app with everything but its routes."""
    secrets = load_or_create_secrets(settings.instance_path, {})
    app = Flask(
        import_name,
        instance_path=str(settings.instance_path),
        template_folder=str(root / "templates"),
        static_folder=str(root / "static"),
    )
    state = build_state(app_name, settings, secrets, clock or Clock())
    app.extensions[EXTENSION] = state
    secret_key = secrets.kiosk_secret_key if app_name == "kiosk" else secrets.admin_secret_key
    cookie = f"{app_name}_session" if app_name == "kiosk" else "staff_session"
    if settings.https:
        # The __Host- prefix: Secure, whole site, never shared with another (sub)domain.
        cookie = f"__Host-{cookie}"
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME=cookie,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.https,
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
        # Forms are small; uploads get their own, larger limit on their own routes.
        MAX_CONTENT_LENGTH=1024 * 1024,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        MAX_FORM_PARTS=200,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        WTF_CSRF_SSL_STRICT=settings.https,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        TEMPLATES_AUTO_RELOAD=False,
    )
    # Object ids in URLs: positive and within a 32-bit integer, so an absurd number is a
    # 404 here and never an overflow error in the database.
    app.url_map.converters["id"] = IdConverter
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(str(root / "templates")), PackageLoader("kiosk.web", "templates")]
    )
    app.jinja_env.autoescape = True
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["icon"] = icons.icon
    if settings.behind_proxy:
        # Exactly one trusted hop: the reviewed nginx in front of us.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1
        )

    app.session_interface = ServerSessionInterface(
        app_name=app_name,
        engine_getter=lambda: state.database.engine,
        clock=state.clock.now,
        idle_seconds=idle_seconds,
        absolute_seconds=absolute_seconds,
        on_expired=_expiry_auditor(state),
        reader=db,
    )

    @app.before_request
    def raise_upload_limit() -> None:
        # Registered before CSRFProtect, whose check parses the body: routes that take
        # files (``access.upload_limit``) get their larger limit before anything reads it.
        view = app.view_functions.get(request.endpoint or "")
        max_bytes, form_parts = getattr(view, UPLOAD_ATTR, (None, None))
        if max_bytes is not None:
            request.max_content_length = max_bytes
        if form_parts is not None:
            request.max_form_parts = form_parts

    CSRFProtect(app)
    Babel(
        app,
        default_locale=settings.default_language,
        default_translation_directories=str(TRANSLATIONS_DIR),
        default_timezone=settings.timezone,
        locale_selector=locale_selector,
    )
    formatting.install(app)
    login = LoginManager(app)
    login.session_protection = None  # sessions are bound to terminals and rotated by us

    @app.before_request
    def refuse_when_store_down() -> Response | None:
        if isinstance(session, ServerSession) and session.unavailable:
            return error_response(503)
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        cacheable = is_static(request.endpoint) or bool(g.get("cacheable"))
        return apply_security_headers(response, https=settings.https, cacheable=cacheable)

    from kiosk.web.assets import bp as assets

    app.register_blueprint(assets)
    app.teardown_appcontext(close_db)
    register_error_handlers(app)

    @app.context_processor
    def language_context() -> dict[str, Any]:
        from flask_babel import get_locale

        locale = get_locale()
        lang = locale.language if locale else settings.default_language
        return {
            "current_lang": lang,
            "text_direction": direction(lang),
            "languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in settings.languages],
        }

    return app, state


def _expiry_auditor(state: KioskState) -> Callable[[Any, str], None]:
    def record_expiry(row: Any, reason: str) -> None:
        with state.database.session() as session, unit_of_work(session):
            audit.record(
                session,
                "session.expire",
                actor=Actor(
                    kind="system", id=None, label="session timeout", terminal_id=row.terminal_id
                ),
                object_type="inmate" if row.inmate_id else "staff",
                object_id=row.inmate_id or row.staff_id,
                details={"reason": reason, "session_id": row.id},
                at=state.clock.now(),
            )

    return record_expiry


def error_response(status: int, message: Any = None) -> Response:
    """The friendly error page of the current app, with its status."""
    title = ERROR_TITLES.get(status, ERROR_TITLES[500] if status >= 500 else ERROR_TITLES[400])
    text = message if message is not None else ERROR_TEXTS.get(status, ERROR_TEXTS[400])
    try:
        body = render_template("errors/error.html", status=status, title=title, message=text)
    except Exception:  # the error page itself must never fail: fall back to plain text
        log.exception("error page failed")
        body = f"{status}"
    response = Response(body, status=status, mimetype="text/html")
    if status == 503:
        response.headers["Retry-After"] = "30"
    return response


def register_error_handlers(app: Flask) -> None:
    """Every error becomes a page without a traceback, in the user's language."""

    @app.errorhandler(CSRFError)
    def csrf_error(_exc: CSRFError) -> ResponseReturnValue:
        if request.endpoint == "auth.sign_out":
            # The session (and its token) has gone already, which is what was asked for;
            # a forged cross-site post carries no cookie (SameSite=Strict) and ends nothing.
            return redirect(url_for("auth.sign_in"), 303)
        return error_response(
            400, _l("The form had expired or was not sent from this site. Please try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = error_response(status)
        valid = getattr(exc, "valid_methods", None)
        if status == 405 and valid:
            response.headers["Allow"] = ", ".join(valid)
        if status == 429:
            response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        return error_response(exc.status, exc.message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_down(exc: Exception) -> Response:
        log.error("database unavailable: %s", exc)
        g.pop("_kiosk_db", None)
        return error_response(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500)


def limiter_for(app: Flask, key_func: Callable[[], str]) -> Limiter:
    """A rate limiter: Redis when KIOSK_REDIS_URL is set (shared by all app servers)."""
    state: KioskState = app.extensions[EXTENSION]
    storage = state.settings.redis_url or "memory://"
    if storage == "memory://" and not app.testing:
        log.warning(
            "rate-limit counters are kept in memory, per process; "
            "set KIOSK_REDIS_URL to share them between app servers"
        )
    limiter = Limiter(
        key_func=key_func,
        app=app,
        storage_uri=storage,
        key_prefix=f"{state.settings.redis_prefix}-{state.app_name}",
        headers_enabled=False,
        # Initialised enabled (a disabled Limiter never hooks into the app), then switched.
        enabled=True,
        # A broken counter store never turns a page into a 500...
        swallow_errors=True,
        # ...and while Redis is away the limits still hold, counted per process meanwhile.
        in_memory_fallback_enabled=storage != "memory://",
        # A Redis that does not answer costs a request at most a second.
        storage_options=(
            {"socket_connect_timeout": 1, "socket_timeout": 1} if storage != "memory://" else {}
        ),
    )
    limiter.enabled = state.settings.rate_limits_enabled
    # Flask-Limiter keeps only weak references to itself in the limits it hands out.
    app.extensions["kiosk_limiter"] = limiter
    return limiter


def apply_rate_limits(app: Flask, limiter: Limiter) -> None:
    """Wrap every view that declared ``@rate_limited`` with its limit."""
    for endpoint, view in list(app.view_functions.items()):
        spec = getattr(view, RATE_ATTR, None)
        if spec is None:
            continue
        limit, methods = spec
        wrapped: Any = limiter.limit(limit, methods=list(methods))(view)
        app.view_functions[endpoint] = wrapped
