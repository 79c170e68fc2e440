"""A production-like stack for the system tests: real nginx, gunicorn, TLS and certificates.

Everything lives in one temporary folder and listens on free loopback ports, so
several stacks (other test runs, other engineers) never meet. The portal runs
twice behind one nginx upstream, the staff app once; PKI, database, instance
folder and nginx configuration are made fresh.
"""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.devstack import NGINX, AppServer, Browser, LocalStack, Reply, free_port

__all__ = ["API_SOURCE", "NGINX", "Browser", "Reply", "Stack", "free_port"]

ROOT = Path(__file__).resolve().parent.parent
STAFF_SOURCE = "127.0.0.2"  # the "staff network" of the test stack
API_SOURCE = "127.0.0.3"  # its one integration machine
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Stack(LocalStack):
    """The system tests' stack: two portal servers and one staff server behind nginx, on
    free ports, cheap hashing, pages in English."""

    def __init__(self, root: Path, database_url: str, redis_url: str | None) -> None:
        super().__init__(
            root=root,
            database_url=database_url,
            redis_url=redis_url,
            servers=[
                AppServer("kiosk-a", "kiosk", free_port(), "kiosk:create_app()"),
                AppServer("kiosk-b", "kiosk", free_port(), "kiosk:create_app()"),
                AppServer("admin", "admin", free_port(), "admin:create_app()"),
            ],
            inmate_port=free_port(),
            staff_port=free_port(),
            staff_networks=(f"{STAFF_SOURCE}/32",),
            api_networks=(f"{API_SOURCE}/32",),
            extra_env={
                "KIOSK_DEFAULT_LANGUAGE": "en",
                "KIOSK_ARGON2_TIME_COST": "1",
                "KIOSK_ARGON2_MEMORY_KIB": "64",
                "KIOSK_ARGON2_PARALLELISM": "1",
                # One process, a few threads per server: two servers already prove sharing.
                "KIOSK_WORKERS": "1",
                "KIOSK_THREADS": "4",
                "KIOSK_ADMIN_WORKERS": "1",
                "KIOSK_ADMIN_THREADS": "2",
                "KIOSK_LOG_LEVEL": "info",
            },
        )

    def tablet(self, cert: tuple[Path, Path] | None, source: str = "127.0.0.1") -> Browser:
        """A browser on the inmate listener."""
        return Browser(self.inmate_port, self.ca.ca_cert_path, cert, source)

    def staff_pc(self, source: str = STAFF_SOURCE) -> Browser:
        """A browser on the staff listener."""
        return Browser(self.staff_port, self.ca.ca_cert_path, None, source)
