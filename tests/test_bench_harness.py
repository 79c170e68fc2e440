"""The benchmark harness's pieces work (cheaply: no wrk run, no gunicorn, no big data).

The benchmark itself is ``make bench``; it prints figures and never fails on a
slow machine. These tests only make sure its parts still fit the product.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from bench import report, terminals, wrk
from bench.config import BenchConfig, Scale
from bench.data import AREAS, Generated, generate
from bench.pages import find
from bench.queries import engine_of
from bench.reference import create_app as create_reference
from bench.reference import session_cookie, setup
from bench.sessions import Client, create_sessions, refresh_sessions
from kiosk.clock import FrozenClock
from kiosk.models import Inmate

TINY = Scale(
    facilities=1,
    units_per_facility=1,
    inmates=3,
    staff=9,
    terminals=3,
    products=3,
    courses=1,
    lessons_per_course=1,
    requests=6,
    ledger_entries=6,
)


def test_a_generated_session_opens_the_inmate_home_page_of_its_inmate(
    kiosk_app: Flask, clock: FrozenClock
) -> None:
    state = kiosk_app.extensions["kiosk"]
    engine = engine_of(kiosk_app)
    data = generate(engine, TINY, hasher=state.hasher, vault=state.vault, now=clock.now())
    assert data.counts["inmates"] == 3
    assert len(data.terminals) == 3
    clients = create_sessions(engine, state.secrets, now=clock.now(), terminals=data.terminals)
    client = kiosk_app.test_client()
    for name, value in clients[1].cookies.items():
        client.set_cookie(name, value)
    page = client.get("/")
    assert page.status_code == 200
    with engine.connect() as conn:
        name = conn.scalar(select(Inmate.name).where(Inmate.id == clients[1].user_id))
    assert name
    assert name in page.get_data(as_text=True)


def test_a_generated_csrf_token_is_accepted_and_an_ended_session_is_refreshed(
    kiosk_app: Flask, clock: FrozenClock
) -> None:
    state = kiosk_app.extensions["kiosk"]
    engine = engine_of(kiosk_app)
    data = generate(engine, TINY, hasher=state.hasher, vault=state.vault, now=clock.now())
    clients = create_sessions(engine, state.secrets, now=clock.now(), terminals=data.terminals)
    who = clients[0]

    def signed_in_client() -> FlaskClient:
        client = kiosk_app.test_client()
        for name, value in who.cookies.items():
            client.set_cookie(name, value)
        return client

    # Sign-out is a POST with the session's CSRF token: it works, so the token is right.
    signed_out = signed_in_client().post("/sign-out", data={"csrf_token": who.csrf})
    assert signed_out.status_code in (302, 303)
    assert signed_in_client().get("/").status_code == 302
    refresh_sessions(engine, clients, clock.now())
    assert signed_in_client().get("/").status_code == 200


def test_the_reference_app_renders_about_8_kb_for_a_signed_in_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ref.sqlite3'}"
    setup(url, users=3)
    app = create_reference(url, secret_key="test")
    client = app.test_client()
    assert client.get("/items").status_code == 403
    name, value = session_cookie(app, 2)
    client.set_cookie(name, value)
    page = client.get("/items")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Reference user 2" in html
    assert html.count("<tr>") == 51  # the heading row and 50 items
    assert 7 * 1024 <= len(page.get_data()) <= 10 * 1024
    app.extensions["bench_ref_engine"].dispose()


def test_the_wrk_script_rotates_sessions_and_its_result_line_is_read() -> None:
    prepared = [
        wrk.Prepared("GET", "/", "kiosk_session=a"),
        wrk.Prepared("POST", "/requests/new", "kiosk_session=b", (("csrf_token", "x y"),)),
    ]
    script = wrk.lua_script(prepared, (200, 303))
    assert '"kiosk_session=a"' in script
    assert "csrf_token=x+y" in script
    assert "[303]=true" in script
    line = (
        'BENCH_JSON {"requests":2000,"duration_us":2000000,"bytes":16384000,"p50":4000,'
        '"p95":9000,"p99":15000,"max":40000,"bad":3,"first_bad":302,"connect":0,"read":1,'
        '"write":0,"status":3,"timeout":0}'
    )
    result = wrk.parse("Running 2s test\n" + line + "\n")
    assert result.rps == 1000
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (4.0, 9.0, 15.0)
    assert result.errors == 4
    assert result.bad_status == 302
    with pytest.raises(ValueError, match="no result line"):
        wrk.parse("connection refused")


def test_the_search_for_the_largest_n_bisects_between_the_target_and_the_limits() -> None:
    capacity = 3100

    def fake(n: int) -> terminals.Probe:
        slow = n > capacity
        return terminals.Probe(n, 10, 1, n, 0, "", 5, 9, 200 if slow else 50, 300, n / 10, 0)

    best, probes = terminals.largest(
        fake, target=4500, minimum=100, maximum=6000, steps=8, p99_limit_ms=150
    )
    assert probes[0].terminals == 4500
    assert best is not None
    assert 2800 <= best <= capacity
    best, _ = terminals.largest(
        fake, target=1000, minimum=100, maximum=2000, steps=3, p99_limit_ms=150
    )
    assert best == 2000


@pytest.fixture
def tiny_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"ok" if "kiosk_session=good" in self.headers.get("Cookie", "") else b"no"
            self.send_response(200 if body == b"ok" else 302)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_the_terminal_model_counts_views_latency_and_wrong_statuses(tiny_server: int) -> None:
    good = Client("kiosk", 1, 1, {"kiosk_session": "good"}, "t")
    bad = Client("kiosk", 2, 2, {"kiosk_session": "gone"}, "t")
    home = find("inmate home")
    data = Generated(database_url="sqlite://")
    result = terminals.probe(
        tiny_server, 4, clients=[good], pages=[home], data=data, period=0.2, duration=0.6
    )
    assert result.views == 12
    assert result.errors == 0
    assert 0 < result.p50_ms < 1000
    assert result.client_cpu_ms > 0, "the load generator's own CPU per view is measured"
    failing = terminals.probe(
        tiny_server, 2, clients=[bad], pages=[home], data=data, period=0.2, duration=0.4
    )
    assert failing.errors == failing.views == 4
    assert failing.first_error == "status 302"


def test_a_servers_cpu_time_counts_its_workers_and_the_workers_it_reaped(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from bench.servers import Server

    # A master that starts a busy child, reaps it, then starts another that stays busy.
    burn = "import time; t = time.process_time(); exec('while time.process_time() - t < 0.3: pass')"
    master = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {burn!r}])\n"
        f"subprocess.Popen([sys.executable, '-c', {burn!r} + '; time.sleep(30)'])\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", master])
    server = Server(name="busy", port=0, proc=proc, log_path=tmp_path / "busy.log")
    try:
        deadline = time.monotonic() + 20
        while server.cpu_seconds() < 0.55 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.cpu_seconds() >= 0.55, "both children's CPU, the reaped one's included"
        assert len(server.workers()) == 1
    finally:
        for pid in server.workers():
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_warming_up_sends_each_page_rounds_times_concurrency_and_counts_wrong_statuses(
    tiny_server: int,
) -> None:
    good = Client("kiosk", 1, 1, {"kiosk_session": "good"}, "t")
    bad = Client("kiosk", 2, 2, {"kiosk_session": "gone"}, "t")
    home = find("inmate home")
    data = Generated(database_url="sqlite://")
    assert terminals.warm(
        tiny_server, clients=[good], pages=[home], data=data, rounds=2, concurrency=3
    ) == (6, 0)
    # Clients alternate: half the views carry a session the server no longer knows.
    assert terminals.warm(
        tiny_server, clients=[good, bad], pages=[home], data=data, rounds=1, concurrency=4
    ) == (4, 2)


def test_the_report_prints_measured_and_unmeasured_pages() -> None:
    row = {
        "page": "inmate home",
        "rps": 900.0,
        "p50_ms": 8.0,
        "p95_ms": 20.0,
        "p99_ms": 30.0,
        "errors": 0,
        "queries": 4,
        "bytes_per_request": 5000,
        "ratio_flask": 0.9,
        "ratio_nginx": 0.01,
        "server_cpu_ms": 4.25,
        "ratio_flask_cpu": 0.47,
    }
    results = {
        "runs": {
            "sqlite": {
                "pages": [row],
                "references": {"flask_during_pages": {"min_rps": 352.0, "max_rps": 611.0}},
                "not_measured": [{"page": "lesson", "reason": "learning not on main yet"}],
                "orders": {"measured": False, "reason": "commissary not on main yet"},
            }
        }
    }
    text = report.table(results)
    assert "inmate home" in text
    assert "0.90" in text
    assert "lesson" in text
    assert "not measured" in text
    assert "352 to 611 req/s" in text
    assert "4.25" in text, "the server's CPU per request is shown"
    assert "0.47" in text, "and its ratio to bare Flask's"
    from bench.readme import markdown

    md = markdown(results)
    assert "| 4.25 | 0.47 |" in md


def test_a_wrk_run_reports_the_servers_cpu_time_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench import run

    cpu = iter([10.0, 10.5])

    class Busy:
        url = "http://127.0.0.1:1"

        def cpu_seconds(self) -> float:
            return next(cpu)

    figures = wrk.WrkResult(100, 1.0, 100.0, 1.0, 2.0, 3.0, 4.0, 0, 0, 0, 8000.0)
    monkeypatch.setattr(run.wrk, "run", lambda url, prepared, **kw: figures)
    result = run.measured_run(Busy(), [], duration=1.0)  # type: ignore[arg-type]
    assert result.server_cpu_ms == pytest.approx(5.0), "0.5 s of CPU over 100 requests"
    assert result.as_dict()["server_cpu_ms"] == 5.0


def test_a_target_this_run_did_not_measure_is_reported_as_not_measured() -> None:
    from bench.run import targets

    config = BenchConfig.from_env()
    home = {"bytes": 18_000, "outside": []}
    sqlite = {
        "database": "sqlite",
        "pages": [{"page": "inmate home", "inmate_page": True, "ratio_flask": 0.5}],
        "in_process": {"_home_total": home},
        "orders": {"orders_per_s": 500.0, "target_met": True},
    }
    goals = targets(config, sqlite)
    assert goals["inmate_pages_at_least_0.8_of_flask"]["met"] is False
    assert goals["home_page_under_30_kb_nothing_outside"]["met"] is True
    assert goals["terminals"]["met"] is None, "the terminal model did not run"
    assert goals["worker_memory_under_80_mb"]["met"] is None, "no memory was sampled"
    assert goals["orders_200_per_s_no_overspend"]["met"] is None, "judged on PostgreSQL only"
    postgresql = {**sqlite, "database": "postgresql"}
    assert targets(config, postgresql)["orders_200_per_s_no_overspend"]["met"] is True
    text = report.table({"runs": {"sqlite": {"database": "sqlite", "targets": goals}}})
    assert "terminals: not measured" in text
    assert "inmate_pages_at_least_0.8_of_flask: NOT met" in text
    assert "home_page_under_30_kb_nothing_outside: met" in text


def test_benchmark_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_DURATION", "3")
    monkeypatch.setenv("BENCH_SCALE", "0.1")
    monkeypatch.setenv("BENCH_DATABASES", "sqlite")
    config = BenchConfig.from_env()
    assert config.duration == 3
    assert config.databases == ("sqlite",)
    assert config.scale.inmates == 500
    assert config.scale.ledger_entries == 100_000
    assert config.pg_url.endswith("/kiosk_bench")


def test_the_generated_ledger_passes_the_ledger_verifier(
    kiosk_app: Flask, clock: FrozenClock
) -> None:
    ledger = pytest.importorskip("kiosk.services.ledger")
    state = kiosk_app.extensions["kiosk"]
    engine = engine_of(kiosk_app)
    scale = Scale(
        facilities=2,
        units_per_facility=1,
        inmates=12,
        staff=9,
        terminals=3,
        products=12,
        courses=1,
        lessons_per_course=1,
        requests=6,
        ledger_entries=600,
    )
    data = generate(engine, scale, hasher=state.hasher, vault=state.vault, now=clock.now())
    generate(
        engine,
        scale,
        hasher=state.hasher,
        vault=state.vault,
        now=clock.now(),
        areas=[a for a in AREAS if a.name == "commissary"],
        result=data,
        seed=3,
    )
    assert data.counts["ledger_entries"] >= 1200
    with state.database.session() as session:
        assert [str(p) for p in ledger.verify(session)] == []
        balances = session.execute(
            text("SELECT MIN(balance) FROM ledger_accounts WHERE kind = 'inmate'")
        ).scalar()
    assert balances >= 10_000
