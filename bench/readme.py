"""Markdown tables of a run's figures, for the README: ``python -m bench.readme RESULTS.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".replace(",", " ")
    return str(value)


def _cpu(row: dict[str, Any]) -> str:
    cpu = row.get("server_cpu_ms")
    return _n(cpu, 2) if cpu else "-"


def markdown(results: dict[str, Any]) -> str:
    """The machine, then one table per database."""
    m = results.get("machine", {})
    lines = [
        f"Machine: {m.get('nproc')} cores ({m.get('cpu')}), {m.get('ram_gb')} GB RAM, "
        f"Linux {m.get('kernel')}, Python {m.get('python')}, SQLite {m.get('sqlite')}, "
        f"{m.get('postgresql')}, {m.get('nginx')}, {m.get('wrk')}; "
        f"load average {_n(m.get('load_average'), 1)} when the run began; "
        f"run of {results.get('started_at')} ({_n(results.get('seconds'))} s).",
        "",
    ]
    runs = results.get("runs", {})
    kinds = [k for k in ("sqlite", "postgresql") if k in runs]
    header = "| page | " + " | ".join(
        f"{k}: req/s | p50 / p95 / p99 ms | err | SQL | x Flask | CPU ms | x Flask CPU"
        for k in kinds
    )
    lines.append(header + " |")
    lines.append("|---" * (1 + 7 * len(kinds)) + "|")
    names: list[str] = []
    for kind in kinds:
        for row in runs[kind].get("pages", []):
            if row["page"] not in names:
                names.append(row["page"])
    for ref, label in (
        ("nginx", "reference: nginx, static 8 KB"),
        ("flask", "reference: bare Flask"),
    ):
        cells = []
        for kind in kinds:
            r = runs[kind].get("references", {}).get(ref)
            if r is None:
                cells.append("- | - | - | - | - | - | -")
            else:
                cells.append(
                    f"{_n(r['rps'])} | {_n(r['p50_ms'], 1)} / {_n(r['p95_ms'], 1)} / "
                    f"{_n(r['p99_ms'], 1)} | {r['errors']} | | 1.00 | {_cpu(r)} | 1.00"
                    if ref == "flask"
                    else f"{_n(r['rps'])} | {_n(r['p50_ms'], 1)} / {_n(r['p95_ms'], 1)} / "
                    f"{_n(r['p99_ms'], 1)} | {r['errors']} | | | {_cpu(r)} |"
                )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name in names:
        cells = []
        for kind in kinds:
            row = next((r for r in runs[kind].get("pages", []) if r["page"] == name), None)
            if row is None:
                cells.append("not measured | | | | | |")
            else:
                cells.append(
                    f"{_n(row['rps'])} | {_n(row['p50_ms'], 1)} / {_n(row['p95_ms'], 1)} / "
                    f"{_n(row['p99_ms'], 1)} | {row['errors']} | {_n(row['queries'])} | "
                    f"{_n(row['ratio_flask'], 2)} | {_cpu(row)} | "
                    f"{_n(row.get('ratio_flask_cpu'), 2)}"
                )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for kind in kinds:
        run = runs[kind]
        term = run.get("terminals") or {}
        orders = run.get("orders") or {}
        mem = run.get("memory", {})
        front = run.get("through_nginx") or {}
        lines.append(f"**{kind}**:")
        if term:
            probes = ", ".join(
                f"N={p['terminals']}: p99 {_n(p['p99_ms'])} ms, {p['errors']} errors"
                + (
                    f" ({_n(p['server_cpu_ms_per_view'], 1)} CPU ms per view in the server)"
                    if p.get("server_cpu_ms_per_view")
                    else ""
                )
                for p in term.get("probes", [])
            )
            lines.append(
                f"- terminal model (a page every {_n(term['period_s'])} s, mix "
                f"{', '.join(f'{k} {v:g}' for k, v in term.get('mix', {}).items())}): largest N "
                f"with p99 < {_n(term['p99_limit_ms'])} ms and no errors: "
                f"**{_n(term.get('largest_n'))}** (target {term.get('target_n')}); probes: {probes}"
            )
        if front.get("measured"):
            lines.append(
                "- through nginx (TLS, client certificate, new connection per view): "
                + ", ".join(
                    f"N={p['terminals']}: p99 {_n(p['p99_ms'])} ms, {p['errors']} errors"
                    for p in front["probes"]
                )
            )
        if orders.get("measured"):
            race = orders.get("race") or {}
            lines.append(
                f"- order placement: **{_n(orders['orders_per_s'])} orders/s** "
                f"(p99 {_n(orders['p99_ms'])} ms, {orders['errors']} other answers); "
                f"race of two orders at once for {race.get('inmates', 0)} inmates who can pay "
                f"for one: {race.get('inmates_with_two_orders', '-')} paid twice; "
                f"ledger: {orders['ledger_check']}"
            )
        elif orders:
            lines.append(f"- order placement: not measured ({orders.get('reason')})")
        if mem:
            lines.append(
                "- resident memory per worker (typical / largest sampled / high-water mark): "
                + "; ".join(
                    f"{k} {_n(v.get('typical_worker_mb'))} / {_n(v.get('peak_worker_mb'))} / "
                    f"{_n(v.get('high_water_worker_mb'))} MB"
                    for k, v in mem.items()
                    if k in ("kiosk", "admin", "reference")
                )
            )
        during = run.get("references", {}).get("flask_during_pages")
        if during:
            lines.append(
                f"- bare Flask measured again just before and after each page: "
                f"{_n(during['min_rps'])} to {_n(during['max_rps'])} req/s (each page's"
                f" x Flask uses the mean of the two slices around it; the machine's speed drifts;"
                f" x Flask CPU is bare Flask's server CPU per request over the page's)"
            )
        loads = [r.get("load_average") for r in run.get("pages", [])] + [
            p.get("load_average") for p in term.get("probes", [])
        ]
        loads = [x for x in loads if x]
        if loads:
            lines.append(
                f"- machine load average (1 min) during the measurements: "
                f"{min(loads):.1f} to {max(loads):.1f}"
            )
        home = run.get("in_process", {}).get("_home_total")
        if home:
            lines.append(
                f"- inmate home page with its stylesheet and icons: {home['bytes'] / 1024:.1f} KB,"
                f" {len(home['outside'])} addresses outside the server"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Print the tables of the given results file."""
    if len(sys.argv) != 2:
        print("usage: python -m bench.readme bench/results/RUN.json")
        return 2
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
