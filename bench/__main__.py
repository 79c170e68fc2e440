"""``python -m bench``: run the benchmark (``make bench``); settings from ``BENCH_*``."""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

from bench import report, wrk
from bench.config import BenchConfig


def main() -> int:
    """Run every configured database, print the table, write the JSON."""
    config = BenchConfig.from_env()
    config.workdir.mkdir(parents=True, exist_ok=True)
    if not wrk.available():
        print("wrk is not installed: run scripts/install-bench-deps (make bench does)")
        return 1
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    from bench.run import run_database

    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": report.machine(),
        "config": {
            "duration_s": config.duration,
            "connections": config.connections,
            "wrk_threads": config.wrk_threads,
            "terminal_period_s": config.terminal_period,
            "terminal_duration_s": config.terminal_duration,
            "scale": config.scale.__dict__,
        },
        "runs": {},
    }
    for kind in config.databases:
        log(f"== {kind}")
        try:
            results["runs"][kind] = run_database(config, kind, log)
        except Exception as exc:  # one database failing must not lose the other's figures
            traceback.print_exc()
            results["runs"][kind] = {"error": f"{type(exc).__name__}: {exc}"}
    results["seconds"] = round(time.monotonic() - started, 1)
    path = report.write(results)
    print()
    print(report.table(results))
    print(f"written to {path} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
