"""gunicorn settings shared by both apps, sized for a 2-core server.

Each app's ``gunicorn.conf.py`` takes these and names itself. Every value can
be overridden on the gunicorn command line; these are what `kiosk serve`,
`make stack`, the systemd units and the system tests use.
"""

from __future__ import annotations

import os
from typing import Any

# Processes x threads per server, for 2 cores. The portal's requests are short and mostly
# Python, and threads of one process share its GIL: three processes of two threads
# (likely for that reason; not profiled) carried more than two of four. The
# benchmark's terminal model (bench/terminals.py, SQLite, 2026-12-05, two machines)
# carried 2,025 terminals with p99 under 150 ms at 3 x 2 against 1,475-1,587 at 2 x 4
# and 4 x 2, at the same memory per worker. The staff app keeps 2 x 4 (few users; it was
# not measured at 3 x 2). KIOSK_WORKERS/KIOSK_THREADS (KIOSK_ADMIN_...) override.
DEFAULT_WORKERS_THREADS: dict[str, tuple[int, int]] = {"kiosk": (3, 2), "admin": (2, 4)}


def settings_for(app: str) -> dict[str, Any]:
    """The gunicorn settings of one app ("kiosk" or "admin")."""
    prefix = "KIOSK_" if app == "kiosk" else "KIOSK_ADMIN_"
    workers, threads = DEFAULT_WORKERS_THREADS[app]
    return {
        # Threads inside each process cover waits on the database and the network.
        # gthread, not gevent/eventlet: no monkey-patching under psycopg and argon2.
        "worker_class": "gthread",
        # Sized for 2 cores (see DEFAULT_WORKERS_THREADS). A thread holds at most two
        # database connections, the session store's and the ORM's (pool 4 + 4, README).
        "workers": int(os.environ.get(prefix + "WORKERS", str(workers))),
        "threads": int(os.environ.get(prefix + "THREADS", str(threads))),
        # A request that takes longer than this is stuck: its worker is restarted
        # (nginx waits 35 s, so it answers 503 with its own page, never a hang).
        "timeout": 30,
        # On reload or stop (SIGHUP/SIGTERM), in-flight requests get this long to finish.
        "graceful_timeout": 20,
        # nginx keeps connections to us open (upstream keepalive): reuse them a while.
        "keepalive": 5,
        # Recycle workers now and then (slow leaks), staggered so they never restart together.
        # A start costs a worker about a second of CPU (imports, building the app): at 2,000
        # requests a busy portal spent a tenth of its two cores restarting workers. 20,000
        # is still every minute or two per worker at full load.
        "max_requests": 20000,
        "max_requests_jitter": 2000,
        # The app is imported in each worker, not in the master: a worker that dies takes
        # nothing with it, and database pools are never shared across a fork.
        "preload_app": False,
        # Workers' heartbeat files in memory, not on a disk that may stall under load.
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,  # noqa: S108 - tmpfs, gunicorn's own advice
        # Reject absurd request lines and header counts before Flask sees them.
        "limit_request_line": 4094,
        "limit_request_fields": 60,
        "limit_request_field_size": 8190,
        # Only the nginx on this machine may set X-Forwarded-Proto (see KIOSK_BEHIND_PROXY).
        "forwarded_allow_ips": os.environ.get("KIOSK_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # JSON access log, one line per request, made by json.dumps (kiosk/gunicorn_logging.py):
        # the path only, no query strings, cookies or headers that could carry a secret.
        "accesslog": "-",
        "logger_class": "kiosk.gunicorn_logging.JsonAccessLogger",
        "errorlog": "-",
        "loglevel": os.environ.get("KIOSK_LOG_LEVEL", "info").lower(),
        # Names the processes in ps/top and the app in each access line.
        "proc_name": f"kiosk-{app}",
        # No runtime control socket: one less local door, and two apps on one host would
        # otherwise share the default path. Restarts go through systemd signals instead.
        "control_socket_disable": True,
    }
