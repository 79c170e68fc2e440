"""`kiosk serve` runs both apps under gunicorn with their own gunicorn.conf.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kiosk.devstack import free_port

pytestmark = pytest.mark.slow


def wait_for(url: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_kiosk_serve_starts_both_apps_and_stops_cleanly(settings: Any, tmp_path: Path) -> None:
    kiosk_port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
        "KIOSK_WORKERS": "1",
        "KIOSK_ADMIN_WORKERS": "1",
    }
    command = [
        str(Path(sys.executable).parent / "kiosk"),
        "serve",
        "--kiosk-bind",
        f"127.0.0.1:{kiosk_port}",
        "--admin-bind",
        f"127.0.0.1:{admin_port}",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(f"http://127.0.0.1:{kiosk_port}/healthz") == "ok\n"
        assert wait_for(f"http://127.0.0.1:{admin_port}/healthz") == "ok\n"
        page = wait_for(f"http://127.0.0.1:{kiosk_port}/terminal/enrol")
        assert "Ställ in den här terminalen" in page, "Swedish by default"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=40)
    log = output.decode(errors="replace")
    assert proc.returncode == 0, log
    assert '"app": "kiosk"' in log, "JSON access log of the portal"
    assert '"app": "admin"' in log, "JSON access log of the staff app"
    assert "Traceback" not in log
