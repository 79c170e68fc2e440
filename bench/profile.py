"""``python -m bench.profile``: CPU time per request, in-process, and where it goes.

The wrk figures depend on the machine's load; this does not much. It prepares
the benchmark database as ``make bench`` does (``BENCH_REUSE_DATA=1`` reuses an
earlier run's data), then sends each page's request through the Flask test
client in one thread, many times, and prints milliseconds per request beside
the bare Flask reference measured the same way. With ``--profile`` it also
prints the functions that took the most time (cProfile), to find what to make
cheaper. It is a tool for developers; it asserts nothing.

    .venv/bin/python -m bench.profile --db sqlite --pages "inmate home,lesson" -n 300
    .venv/bin/python -m bench.profile --db postgresql --profile --top 25
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from bench import pages as page_registry
from bench import reference
from bench.config import BenchConfig
from bench.pages import Page
from bench.sessions import Client


def _request(
    app: Flask, clients: Sequence[Client], page: Page, data: page_registry.PageData
) -> Callable[[], int]:
    """A function that sends the page's request once and returns the status.

    Every request goes round the sessions, one after another, as the benchmark's wrk
    runs do: one inmate's page again and again reads the same rows from a warm cache (the
    catalogue timed 4.7 ms that way and cost 12.9 ms of server CPU under wrk), and one
    inmate posting hundreds of requests or orders would soon be refused (a daily or weekly
    limit), and the refusal page is what would be timed.
    """
    engine = app.extensions["kiosk"].database.engine
    senders = [_test_client(app, c) for c in clients]
    turn = itertools.cycle(range(len(senders)))

    def send() -> int:
        i = next(turn)
        client, test_client = clients[i], senders[i]
        if page.prepare is not None:
            with engine.begin() as conn:
                page.prepare(conn, client, data)
        path = page.path_for(client, data)
        if page.method == "POST":
            response = test_client.post(path, data=page.form_for(client, data))
        else:
            response = test_client.get(path)
        response.get_data()
        response.close()
        return response.status_code

    return send


def _test_client(app: Flask, client: Client) -> FlaskClient:
    test_client = app.test_client()
    for name, value in client.cookies.items():
        test_client.set_cookie(name, value)
    return test_client


def _time(send: Callable[[], int], n: int, expect: tuple[int, ...]) -> tuple[float, int]:
    """CPU milliseconds per request (the fastest of ten slices) and the number of bad answers.

    CPU time of this process, not wall time, and the fastest slice: other work on the
    machine slows some slices down, never speeds one up. On PostgreSQL the database
    server's own time is not in it.
    """
    bad = 0
    for _ in range(max(5, n // 10)):  # warm-up: templates compiled, caches filled
        send()
    slices: list[float] = []
    per_slice = max(1, n // 10)
    for _ in range(10):
        started = time.process_time()
        for _ in range(per_slice):
            if send() not in expect:
                bad += 1
        slices.append((time.process_time() - started) * 1000 / per_slice)
    return min(slices), bad


def _print_statements(app: Flask, send: Callable[[], int]) -> None:
    """One request's statements with the milliseconds each took, slowest first."""
    engine = app.extensions["kiosk"].database.engine
    timings: list[tuple[float, str]] = []
    started: list[float] = []

    def before(*_args: Any) -> None:
        started.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        timings.append(((time.perf_counter() - started.pop()) * 1000, statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        send()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    for ms, statement in sorted(timings, reverse=True):
        print(f"    {ms:8.2f} ms  {' '.join(statement.split())[:300]}")


def profiling_arguments(doc: str | None, *, default_db: str) -> argparse.ArgumentParser:
    """The options both profiling tools share (database, count, cProfile, statements)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else "")
    parser.add_argument("--db", default=default_db, choices=["sqlite", "postgresql"])
    parser.add_argument("-n", type=int, default=200, help="requests per measurement")
    parser.add_argument("--profile", action="store_true", help="print a cProfile")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    parser.add_argument("--sql", action="store_true", help="print each statement's time")
    return parser


def prepared_database(db: str) -> Any:
    """The benchmark database of this kind, ready (earlier data reused), with its log."""
    from bench.run import prepare

    config = replace(BenchConfig.from_env(), databases=(db,), reuse_data=True)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    return prepare(config, db, log)


def main() -> int:
    """Measure the chosen pages on the chosen database and print the table."""
    parser = profiling_arguments(__doc__, default_db="sqlite")
    parser.add_argument("--pages", default="", help="comma-separated page names (default all)")
    args = parser.parse_args()

    from bench.run import build_apps

    prep = prepared_database(args.db)
    apps = build_apps(prep.settings)
    endpoints = {name: set(app.view_functions) for name, app in apps.items()}
    wanted = {p.strip() for p in args.pages.split(",") if p.strip()}
    chosen = [
        p
        for p in page_registry.PAGES
        if (not wanted or p.name in wanted) and p.available(prep.tables, endpoints)
    ]

    reference.setup(prep.url)
    ref_app = reference.create_app(prep.url)
    ref_client = ref_app.test_client()
    cookie_name, cookie_value = reference.session_cookie(ref_app, 1)
    ref_client.set_cookie(cookie_name, cookie_value)

    def ref_send() -> int:
        response = ref_client.get("/items")
        response.get_data()
        return response.status_code

    ref_ms, _ = _time(ref_send, args.n, (200,))
    print(f"\n{'page':32} {'CPU ms/req':>10} {'x Flask':>8} {'bad':>4}")
    print(f"{'reference: bare Flask':32} {ref_ms:10.2f} {1.0:8.2f} {0:4}")
    for page in chosen:
        clients = page_registry.clients_for(page, prep.clients, prep.data)
        if not clients:
            print(f"{page.name:32} no session")
            continue
        send = _request(apps[page.app], clients, page, prep.data)
        ms, bad = _time(send, args.n, page.expect)
        print(f"{page.name:32} {ms:10.2f} {ref_ms / ms:8.2f} {bad:4}", flush=True)
        if args.sql:
            _print_statements(apps[page.app], send)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.n):
                send()
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
