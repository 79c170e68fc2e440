"""gunicorn settings shared by both apps, sized for a 2-core server.

Each app's ``gunicorn.conf.py`` takes these and names itself. Every value can
be overridden on the gunicorn command line; these are what `kiosk serve` and
the benchmarks use.
"""

from __future__ import annotations

import json
import os
from typing import Any


def settings_for(app: str) -> dict[str, Any]:
    """The gunicorn settings of one app ("kiosk" or "admin")."""
    prefix = "KIOSK_" if app == "kiosk" else "KIOSK_ADMIN_"
    return {
        # Threads, not more processes: requests mostly wait on the database and the
        # network, and threads share one copy of the app (memory per worker stays low).
        "worker_class": "gthread",
        # 2 cores: two processes keep both busy; four threads each cover I/O waits.
        "workers": int(os.environ.get(prefix + "WORKERS", "2")),
        "threads": int(os.environ.get(prefix + "THREADS", "4")),
        # A request that takes longer than this is stuck: its worker is restarted.
        "timeout": 30,
        # On reload or stop, in-flight requests get this long to finish.
        "graceful_timeout": 20,
        "keepalive": 5,
        # Recycle workers now and then (slow leaks), staggered so they never restart together.
        "max_requests": 2000,
        "max_requests_jitter": 200,
        # Reject absurd request lines and header counts before Flask sees them.
        "limit_request_line": 4094,
        "limit_request_fields": 60,
        "limit_request_field_size": 8190,
        # Only the nginx on this machine may set X-Forwarded-* (see KIOSK_BEHIND_PROXY).
        "forwarded_allow_ips": os.environ.get("KIOSK_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # JSON access log, one line per request. The path only (%(U)s): no query strings,
        # cookies or headers that could carry a secret or personal data.
        "accesslog": "-",
        "access_log_format": json.dumps(
            {
                "time": "%(t)s",
                "app": app,
                "remote": "%(h)s",
                "method": "%(m)s",
                "path": "%(U)s",
                "status": "%(s)s",
                "bytes": "%(B)s",
                "ms": "%(M)s",
            }
        ),
        "errorlog": "-",
        "loglevel": os.environ.get("KIOSK_LOG_LEVEL", "info").lower(),
        "proc_name": f"kiosk-{app}",
        # No runtime control socket: one less local door, and two apps on one host would
        # otherwise share the default path. Restarts go through systemd signals instead.
        "control_socket_disable": True,
    }
