"""``python -m bench.order_profile``: what one order placement costs, in-process.

``bench.profile`` posts the order form again and again for one inmate, so most of its
answers are refusals (weekly limit, empty cart). This tool fills the carts of many
inmates first, as the order benchmark does, and places one order for each, so every
request measured is a real order (303). It prints milliseconds per order (wall and
this process's CPU), the statements of one order with their times, and optionally a
cProfile; with ``--threads`` it also places orders from several threads at once
(one app, like one gunicorn worker) to show what waiting on locks costs.

    .venv/bin/python -m bench.order_profile --db postgresql -n 200 --sql
    .venv/bin/python -m bench.order_profile --db postgresql -n 300 --profile --sort cumulative
    .venv/bin/python -m bench.order_profile --db postgresql -n 400 --threads 4
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import pstats
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, event

from bench.orders import fill_carts, unique_inmates
from bench.pages import find
from bench.profile import prepared_database, profiling_arguments
from bench.sessions import Client, refresh_sessions

refusals: list[str] = []


def _sender(app: Flask, prep: Any) -> Callable[[Client], int]:
    page = find("order placement")

    def send(client: Client) -> int:
        test_client = app.test_client()
        for name, value in client.cookies.items():
            test_client.set_cookie(name, value)
        response = test_client.post("/shop/order", data=page.form_for(client, prep.data))
        body = response.get_data(as_text=True)
        response.close()
        if response.status_code != 303 and len(refusals) < 5:
            found = re.search(r'error-summary__list">\s*<li>([^<]{0,200})', body)
            refusals.append(f"{response.status_code} {found.group(1) if found else ''}".strip())
        return response.status_code

    return send


def _sequential(
    send: Callable[[Client], int], clients: Sequence[Client]
) -> tuple[float, float, int]:
    bad = 0
    wall = time.perf_counter()
    cpu = time.process_time()
    for c in clients:
        if send(c) != 303:
            bad += 1
    n = max(len(clients), 1)
    return (
        (time.perf_counter() - wall) * 1000 / n,
        (time.process_time() - cpu) * 1000 / n,
        bad,
    )


def _threaded(
    send: Callable[[Client], int], clients: Sequence[Client], threads: int
) -> tuple[float, int]:
    lock = threading.Lock()
    queue = list(clients)
    bad = [0]

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                c = queue.pop()
            if send(c) != 303:
                with lock:
                    bad[0] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return len(clients) / (time.perf_counter() - started), bad[0]


def main() -> int:
    """Fill carts, place orders, print the figures."""
    parser = profiling_arguments(__doc__, default_db="postgresql")
    parser.add_argument("--threads", type=int, default=0, help="also place orders from N threads")
    parser.add_argument("--callers", default="", help="with --profile: callers of matching names")
    args = parser.parse_args()

    from bench.run import build_apps

    prep = prepared_database(args.db)
    app = build_apps(prep.settings)["kiosk"]
    inmates = unique_inmates(prep.clients)
    engine = create_engine(prep.url)
    app_engine = app.extensions["kiosk"].database.engine
    send = _sender(app, prep)
    cursor = int(time.time()) % max(len(inmates), 1)  # not the same inmates at each run

    def batch(n: int) -> list[Client]:
        nonlocal cursor
        if cursor + n > len(inmates):
            cursor = 0
        chosen = inmates[cursor : cursor + n]
        cursor += n
        with engine.begin() as conn:
            fill_carts(conn, chosen, prep)
        refresh_sessions(engine, chosen, dt.datetime.now(dt.UTC))
        return chosen

    _sequential(send, batch(max(10, args.n // 10)))  # warm-up
    statements = [0]

    def count(*_a: Any) -> None:
        statements[0] += 1

    event.listen(app_engine, "before_cursor_execute", count)
    clients = batch(args.n)
    wall_ms, cpu_ms, bad = _sequential(send, clients)
    event.remove(app_engine, "before_cursor_execute", count)
    print(
        f"\nsequential: {wall_ms:.2f} ms/order wall, {cpu_ms:.2f} ms/order CPU,"
        f" {statements[0] / max(len(clients), 1):.1f} statements/order, {bad} not 303",
        flush=True,
    )

    if args.sql:
        timings: list[tuple[float, str]] = []
        marks: list[float] = []

        def before(*_a: Any) -> None:
            marks.append(time.perf_counter())

        def after(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            timings.append(((time.perf_counter() - marks.pop()) * 1000, statement))

        one = batch(1)
        event.listen(app_engine, "before_cursor_execute", before)
        event.listen(app_engine, "after_cursor_execute", after)
        status = send(one[0])
        event.remove(app_engine, "before_cursor_execute", before)
        event.remove(app_engine, "after_cursor_execute", after)
        print(f"one order ({status}), statements in order:")
        for ms, statement in timings:
            print(f"    {ms:8.2f} ms  {' '.join(statement.split())[:160]}")

    if args.threads:
        waits: list[float] = []
        holds: list[float] = []
        local = threading.local()

        def head_before(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if "FROM audit_head" in statement and "FOR UPDATE" in statement:
                local.asked = time.perf_counter()

        def head_after(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if "FROM audit_head" in statement and "FOR UPDATE" in statement:
                local.got = time.perf_counter()
                waits.append((local.got - local.asked) * 1000)

        def committed(_conn: Any) -> None:
            got = getattr(local, "got", None)
            if got is not None:
                holds.append((time.perf_counter() - got) * 1000)
                local.got = None

        clients = batch(args.n)
        event.listen(app_engine, "before_cursor_execute", head_before)
        event.listen(app_engine, "after_cursor_execute", head_after)
        event.listen(app_engine, "commit", committed)
        rate, bad = _threaded(send, clients, args.threads)
        event.remove(app_engine, "before_cursor_execute", head_before)
        event.remove(app_engine, "after_cursor_execute", head_after)
        event.remove(app_engine, "commit", committed)
        print(f"{args.threads} threads: {rate:.0f} orders/s in-process, {bad} not 303", flush=True)
        for name, values in (("waiting for", waits), ("holding (to COMMIT sent)", holds)):
            values.sort()
            if values:
                print(
                    f"  audit head lock, {name}: median {values[len(values) // 2]:.2f} ms,"
                    f" p90 {values[len(values) * 9 // 10]:.2f} ms, total {sum(values):.0f} ms"
                )

    if args.profile:
        clients = batch(args.n)
        profiler = cProfile.Profile()
        profiler.enable()
        for c in clients:
            send(c)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
        stats.print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)
        print(out.getvalue())
    if refusals:
        print("first answers other than 303:", refusals)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
