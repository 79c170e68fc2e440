"""The terminal model through the production front end: nginx with TLS and client certificates.

The stack is the one ``make stack`` and the system tests run (``kiosk.devstack``):
nginx rendered from the reviewed templates, the apps behind it with
``KIOSK_BEHIND_PROXY``, ``KIOSK_HTTPS`` and ``KIOSK_REQUIRE_CLIENT_CERT``, one gunicorn
server per app with the settings of its ``gunicorn.conf.py``. Every simulated
terminal presents a client certificate from the stack's CA (one certificate, whose
fingerprint the benchmark records for all its terminals) and opens a new TLS
connection for each view, the costly case.
"""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy import create_engine, update

from bench import terminals
from bench.pages import Page
from bench.sessions import refresh_sessions
from kiosk.devstack import free_port

if TYPE_CHECKING:
    from bench.config import BenchConfig
    from bench.run import Prepared


def run(
    config: BenchConfig,
    prep: Prepared,
    pages: Sequence[Page],
    sizes: Sequence[int],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Probe the terminal model at each N in ``sizes`` through nginx."""
    try:
        from kiosk.devstack import NGINX, AppServer, LocalStack
        from kiosk.pki import fingerprint
    except ImportError:
        return {"measured": False, "reason": "the production stack is not on main yet"}
    if NGINX is None:
        return {"measured": False, "reason": "nginx is not installed"}
    root = config.workdir / f"stack-{prep.kind}"
    shutil.rmtree(root / "instance", ignore_errors=True)
    stack = LocalStack(
        root=root,
        database_url=prep.url,
        redis_url=None,
        servers=[
            AppServer("kiosk-1", "kiosk", free_port(), "kiosk:create_app()"),
            AppServer("admin-1", "admin", free_port(), "admin:create_app()"),
        ],
        inmate_port=free_port(),
        staff_port=free_port(),
        extra_env={"KIOSK_LOG_LEVEL": "warning"},
    )
    # The benchmark's secrets: its sessions' CSRF tokens and the encrypted data need them.
    shutil.copyfile(
        Path(prep.settings.instance_path) / "secrets.json", stack.instance / "secrets.json"
    )
    cert_path, key_path = stack.terminal_cert("bench terminals")
    cert_fp = fingerprint(x509.load_pem_x509_certificate(cert_path.read_bytes()))
    kiosk_clients = [c for c in prep.clients if c.app == "kiosk"]
    engine = create_engine(prep.url)
    ids = [c.terminal_id for c in kiosk_clients if c.terminal_id is not None]
    with engine.begin() as conn:
        from kiosk.models import Terminal

        for start in range(0, len(ids), 900):
            conn.execute(
                update(Terminal)
                .where(Terminal.id.in_(ids[start : start + 900]))
                .values(cert_fingerprint=cert_fp)
            )
    tls = ssl.create_default_context(cafile=str(stack.ca.ca_cert_path))
    tls.load_cert_chain(str(cert_path), str(key_path))
    mix = [p for p in pages if p.mix > 0 and p.app == "kiosk"]
    probes: list[dict[str, Any]] = []
    try:
        stack.start()
        views, failed = terminals.warm(
            stack.inmate_port,
            clients=kiosk_clients,
            pages=mix,
            data=prep.data,
            host=f"localhost:{stack.inmate_port}",
            tls=tls,
        )
        log(f"{prep.kind}: through nginx: warmed the stack with {views} views ({failed} failed)")
        for n in sizes:
            terminals.wait_until_idle(
                stack.inmate_port, host=f"localhost:{stack.inmate_port}", tls=tls
            )
            refresh_sessions(engine, kiosk_clients, dt.datetime.now(dt.UTC))
            result = terminals.probe(
                stack.inmate_port,
                n,
                clients=kiosk_clients,
                pages=mix,
                data=prep.data,
                period=config.terminal_period,
                duration=config.terminal_duration,
                seed=n,
                host=f"localhost:{stack.inmate_port}",
                tls=tls,
            )
            probes.append({**result.as_dict(), "ok": result.ok(config.p99_limit_ms)})
            log(
                f"{prep.kind}: through nginx (TLS, client certificate): N={n}: "
                f"p99 {result.p99_ms:.0f} ms, errors {result.errors} {result.first_error}"
            )
    finally:
        stack.stop()
        engine.dispose()
    return {
        "measured": True,
        "front_end": "nginx from nginx/templates, TLS 1.2+/client certificate per connection",
        "app_servers": "one gunicorn server per app, each with its gunicorn.conf.py",
        "probes": probes,
    }
