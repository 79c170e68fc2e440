"""Signed-in sessions made directly in the database, one per simulated terminal.

Signing 6,000 terminals in through the page would cost 6,000 argon2 hashes
(minutes of CPU) before the first measurement. Instead the benchmark writes the
rows a sign-in leaves behind: the terminal's device credential (generated with
the terminals) and a ``web_sessions`` row holding what the sign-in view puts in
the session (the inmate's id, the terminal, the language and a CSRF secret).
The cookies are the raw tokens whose hashes those rows hold, exactly as the
apps issue them, and the CSRF form token is signed with the app's own key. The
smoke test proves these sessions open the inmate home page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine, update

from bench.data import bulk_insert, fix_sequence, next_id
from kiosk.config import Secrets
from kiosk.models import WebSession
from kiosk.security.tokens import new_token, token_hash

KIOSK_SESSION_COOKIE = "kiosk_session"
KIOSK_TERMINAL_COOKIE = "kiosk_terminal"
STAFF_SESSION_COOKIE = "staff_session"


@dataclass(frozen=True)
class Client:
    """The cookies and CSRF token of one signed-in browser."""

    app: str  # "kiosk" or "admin"
    user_id: int
    session_id: int
    cookies: dict[str, str]
    csrf: str
    terminal_id: int | None = None

    @property
    def cookie_header(self) -> str:
        """The ``Cookie`` header a browser would send."""
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


def csrf_form_token(secret_key: str, raw: str) -> str:
    """What Flask-WTF puts into a form for the session's CSRF secret ``raw``."""
    return str(URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token").dumps(raw))


def _raw_csrf() -> str:
    return hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - Flask-WTF's own format


def create_sessions(
    engine: Engine,
    secrets: Secrets,
    *,
    now: dt.datetime,
    terminals: Sequence[tuple[int, str, int]],
    staff: Iterable[int] = (),
    absolute: dt.timedelta = dt.timedelta(hours=8),
    staff_absolute: dt.timedelta = dt.timedelta(hours=12),
) -> list[Client]:
    """A signed-in session for each (terminal, credential, inmate), then one per staff id."""
    clients: list[Client] = []
    rows: list[dict[str, Any]] = []
    with engine.begin() as conn:
        sid = next_id(conn, "web_sessions")
        for terminal_id, credential, inmate_id in terminals:
            token, raw = new_token(), _raw_csrf()
            data = {
                "_user_id": str(inmate_id),
                "_fresh": True,
                "terminal_id": terminal_id,
                "lang": "sv",
                "csrf_token": raw,
            }
            rows.append(_row(sid, "kiosk", token, data, now, absolute, inmate_id=inmate_id))
            rows[-1]["terminal_id"] = terminal_id
            clients.append(
                Client(
                    app="kiosk",
                    user_id=inmate_id,
                    session_id=sid,
                    cookies={KIOSK_TERMINAL_COOKIE: credential, KIOSK_SESSION_COOKIE: token},
                    csrf=csrf_form_token(secrets.kiosk_secret_key, raw),
                    terminal_id=terminal_id,
                )
            )
            sid += 1
        for staff_id in staff:
            token, raw = new_token(), _raw_csrf()
            data = {"_user_id": str(staff_id), "_fresh": True, "lang": "sv", "csrf_token": raw}
            rows.append(_row(sid, "admin", token, data, now, staff_absolute, staff_id=staff_id))
            clients.append(
                Client(
                    app="admin",
                    user_id=staff_id,
                    session_id=sid,
                    cookies={STAFF_SESSION_COOKIE: token},
                    csrf=csrf_form_token(secrets.admin_secret_key, raw),
                )
            )
            sid += 1
        bulk_insert(conn, "web_sessions", rows)
        fix_sequence(conn, "web_sessions")
    return clients


def _row(
    sid: int,
    app: str,
    token: str,
    data: dict[str, Any],
    now: dt.datetime,
    absolute: dt.timedelta,
    **who: int,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": sid,
        "app": app,
        "token_hash": token_hash(token, app),
        "data": json.dumps(data, separators=(",", ":")),
        "inmate_id": None,
        "staff_id": None,
        "terminal_id": None,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + absolute,
        "ended_at": None,
        "end_reason": None,
        "ip": "127.0.0.1",
        "user_agent": "bench",
    }
    row.update(who)
    return row


def refresh_sessions(engine: Engine, clients: Sequence[Client], now: dt.datetime) -> None:
    """Make every benchmark session fresh again (idle timers restart, none has ended).

    Between phases a session can sit unused for longer than the 5-minute idle
    timeout; a measurement of sign-in redirects would be worthless.
    """
    ids = [c.session_id for c in clients]
    with engine.begin() as conn:
        for start in range(0, len(ids), 900):
            conn.execute(
                update(WebSession)
                .where(WebSession.id.in_(ids[start : start + 900]))
                .values(last_seen_at=now, ended_at=None, end_reason=None)
            )


def save(clients: Sequence[Client]) -> str:
    """JSON of the clients (the load generators read it)."""
    return json.dumps([asdict(c) for c in clients])


def load(text: str) -> list[Client]:
    """The inverse of ``save``."""
    return [Client(**item) for item in json.loads(text)]


__all__ = ["Client", "create_sessions", "load", "refresh_sessions", "save"]
