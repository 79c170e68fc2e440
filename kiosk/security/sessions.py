"""Server-side sessions: the cookie carries a random token, the database everything else.

Why our own and not Flask-Session: we need what it does not index, namely
ending every session of one inmate, staff member or terminal at once (release,
deactivation, revocation, lockdown), idle and absolute expiry per app, and the
binding of a session to the terminal it was opened on.

A token is looked up only under the hash of ``"<app>:<token>"``, so a cookie
of the staff app means nothing to the inmate portal and the other way round,
and a stolen copy of the table gives no usable cookie.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import ColumnElement, Engine, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.datastructures import CallbackDict

from kiosk.models import WebSession
from kiosk.security.tokens import new_token, token_hash

log = logging.getLogger(__name__)

_TOKEN_MAX = 100


# Built once: every request runs it, and building the expression cost more than running it.
_OPEN_SESSION = select(WebSession.__table__).where(
    WebSession.token_hash == bindparam("digest"),
    WebSession.app == bindparam("app"),
    WebSession.ended_at.is_(None),
)


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The session data of one request, with the id of its database row."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        *,
        record_id: int | None = None,
        had_cookie: bool = False,
        ended_reason: str | None = None,
        unavailable: bool = False,
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.record_id = record_id
        self.new = record_id is None
        self.modified = False
        self.had_cookie = had_cookie
        # Why the previous signed-in session of this browser ended ("idle", "expired", ...).
        self.ended_reason = ended_reason
        # The database could not be reached: the request is answered with a 503.
        self.unavailable = unavailable
        self.regenerate_requested = False
        self.terminate_reason: str | None = None

    def regenerate(self) -> None:
        """Give the session a new token and row (at sign-in: no fixation)."""
        self.regenerate_requested = True
        self.modified = True

    def terminate(self, reason: str) -> None:
        """End this session now; data set afterwards goes into a fresh anonymous one."""
        self.terminate_reason = reason
        self.clear()


class ServerSessionInterface(SessionInterface):
    """Keeps sessions in ``web_sessions``, for one app."""

    def __init__(
        self,
        *,
        app_name: str,
        engine_getter: Callable[[], Engine],
        clock: Callable[[], dt.datetime],
        idle_seconds: int,
        absolute_seconds: int,
        on_expired: Callable[[Any, str], None] | None = None,
        reader: Callable[[], Session] | None = None,
    ) -> None:
        self.app_name = app_name
        self._engine = engine_getter
        # The request's own database session, if the app has one: the session row is then
        # read in the request's read transaction instead of on a connection of its own (on
        # PostgreSQL a second checkout is a ping, a BEGIN and a ROLLBACK more per request).
        self._reader = reader
        self._now = clock
        self.idle = dt.timedelta(seconds=idle_seconds)
        self.absolute = dt.timedelta(seconds=absolute_seconds)
        # Refresh last_seen_at at most this often (a write per request costs more than it
        # is worth). Expiry allows the same slack, so a session never ends before the full
        # idle time after the last request, and at most this much after it.
        self.touch_every = min(dt.timedelta(seconds=30), self.idle / 10)
        self._on_expired = on_expired

    # Flask's hooks ---------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token:
            return ServerSession()
        if len(token) > _TOKEN_MAX:
            return ServerSession(had_cookie=True)
        try:
            return self._load(token)
        except (OperationalError, DBAPIError):
            log.exception("session store unreachable")
            return ServerSession(had_cookie=True, unavailable=True)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession) or session.unavailable:
            return
        name = self.get_cookie_name(app)
        now = self._now()
        from flask import request

        if session.terminate_reason and session.record_id is not None:
            self._end(session.record_id, session.terminate_reason, now)
            session.record_id = None
        elif session.regenerate_requested and session.record_id is not None:
            self._end(session.record_id, "renewed", now)
            session.record_id = None

        if session.record_id is None:
            if dict(session):
                token = self._create(session, now, request)
                self._set_cookie(app, response, name, token)
            elif session.had_cookie or session.terminate_reason:
                self._delete_cookie(app, response, name)
            return
        if session.modified:
            self._write_data(session, now)

    # Storage ---------------------------------------------------------------

    def _load(self, token: str) -> ServerSession:
        now = self._now()
        digest = token_hash(token, self.app_name)
        params = {"digest": digest, "app": self.app_name}
        if self._reader is not None:
            request_session = self._reader()
            try:
                row = request_session.execute(_OPEN_SESSION, params).first()
            except BaseException:
                request_session.rollback()
                raise
        else:
            with self._engine().connect() as conn:
                row = conn.execute(_OPEN_SESSION, params).first()
                conn.rollback()
        if row is None:
            return ServerSession(had_cookie=True)
        record = row
        reason = None
        if now - record.last_seen_at >= self.idle + self.touch_every:
            reason = "idle"
        elif now >= record.expires_at:
            reason = "expired"
        if reason:
            self._end(record.id, reason, now)
            principal = record.inmate_id or record.staff_id
            if principal and self._on_expired is not None:
                self._on_expired(record, reason)
            return ServerSession(had_cookie=True, ended_reason=reason if principal else None)
        try:
            data = json.loads(record.data)
        except ValueError:
            data = {}
        if now - record.last_seen_at >= self.touch_every:
            with self._write() as conn:
                conn.execute(
                    update(WebSession)
                    .where(WebSession.id == record.id, WebSession.ended_at.is_(None))
                    .values(last_seen_at=now)
                )
        return ServerSession(
            data if isinstance(data, dict) else {}, record_id=record.id, had_cookie=True
        )

    def _write(self) -> Any:
        return self._engine().execution_options(kiosk_write=True).begin()

    def _columns(self, session: ServerSession) -> dict[str, Any]:
        user_id = session.get("_user_id")
        principal = int(user_id) if isinstance(user_id, str) and user_id.isdigit() else None
        terminal = session.get("terminal_id")
        return {
            "inmate_id": principal if self.app_name == "kiosk" else None,
            "staff_id": principal if self.app_name == "admin" else None,
            "terminal_id": terminal if isinstance(terminal, int) else None,
        }

    def _create(self, session: ServerSession, now: dt.datetime, request: Request) -> str:
        token = new_token()
        with self._write() as conn:
            result = conn.execute(
                insert(WebSession).values(
                    app=self.app_name,
                    token_hash=token_hash(token, self.app_name),
                    data=json.dumps(dict(session), separators=(",", ":")),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.absolute,
                    ip=(request.remote_addr or "")[:45] or None,
                    user_agent=(request.user_agent.string or "")[:200] or None,
                    **self._columns(session),
                )
            )
            pk = result.inserted_primary_key
            session.record_id = int(pk[0]) if pk else None
        return token

    def _write_data(self, session: ServerSession, now: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(WebSession)
                .where(WebSession.id == session.record_id, WebSession.ended_at.is_(None))
                .values(
                    data=json.dumps(dict(session), separators=(",", ":")),
                    last_seen_at=now,
                    **self._columns(session),
                )
            )

    def _end(self, record_id: int, reason: str, now: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(WebSession)
                .where(WebSession.id == record_id, WebSession.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason[:32])
            )

    # Cookies ---------------------------------------------------------------

    def _set_cookie(self, app: Flask, response: Response, name: str, token: str) -> None:
        response.set_cookie(
            name,
            token,
            httponly=True,
            secure=self.get_cookie_secure(app),
            samesite="Strict",
            path="/",
        )
        response.vary.add("Cookie")

    def _delete_cookie(self, app: Flask, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path="/", secure=self.get_cookie_secure(app), httponly=True, samesite="Strict"
        )
        response.vary.add("Cookie")


def end_sessions(
    session: Session,
    *,
    now: dt.datetime,
    reason: str,
    inmate_id: int | None = None,
    staff_id: int | None = None,
    terminal_id: int | None = None,
    session_id: int | None = None,
) -> int:
    """End the open sessions of one inmate, staff member, terminal or session; returns how many."""
    conditions: list[ColumnElement[bool]] = [WebSession.ended_at.is_(None)]
    if inmate_id is not None:
        conditions.append(WebSession.inmate_id == inmate_id)
    if staff_id is not None:
        conditions.append(WebSession.staff_id == staff_id)
    if terminal_id is not None:
        conditions.append(WebSession.terminal_id == terminal_id)
    if session_id is not None:
        conditions.append(WebSession.id == session_id)
    if len(conditions) == 1:
        raise ValueError("say whose sessions to end")
    result = session.execute(
        update(WebSession).where(*conditions).values(ended_at=now, end_reason=reason[:32])
    )
    return int(getattr(result, "rowcount", 0) or 0)
