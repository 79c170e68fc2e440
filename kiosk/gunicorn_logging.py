"""gunicorn's access log as one JSON object per line, without secrets.

gunicorn's own ``access_log_format`` pastes raw values into a template, so a path
with a quote or backslash would break the JSON; here every line is made by
``json.dumps``. Logged: time, app, client address (the one nginx saw), method,
path without the query string, status, bytes, milliseconds and nginx's request
id. Never logged: query strings, cookies, form data, Authorization or any other
header, which can carry PINs, tokens or personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import traceback
from typing import Any

from gunicorn.glogging import Logger

PATH_MAX = 200  # a log line stays readable; longer paths are cut, never dropped


def access_record(app: str, status: str, environ: dict[str, Any], ms: int, sent: Any) -> str:
    """The JSON line for one request."""
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    # Behind nginx exactly one hop is trusted: its value is the last one (see ProxyFix).
    client = forwarded.split(",")[-1].strip() if forwarded else environ.get("REMOTE_ADDR")
    record = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "app": app,
        "client": (client or "-")[:45],
        "method": str(environ.get("REQUEST_METHOD", "-"))[:10],
        "path": str(environ.get("PATH_INFO", "-"))[:PATH_MAX],
        "status": int(status.split(None, 1)[0]) if status[:3].isdigit() else status,
        "bytes": sent if isinstance(sent, int) else None,
        "ms": ms,
        "request_id": str(environ.get("HTTP_X_REQUEST_ID", ""))[:64] or None,
    }
    return json.dumps(record, ensure_ascii=True)


class JsonAccessLogger(Logger):  # type: ignore[misc] # gunicorn ships no type hints
    """gunicorn's logger with JSON access lines (``logger_class`` in gunicorn.conf.py)."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """Write one JSON line per request."""
        if not self.access_log_enabled:
            return
        status = resp.status if isinstance(resp.status, str) else str(resp.status)
        ms = request_time.seconds * 1000 + request_time.microseconds // 1000
        app = str(self.cfg.proc_name or "kiosk").removeprefix("kiosk-")
        try:
            self.access_log.info(access_record(app, status, environ, ms, resp.sent))
        except Exception:  # a log line must never fail a request
            self.error(traceback.format_exc())
