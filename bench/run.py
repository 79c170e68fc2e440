"""One benchmark run on one database: data, sessions, servers, load, figures."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import data as datagen
from bench import orders as order_bench
from bench import pages as page_registry
from bench import reference, servers, sessions, terminals, wrk
from bench.config import ROOT, BenchConfig
from bench.data import Generated
from bench.pages import Page
from bench.queries import measure
from bench.sessions import Client
from kiosk.config import Secrets, Settings, load_or_create_secrets
from kiosk.migrate import upgrade
from kiosk.security.crypto import Vault
from kiosk.security.passwords import SecretHasher

Log = Callable[[str], None]
_ASSET = re.compile(r'(?:href|src)="([^"]+)"')


@dataclass
class Prepared:
    """A database ready for load: its URL, settings, data and sessions."""

    kind: str
    url: str
    settings: Settings
    secrets: Secrets
    data: Generated
    clients: list[Client]
    tables: set[str]
    timings: dict[str, float] = field(default_factory=dict)


def database_url(config: BenchConfig, kind: str) -> str:
    """The URL of the benchmark database of this kind."""
    if kind == "sqlite":
        return f"sqlite:///{config.workdir / 'sqlite' / 'kiosk.sqlite3'}"
    if kind == "postgresql":
        return config.pg_url
    raise ValueError(f"unknown database {kind!r}: use sqlite or postgresql")


def reset_database(url: str) -> None:
    """An empty database: a new SQLite file, or PostgreSQL's public schema dropped."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    if parsed.database in ("test", None):
        raise ValueError("the benchmark never touches the test database; set BENCH_PG_URL")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def settings_for(config: BenchConfig, kind: str, url: str) -> Settings:
    """The apps' settings on the benchmark database (production defaults otherwise)."""
    return Settings.from_env(
        environ={},
        instance_path=config.workdir / f"instance-{kind}",
        database_url=url,
    )


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that makes gunicorn's apps use the benchmark database."""
    return {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
        "KIOSK_LOG_LEVEL": "warning",
        # As the systemd units run the apps (deploy/kiosk-portal@.service).
        "MALLOC_ARENA_MAX": "2",
    }


def fingerprint(config: BenchConfig, url: str) -> str:
    """What the generated data depends on: scale, seed, schema and the generators' code."""
    from kiosk.migrate import head_revision

    code = hashlib.sha256()
    for path in [ROOT / "bench" / "data.py", *sorted((ROOT / "bench" / "areas").glob("*.py"))]:
        code.update(path.read_bytes())
    facts = {
        "scale": config.scale.__dict__,
        "seed": config.seed,
        "head": head_revision(url),
        "code": code.hexdigest(),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _inmates_in(url: str) -> int | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM inmates")).scalar() or 0)
    except Exception:  # no table, no database: nothing to reuse
        return None
    finally:
        engine.dispose()


def prepare(config: BenchConfig, kind: str, log: Log) -> Prepared:
    """Migrate an empty database, fill it, and sign in a session per simulated terminal.

    With ``BENCH_REUSE_DATA=1`` the data of an earlier run with the same fingerprint is
    used again (SQLite: a pristine copy of the file; PostgreSQL: the database as the
    last run left it, a few thousand orders and requests richer).
    """
    url = database_url(config, kind)
    timings: dict[str, float] = {}
    settings = settings_for(config, kind, url)
    secrets = load_or_create_secrets(settings.instance_path, {})
    state_path = config.workdir / f"data-{kind}.json"
    template = config.workdir / "sqlite" / "kiosk-template.sqlite3"
    print_ = fingerprint(config, url)
    generated: Generated | None = None
    if config.reuse_data and state_path.exists():
        saved = json.loads(state_path.read_text())
        if saved.get("fingerprint") == print_ and (kind != "sqlite" or template.exists()):
            if kind == "sqlite":
                target = Path(make_url(url).database or "")
                for suffix in ("-wal", "-shm"):
                    Path(str(target) + suffix).unlink(missing_ok=True)
                shutil.copyfile(template, target)
            generated = Generated.from_json(saved["data"])
            if _inmates_in(url) != generated.counts.get("inmates"):
                generated = None  # the database changed since (tests use it too): make it again
            else:
                timings["reused_data"] = 1.0
                log(f"{kind}: reusing the data of an earlier run ({state_path.name})")
    engine = datagen.generation_engine(url)
    now = dt.datetime.now(dt.UTC)
    if generated is None:
        started = time.perf_counter()
        engine.dispose()
        reset_database(url)
        upgrade(url)
        timings["migrate_s"] = time.perf_counter() - started
        # Cheap hashing for the one PIN and password stored: the benchmark never signs in.
        hasher = SecretHasher(
            time_cost=1, memory_kib=64, parallelism=1, pin_pepper=secrets.pin_pepper
        )
        engine = datagen.generation_engine(url)
        started = time.perf_counter()
        generated = datagen.generate(
            engine,
            config.scale,
            hasher=hasher,
            vault=Vault(secrets.data_key),
            now=now,
            seed=config.seed,
            log=log,
        )
        timings["generate_s"] = time.perf_counter() - started
        state_path.write_text(json.dumps({"fingerprint": print_, "data": generated.to_json()}))
        if kind == "sqlite":
            engine.dispose()
            shutil.copyfile(Path(make_url(url).database or ""), template)
    staff_ids = pick_staff(generated)
    started = time.perf_counter()
    clients = sessions.create_sessions(
        engine, secrets, now=now, terminals=generated.terminals, staff=staff_ids
    )
    timings["sessions_s"] = time.perf_counter() - started
    tables = datagen.existing_tables(engine)
    engine.dispose()
    log(f"{kind}: {len(clients)} sessions; data {generated.counts}")
    return Prepared(kind, url, settings, secrets, generated, clients, tables, timings)


def pick_staff(generated: Generated, per_role: int = 5) -> list[int]:
    """A few staff members of every role get a session."""
    chosen: list[int] = []
    seen: dict[str, int] = {}
    for staff_id in generated.staff:
        role = generated.staff_roles[staff_id]
        if seen.get(role, 0) < per_role:
            chosen.append(staff_id)
            seen[role] = seen.get(role, 0) + 1
    return chosen


def selected_pages(config: BenchConfig) -> list[Page]:
    """The pages this run measures (``BENCH_PAGES``, default all)."""
    if "all" in config.pages:
        return list(page_registry.PAGES)
    return [p for p in page_registry.PAGES if p.name in config.pages]


def build_apps(settings: Settings) -> dict[str, Flask]:
    """Both apps in this process, for statement counts and to know which routes exist."""
    from admin import create_app as create_admin
    from kiosk import create_app as create_kiosk

    return {"kiosk": create_kiosk(settings), "admin": create_admin(settings)}


def in_process_checks(
    prep: Prepared, pages: list[Page], apps: dict[str, Flask], log: Log
) -> dict[str, dict[str, Any]]:
    """Statements per request, status and size of each page, through the test client."""
    found: dict[str, dict[str, Any]] = {}
    for page in pages:
        clients = page_registry.clients_for(page, prep.clients, prep.data)
        if not clients:
            found[page.name] = {"error": "no session for this page"}
            continue
        counts = [measure(apps[page.app], c, page, prep.data) for c in clients[:3]]
        found[page.name] = {
            "queries": max(c.queries for c in counts),
            "statements": max(len(c.statements) for c in counts),
            "status": counts[0].status,
            "bytes": counts[0].size,
            "ok": all(c.status in page.expect for c in counts),
        }
    found["_home_total"] = home_weight(apps["kiosk"], prep.clients[0])
    log(
        f"{prep.kind}: statements per page "
        f"{ ({k: v.get('queries') for k, v in found.items() if not k.startswith('_')}) }"
    )
    return found


def home_weight(app: Flask, client: Client) -> dict[str, Any]:
    """The inmate home page with everything it loads: total bytes, and any outside URL."""
    test_client = app.test_client()
    for name, value in client.cookies.items():
        test_client.set_cookie(name, value)
    page = test_client.get("/")
    html = page.get_data(as_text=True)
    total = len(page.get_data())
    outside: list[str] = []
    assets: list[str] = []
    for url in sorted(set(_ASSET.findall(html))):
        if url.startswith(("http:", "https:", "//")):
            outside.append(url)
            continue
        if (
            not url.startswith("/static/")
            and "/static/" not in url
            and not url.endswith((".css", ".svg", ".png", ".ico", ".js", ".woff2"))
        ):
            continue
        asset = test_client.get(url.replace("&amp;", "&"))
        assets.append(url)
        total += len(asset.get_data())
    return {
        "bytes": total,
        "html_bytes": len(page.get_data()),
        "assets": assets,
        "outside": outside,
    }


def _requests_for(page: Page, prep: Prepared, limit: int = 2000) -> list[wrk.Prepared]:
    clients = page_registry.clients_for(page, prep.clients, prep.data)[:limit]
    return [
        wrk.Prepared(
            method=page.method,
            path=page.path_for(c, prep.data),
            cookie=c.cookie_header,
            form=tuple(page.form_for(c, prep.data).items()) if page.method == "POST" else (),
        )
        for c in clients
    ]


def load(
    config: BenchConfig,
    server: servers.Server,
    prepared: list[wrk.Prepared],
    expect: tuple[int, ...],
    connections: int | None = None,
    duration: float | None = None,
) -> wrk.WrkResult:
    """Warm up, then measure one page with wrk."""
    conns = connections or config.connections
    if config.warmup > 0:
        wrk.run(
            server.url,
            prepared,
            expect=expect,
            duration=config.warmup,
            connections=conns,
            threads=config.wrk_threads,
            workdir=config.workdir,
        )
    return measured_run(
        server,
        prepared,
        expect=expect,
        duration=duration or config.duration,
        connections=conns,
        threads=config.wrk_threads,
        workdir=config.workdir,
    )


def measured_run(server: servers.Server, prepared: list[wrk.Prepared], **kw: Any) -> wrk.WrkResult:
    """One wrk run, with the server's own CPU time per request.

    CPU per request compares pages with the reference more steadily than requests per
    second: wrk shares the two cores, and a virtual machine's speed drifts over minutes.
    """
    before = server.cpu_seconds()
    result = wrk.run(server.url, prepared, **kw)
    used = server.cpu_seconds() - before
    return replace(result, server_cpu_ms=1000 * used / max(result.requests, 1))


def run_database(config: BenchConfig, kind: str, log: Log) -> dict[str, Any]:
    """The whole benchmark on one database; returns its figures."""
    result: dict[str, Any] = {"database": kind}
    prep = prepare(config, kind, log)
    result["data"] = {"counts": prep.data.counts, "areas": prep.data.areas, **prep.timings}
    pages = selected_pages(config)
    apps = build_apps(prep.settings)
    endpoints = {name: set(app.view_functions) for name, app in apps.items()}
    result["not_measured"] = [
        {"page": p.name, "reason": "its area is not on main yet (no tables or route)"}
        for p in pages
        if not p.available(prep.tables, endpoints)
    ]
    pages = [p for p in pages if p.available(prep.tables, endpoints)]
    try:
        result["in_process"] = in_process_checks(prep, pages, apps, log)
    finally:
        for app in apps.values():
            app.extensions["kiosk"].database.dispose()

    reference.setup(prep.url)
    logdir = config.workdir / f"logs-{kind}"
    logdir.mkdir(parents=True, exist_ok=True)
    env = env_for(prep.settings)
    started: list[servers.Server] = []
    try:
        kiosk_srv = servers.start_gunicorn(
            "kiosk",
            "kiosk:create_app()",
            conf=ROOT / "kiosk/gunicorn.conf.py",
            env=env,
            logdir=logdir,
        )
        started.append(kiosk_srv)
        admin_srv = servers.start_gunicorn(
            "admin",
            "admin:create_app()",
            conf=ROOT / "admin/gunicorn.conf.py",
            env=env,
            logdir=logdir,
        )
        started.append(admin_srv)
        ref_srv = servers.start_gunicorn(
            "reference",
            "bench.reference:create_app()",
            conf=ROOT / "kiosk/gunicorn.conf.py",
            env={**env, reference.DATABASE_ENV: prep.url},
            logdir=logdir,
        )
        started.append(ref_srv)
        nginx_srv = None
        if "nginx" not in config.skip:
            nginx_srv = servers.start_nginx_static(config.workdir)
            if nginx_srv:
                started.append(nginx_srv)
        by_app = {"kiosk": kiosk_srv, "admin": admin_srv}

        # References.
        refs: dict[str, Any] = {}
        ref_app = reference.create_app(prep.url)
        cookie_name, cookie_value = reference.session_cookie(ref_app, 1)
        ref_app.extensions["bench_ref_engine"].dispose()
        ref_requests = [
            wrk.Prepared(
                "GET", "/items", f"{cookie_name}={reference.session_cookie(ref_app, u)[1]}"
            )
            for u in range(1, 101)
        ]
        del cookie_value
        figures = load(config, ref_srv, ref_requests, (200,))
        refs["flask"] = figures.as_dict()
        log(
            f"{kind}: reference bare Flask: {figures.rps:.0f} req/s, p99 {figures.p99_ms:.1f} ms,"
            f" server CPU {figures.server_cpu_ms:.2f} ms/request"
        )
        if nginx_srv is not None:
            figures = load(config, nginx_srv, [wrk.Prepared("GET", "/static.html")], (200,))
            refs["nginx"] = figures.as_dict()
            log(f"{kind}: reference nginx static: {figures.rps:.0f} req/s")
        result["references"] = refs

        # Pages.
        measured: list[dict[str, Any]] = []
        engine = create_engine(prep.url)
        # The machine's speed drifts over minutes (a shared VM): each page's ratio is
        # judged against bare Flask measured in a short slice just before and just after it.
        around: list[float] = []
        around_cpu: list[float] = []

        def bracket() -> float:
            slice_ = measured_run(
                ref_srv,
                ref_requests,
                expect=(200,),
                duration=max(2.0, config.duration / 4),
                connections=config.connections,
                threads=config.wrk_threads,
                workdir=config.workdir,
            )
            around.append(slice_.rps)
            around_cpu.append(slice_.server_cpu_ms)
            return slice_.rps

        for page in [p for p in pages if "orders" not in p.tags]:
            sessions.refresh_sessions(engine, prep.clients, dt.datetime.now(dt.UTC))
            prepared = _requests_for(page, prep)
            if not prepared:
                continue
            before = bracket()
            figures = load(config, by_app[page.app], prepared, page.expect)
            after = bracket()
            row: dict[str, Any] = {
                "page": page.name,
                "app": page.app,
                "method": page.method,
                "inmate_page": page.inmate,
                **figures.as_dict(),
                "queries": result["in_process"].get(page.name, {}).get("queries"),
            }
            flask_rps = (before + after) / 2 if before and after else None
            row["flask_rps_around"] = [round(before, 1), round(after, 1)]
            nginx_rps = refs.get("nginx", {}).get("rps")
            row["ratio_flask"] = round(figures.rps / flask_rps, 3) if flask_rps else None
            row["ratio_nginx"] = round(figures.rps / nginx_rps, 4) if nginx_rps else None
            # The same comparison in server CPU per request (the reference's, in the two
            # slices around the page, over the page's): less moved by the drift and by wrk.
            flask_cpu = (around_cpu[-2] + around_cpu[-1]) / 2
            row["flask_cpu_ms_around"] = [round(around_cpu[-2], 3), round(around_cpu[-1], 3)]
            row["ratio_flask_cpu"] = (
                round(flask_cpu / figures.server_cpu_ms, 3)
                if flask_cpu and figures.server_cpu_ms
                else None
            )
            measured.append(row)
            log(
                f"{kind}: {page.name}: {figures.rps:.0f} req/s, p99 {figures.p99_ms:.1f} ms, "
                f"errors {figures.errors}, ratio to Flask {row['ratio_flask']}; server CPU "
                f"{figures.server_cpu_ms:.2f} ms/request, ratio to Flask {row['ratio_flask_cpu']}"
            )
        result["pages"] = measured
        if around:
            refs["flask_during_pages"] = {
                "min_rps": round(min(around), 1),
                "max_rps": round(max(around), 1),
            }
            log(
                f"{kind}: bare Flask measured around the pages: "
                f"{min(around):.0f} to {max(around):.0f} req/s"
            )
        engine.dispose()

        # Orders (once the commissary exists).
        if "orders" not in config.skip:
            result["orders"] = order_bench.run(config, prep, kiosk_srv, log)

        # Terminal model, straight to gunicorn and then through nginx.
        if "terminals" not in config.skip:
            result["terminals"] = terminal_model(config, prep, kiosk_srv, pages, measured, log)
            if "stack" not in config.skip:
                from bench import stack

                term = result["terminals"]
                # The largest N that passed straight to gunicorn, and the target if it passed.
                sizes = [n for n in (term["largest_n"],) if n]
                if not sizes and term["probes"]:
                    # Nothing passed: compare at the smallest N tried.
                    sizes = [min(p["terminals"] for p in term["probes"])]
                if term["target_met"] and config.terminal_target not in sizes:
                    sizes.append(config.terminal_target)
                result["through_nginx"] = stack.run(config, prep, pages, sizes, log)

        for srv in started:
            srv.sample()
        result["memory"] = {
            srv.name: {
                "typical_worker_mb": round(srv.typical_worker_kib / 1024, 1),
                "peak_worker_mb": round(srv.peak_worker_kib / 1024, 1),
                "high_water_worker_mb": round(srv.hwm_worker_kib / 1024, 1),
                "workers_seen": len(srv.peak_by_pid),
            }
            for srv in started
        }
        result["targets"] = targets(config, result)
    finally:
        for srv in started:
            srv.stop()
    return result


def estimated_capacity(rows: list[dict[str, Any]], mix: list[Page]) -> float | None:
    """Views per second the page mix should sustain, from each page's own rate."""
    rates = {row["page"]: row["rps"] for row in rows}
    weights = {p.name: p.mix for p in mix if p.name in rates and rates[p.name] > 0}
    total = sum(weights.values())
    if not total:
        return None
    seconds_per_view = sum(w / total / rates[name] for name, w in weights.items())
    return 1 / seconds_per_view if seconds_per_view else None


def terminal_model(
    config: BenchConfig,
    prep: Prepared,
    server: servers.Server,
    pages: list[Page],
    rows: list[dict[str, Any]],
    log: Log,
) -> dict[str, Any]:
    """The largest N terminals at one view per period with p99 under the limit.

    The target is probed first when the pages' own rates say it may pass; otherwise the
    search brackets the estimate from those rates (a probe far beyond capacity only
    measures a queue, and costs minutes).
    """
    kiosk_clients = [c for c in prep.clients if c.app == "kiosk"]
    mix = [p for p in pages if p.mix > 0 and p.app == "kiosk"]
    engine = create_engine(prep.url)
    maximum = min(config.terminal_max, len(kiosk_clients))
    capacity = estimated_capacity(rows, mix)
    estimate = int(capacity * config.terminal_period) if capacity else None
    target = config.terminal_target
    upper = maximum
    if estimate is not None and estimate < target // 2:
        target = max(config.terminal_min, estimate)
        upper = min(maximum, max(config.terminal_min * 2, estimate * 2))
        log(
            f"{prep.kind}: the pages' rates allow about {capacity:.0f} views/s"
            f" (N about {estimate}); searching around that instead of at"
            f" {config.terminal_target}"
        )
    overloaded = False
    cold = True  # the first probe, and the first after each restart, meet cold workers

    def run_probe(n: int) -> terminals.Probe:
        nonlocal overloaded, cold
        if overloaded:
            server.restart()  # drop the last probe's abandoned backlog
            cold = True
        terminals.wait_until_idle(server.port, limit_s=30)
        sessions.refresh_sessions(engine, kiosk_clients, dt.datetime.now(dt.UTC))
        if cold:
            views, failed = terminals.warm(
                server.port, clients=kiosk_clients, pages=mix, data=prep.data
            )
            log(f"{prep.kind}: warmed the server with {views} views ({failed} failed)")
            cold = False
        cpu_before = server.cpu_seconds()
        result = terminals.probe(
            server.port,
            n,
            clients=kiosk_clients,
            pages=mix,
            data=prep.data,
            period=config.terminal_period,
            duration=config.terminal_duration,
            seed=n,
            timeout=5.0,
        )
        server_cpu = server.cpu_seconds() - cpu_before
        result = replace(result, server_cpu_ms=1000 * server_cpu / max(result.views, 1))
        overloaded = not result.ok(config.p99_limit_ms)
        return result

    best, probes = terminals.largest(
        run_probe,
        target=target,
        minimum=config.terminal_min,
        maximum=upper,
        steps=config.terminal_steps,
        p99_limit_ms=config.p99_limit_ms,
        log=lambda m: log(f"{prep.kind}: {m}"),
    )
    if overloaded:
        server.restart()
    engine.dispose()
    return {
        "largest_n": best,
        "period_s": config.terminal_period,
        "p99_limit_ms": config.p99_limit_ms,
        "mix": {p.name: p.mix for p in mix},
        "estimated_views_per_s": round(capacity, 1) if capacity else None,
        "probes": [p.as_dict() for p in probes],
        "target_n": config.terminal_target,
        "target_met": best is not None and best >= config.terminal_target,
    }


def targets(config: BenchConfig, result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with the figure it is judged on; ``met`` is None where
    this run did not measure it (skipped, or orders on SQLite)."""

    def judged(measured: bool, met: bool) -> bool | None:
        return met if measured else None

    inmate_rows = [r for r in result.get("pages", []) if r["inmate_page"]]
    slow = [
        f"{r['page']} {r['ratio_flask']:.2f}"
        for r in inmate_rows
        if r["ratio_flask"] is None or r["ratio_flask"] < 0.8
    ]
    term = result.get("terminals") or {}
    orders = result.get("orders") or {}
    home = result.get("in_process", {}).get("_home_total") or {}
    memory = (result.get("memory") or {}).get("kiosk") or {}
    return {
        "worker_memory_under_80_mb": {
            "met": judged(bool(memory), bool(memory) and memory["typical_worker_mb"] < 80),
            "typical_mb": memory.get("typical_worker_mb"),
            "high_water_mb": memory.get("high_water_worker_mb"),
        },
        "inmate_pages_at_least_0.8_of_flask": {
            "met": judged(bool(inmate_rows), not slow),
            "below": slow,
        },
        "terminals": {
            "met": judged(bool(term), bool(term.get("target_met"))),
            "largest_n": term.get("largest_n"),
            "target": config.terminal_target,
        },
        "orders_200_per_s_no_overspend": {
            "met": judged(
                bool(orders) and "reason" not in orders and result.get("database") == "postgresql",
                bool(orders.get("target_met")),
            ),
            "orders_per_s": orders.get("orders_per_s"),
            "ledger": orders.get("ledger_check"),
            "judged_on": "postgresql only",
        },
        "home_page_under_30_kb_nothing_outside": {
            "met": judged(
                bool(home), bool(home) and home["bytes"] < 30 * 1024 and not home["outside"]
            ),
            "bytes": home.get("bytes"),
        },
    }


def clean_workdir(config: BenchConfig) -> None:
    """Remove what earlier runs left in the work folder (never the results)."""
    if config.workdir.exists() and config.workdir != ROOT:
        shutil.rmtree(config.workdir / "sqlite", ignore_errors=True)
