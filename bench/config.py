"""What a benchmark run does, read from ``BENCH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/kiosk_bench"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _list(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name) or default
    return tuple(x.strip() for x in raw.split(",") if x.strip())


@dataclass(frozen=True)
class Scale:
    """How much data the generator writes (the issue's realistic scale by default)."""

    facilities: int = 50
    units_per_facility: int = 4
    inmates: int = 5000
    staff: int = 500
    # Terminals with a pre-made session each: the terminal model's largest N.
    terminals: int = 6000
    products: int = 200
    courses: int = 100
    lessons_per_course: int = 10
    requests: int = 200_000
    ledger_entries: int = 1_000_000

    @staticmethod
    def from_env() -> Scale:
        """The scale, ``BENCH_SCALE`` (a factor) and single ``BENCH_N_*`` overrides applied."""
        factor = _float("BENCH_SCALE", 1.0)
        base = Scale()

        def n(attr: str, minimum: int = 1) -> int:
            default = max(minimum, round(getattr(base, attr) * factor))
            return _int(f"BENCH_N_{attr.upper()}", default)

        return Scale(
            facilities=n("facilities"),
            units_per_facility=base.units_per_facility,
            inmates=n("inmates", 10),
            staff=n("staff", 10),
            terminals=n("terminals", 10),
            products=n("products", 5),
            courses=n("courses", 2),
            lessons_per_course=base.lessons_per_course,
            requests=n("requests", 10),
            ledger_entries=n("ledger_entries", 10),
        )


@dataclass(frozen=True)
class BenchConfig:
    """One run's settings."""

    databases: tuple[str, ...]
    pg_url: str
    workdir: Path
    duration: float
    warmup: float
    connections: int
    wrk_threads: int
    pages: tuple[str, ...]
    terminal_period: float
    terminal_duration: float
    terminal_target: int
    terminal_max: int
    terminal_min: int
    terminal_steps: int
    p99_limit_ms: float
    order_duration: float
    order_connections: int
    skip: tuple[str, ...]
    seed: int
    reuse_data: bool
    scale: Scale = field(default_factory=Scale)

    @staticmethod
    def from_env() -> BenchConfig:
        """Settings from the environment (``make bench`` documents the variables)."""
        scale = Scale.from_env()
        return BenchConfig(
            databases=_list("BENCH_DATABASES", "sqlite,postgresql"),
            pg_url=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL,
            workdir=Path(os.environ.get("BENCH_WORKDIR") or ROOT / ".bench").resolve(),
            duration=_float("BENCH_DURATION", 10.0),
            warmup=_float("BENCH_WARMUP", 2.0),
            connections=_int("BENCH_CONNECTIONS", 16),
            wrk_threads=_int("BENCH_WRK_THREADS", 1),
            pages=_list("BENCH_PAGES", "all"),
            terminal_period=_float("BENCH_TERMINAL_PERIOD", 10.0),
            terminal_duration=_float("BENCH_TERMINAL_DURATION", 20.0),
            terminal_target=_int("BENCH_TERMINAL_TARGET", 4500),
            terminal_max=min(_int("BENCH_TERMINAL_MAX", scale.terminals), scale.terminals),
            terminal_min=_int("BENCH_TERMINAL_MIN", 100),
            terminal_steps=_int("BENCH_TERMINAL_STEPS", 5),
            p99_limit_ms=_float("BENCH_P99_MS", 150.0),
            order_duration=_float("BENCH_ORDER_DURATION", 10.0),
            order_connections=_int("BENCH_ORDER_CONNECTIONS", 16),
            skip=_list("BENCH_SKIP", ""),
            seed=_int("BENCH_SEED", 2026),
            reuse_data=os.environ.get("BENCH_REUSE_DATA", "") in ("1", "true", "yes"),
            scale=scale,
        )
