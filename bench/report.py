"""The printed table and the JSON file of a run."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.config import RESULTS


def machine() -> dict[str, Any]:
    """What the figures came from: cores, CPU model, memory, software versions."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        mem_kib = 0
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _version(["psql", "--version"]),
        "sqlite": __import__("sqlite3").sqlite_version,
        "nginx": _version(["nginx", "-v"]),
        "wrk": _version(["wrk", "--version"]).split(" [")[0],
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (
        (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr) else ""
    )


def write(results: dict[str, Any], directory: Path = RESULTS) -> Path:
    """Write the run's JSON, named by its time and databases."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dbs = "-".join(sorted(results.get("runs", {}))) or "none"
    path = directory / f"{stamp}-{dbs}.json"
    text = json.dumps(results, indent=2, sort_keys=False)
    path.write_text(text)
    return path


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _line(name: str, *cells: str) -> str:
    widths = (8, 7, 7, 7, 5, 4, 5, 7, 7, 7, 7)
    return f"{name:32} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))


def _figures(row: dict[str, Any]) -> tuple[str, ...]:
    return (
        f"{row['rps']:.0f}",
        f"{row['p50_ms']:.1f}",
        f"{row['p95_ms']:.1f}",
        f"{row['p99_ms']:.1f}",
        str(row["errors"]),
    )


def _cpu_ms(row: dict[str, Any]) -> str:
    cpu = row.get("server_cpu_ms")
    return f"{cpu:.2f}" if cpu else "-"


def _kb(row: dict[str, Any]) -> str:
    return f"{row['bytes_per_request'] / 1024:.1f}"


def table(results: dict[str, Any]) -> str:
    """A plain-text table of every database's figures."""
    out: list[str] = []
    for kind, run in results.get("runs", {}).items():
        if "error" in run:
            out.append(f"== {kind}: FAILED: {run['error']}")
            continue
        out.append(f"== {kind}")
        head = _line(
            "page",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "err",
            "SQL",
            "KB",
            "CPU ms",
            "/Flask",
            "CPU/Fl",
            "/nginx",
        )
        out.append(head)
        out.append("-" * len(head))
        refs = run.get("references", {})
        for name, label in (
            ("nginx", "reference: nginx static 8 KB"),
            ("flask", "reference: bare Flask + Jinja"),
        ):
            if name in refs:
                r = refs[name]
                out.append(_line(label, *_figures(r), "", _kb(r), _cpu_ms(r), "", "", ""))
        during = refs.get("flask_during_pages")
        if during:
            out.append(
                f"(bare Flask measured again around each page: {during['min_rps']:.0f} to "
                f"{during['max_rps']:.0f} req/s; each ratio uses the figures around its page;"
                " CPU ms: the server's CPU time per request, CPU/Fl: bare Flask's over the page's)"
            )
        for row in run.get("pages", []):
            out.append(
                _line(
                    row["page"][:32],
                    *_figures(row),
                    _fmt(row["queries"]),
                    _kb(row),
                    _cpu_ms(row),
                    _fmt(row["ratio_flask"], 2),
                    _fmt(row.get("ratio_flask_cpu"), 2),
                    _fmt(row["ratio_nginx"], 3),
                )
            )
        for item in run.get("not_measured", []):
            out.append(f"{item['page'][:32]:32} not measured: {item['reason']}")
        term = run.get("terminals")
        if term:
            out.append(
                f"terminal model: largest N with p99 < {term['p99_limit_ms']:.0f} ms and no errors"
                f" at a page every {term['period_s']:.0f} s: {_fmt(term['largest_n'])}"
                f" (target {term['target_n']})"
            )
            for probe in term["probes"]:
                out.append(
                    f"  N={probe['terminals']:>5}: {probe['rps']:>6.0f} views/s,"
                    f" p50 {probe['p50_ms']:.0f} ms, p99 {probe['p99_ms']:.0f} ms,"
                    f" errors {probe['errors']} {probe['first_error']}" + _cpu(probe)
                )
        front = run.get("through_nginx")
        if front:
            if front.get("measured"):
                for probe in front["probes"]:
                    out.append(
                        f"  through nginx (TLS + client certificate) N={probe['terminals']:>5}:"
                        f" {probe['rps']:>6.0f} views/s, p50 {probe['p50_ms']:.0f} ms,"
                        f" p99 {probe['p99_ms']:.0f} ms, errors {probe['errors']}"
                        f" {probe['first_error']}"
                    )
            else:
                out.append(f"through nginx: not measured: {front['reason']}")
        orders = run.get("orders")
        if orders:
            if orders.get("measured"):
                out.append(
                    f"orders: {orders['orders_per_s']:.0f} orders/s,"
                    f" p99 {orders['p99_ms']:.0f} ms, errors {orders['errors']},"
                    f" ledger check: {orders['ledger_check']}"
                )
            else:
                out.append(f"orders: not measured: {orders['reason']}")
        mem = run.get("memory", {})
        if mem:
            out.append(
                "resident memory per worker, typical / largest sampled / kernel high-water mark: "
                + "; ".join(
                    f"{k} {v.get('typical_worker_mb', 0):.0f} / {v['peak_worker_mb']:.0f}"
                    f" / {v.get('high_water_worker_mb', 0):.0f} MB"
                    for k, v in mem.items()
                )
            )
        home = run.get("in_process", {}).get("_home_total")
        if home:
            out.append(
                f"inmate home page with its assets: {home['bytes'] / 1024:.1f} KB; "
                f"outside URLs: {len(home['outside'])}"
            )
        goals = run.get("targets") or {}
        if goals:
            out.append(
                "targets: "
                + "; ".join(f"{name}: {_verdict(g.get('met'))}" for name, g in goals.items())
            )
        data = run.get("data", {})
        out.append(f"data: {data.get('counts')}; generated in {data.get('generate_s', 0):.0f} s")
        out.append("")
    return "\n".join(out)


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else "met" if met else "NOT met"


def _cpu(probe: dict[str, Any]) -> str:
    """Where a probe's CPU went, per view (older results have no such figures)."""
    server = probe.get("server_cpu_ms_per_view") or 0
    client = probe.get("client_cpu_ms_per_view") or 0
    if not server:
        return ""
    return f"; CPU ms per view: server {server:.2f}, load generator {client:.2f}"
