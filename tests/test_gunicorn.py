"""gunicorn: each choice commented, sized for two cores, a JSON access log without secrets."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import Settings
from kiosk.gunicorn_logging import access_record
from kiosk.gunicorn_settings import settings_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("app", ["kiosk", "admin"])
def test_each_app_has_a_gunicorn_conf_that_names_it(app: str) -> None:
    conf = runpy.run_path(str(ROOT / app / "gunicorn.conf.py"))
    assert conf["proc_name"] == f"kiosk-{app}"
    assert conf["worker_class"] == "gthread"
    assert conf["workers"] * conf["threads"] <= 16, "sized for a 2-core server"
    assert conf["max_requests_jitter"] > 0, "workers never restart together"
    assert conf["timeout"] < 35, "gunicorn gives up before nginx does (proxy_read_timeout)"
    assert conf["logger_class"] == "kiosk.gunicorn_logging.JsonAccessLogger"


def test_the_default_sizes_leave_postgresql_connections_to_spare(monkeypatch: Any) -> None:
    """Every thread can hold its two connections, and the whole stack stays under 100.

    A request holds the session store's connection and the ORM's; the stack runs two
    servers of each app (README, "Production"); PostgreSQL allows 100 by default.
    """
    for name in ("KIOSK_WORKERS", "KIOSK_THREADS", "KIOSK_ADMIN_WORKERS", "KIOSK_ADMIN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    per_process = Settings.db_pool_size + Settings.db_max_overflow
    total = 0
    for app in ("kiosk", "admin"):
        conf = settings_for(app)
        assert 2 * conf["threads"] <= per_process, app
        total += 2 * conf["workers"] * per_process
    assert total < 100


def test_the_worker_settings_can_be_changed_per_app_from_the_environment(
    monkeypatch: Any,
) -> None:
    monkeypatch.delenv("KIOSK_THREADS", raising=False)
    monkeypatch.delenv("KIOSK_ADMIN_WORKERS", raising=False)
    monkeypatch.setenv("KIOSK_WORKERS", "1")
    monkeypatch.setenv("KIOSK_ADMIN_THREADS", "3")
    assert settings_for("kiosk")["workers"] == 1
    assert settings_for("kiosk")["threads"] == 2
    assert settings_for("admin")["workers"] == 2
    assert settings_for("admin")["threads"] == 3


def test_every_gunicorn_choice_has_a_comment_saying_why() -> None:
    source = (ROOT / "kiosk" / "gunicorn_settings.py").read_text().splitlines()
    keys = [i for i, line in enumerate(source) if re.match(r'\s+"[a-z_]+": ', line)]
    assert {source[i].split('"')[1] for i in keys} == set(settings_for("kiosk"))
    for i in keys:
        j = i - 1
        # A group of related keys shares the comment above the group.
        while j in keys:
            j -= 1
        assert source[j].strip().startswith("#"), f"no comment above {source[i].strip()}"


def test_the_access_log_is_json_even_for_hostile_paths_and_keeps_no_secrets() -> None:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": '/sign-in"}, "admin": true, "x\\',
        "QUERY_STRING": "pin=482916&token=secret-token",
        "HTTP_COOKIE": "kiosk_session=secret-cookie",
        "HTTP_AUTHORIZATION": "Bearer secret-bearer",
        "HTTP_X_FORWARDED_FOR": "6.6.6.6, 10.1.2.3",
        "HTTP_X_REQUEST_ID": "abc123",
        "REMOTE_ADDR": "127.0.0.1",
    }
    line = access_record("kiosk", "302 FOUND", environ, 12, 345)
    record = json.loads(line)
    assert record["path"] == environ["PATH_INFO"]
    assert "admin" not in record
    assert record["status"] == 302
    assert record["client"] == "10.1.2.3", "the address nginx saw, not a forged first hop"
    assert record["request_id"] == "abc123"
    for secret in ("482916", "secret-token", "secret-cookie", "secret-bearer"):
        assert secret not in line
