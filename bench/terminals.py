"""The terminal model: N terminals, each with its own session, a page every T seconds.

Open loop, as real terminals behave: every terminal views its next page on its
own schedule whether or not the server kept up, so a slow server meets a
growing queue instead of a politely waiting client. Latency is counted from the
moment the view was due, not from when the client managed to send it, so a
client that falls behind cannot hide the server's delay. Each view opens its own
connection (a terminal that looks every 10 s outlives gunicorn's 5 s keep-alive).
"""

from __future__ import annotations

import asyncio
import os
import random
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.pages import Page, PageData
from bench.sessions import Client


@dataclass(frozen=True)
class Probe:
    """One run of the model at one N."""

    terminals: int
    period: float
    seconds: float
    views: int
    errors: int
    first_error: str
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rps: float
    client_lag_ms: float
    # The machine's 1-minute load average when the probe ended (other work competes).
    load_average: float = 0.0
    # CPU time per view of this load generator (it shares the machine) and of the server
    # (all its processes); 0 where not measured. With c cores the machine tops out near
    # c * 1000 / (client + server) views per second.
    client_cpu_ms: float = 0.0
    server_cpu_ms: float = 0.0

    def ok(self, p99_limit_ms: float) -> bool:
        """No errors and p99 under the limit."""
        return self.errors == 0 and self.views > 0 and self.p99_ms < p99_limit_ms

    def as_dict(self) -> dict[str, float | int | str]:
        """JSON-able figures."""
        return {
            "terminals": self.terminals,
            "period_s": self.period,
            "seconds": round(self.seconds, 1),
            "views": self.views,
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "first_error": self.first_error,
            "client_cpu_ms_per_view": round(self.client_cpu_ms, 2),
            "server_cpu_ms_per_view": round(self.server_cpu_ms, 2),
            "p50_ms": round(self.p50_ms, 1),
            "p95_ms": round(self.p95_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "max_ms": round(self.max_ms, 1),
            "client_lag_ms": round(self.client_lag_ms, 1),
            "load_average": round(self.load_average, 2),
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def raw_request(
    host: str, page: Page, client: Client, data: PageData, *, https: bool = False
) -> bytes:
    """The HTTP/1.1 request bytes of one page view.

    Behind HTTPS the cookies carry the ``__Host-`` prefix and a POST names the page it
    came from (the CSRF check insists on a same-origin Referer there).
    """
    path = page.path_for(client, data)
    cookie = client.cookie_header
    if https:
        cookie = "; ".join(f"__Host-{k}={v}" for k, v in client.cookies.items())
    lines = [
        f"{page.method} {path} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: bench-terminal",
        "Accept: text/html",
        "Connection: close",
        f"Cookie: {cookie}",
    ]
    if https:
        lines.append(f"Referer: https://{host}{path}")
    body = b""
    if page.method == "POST":
        body = urlencode(page.form_for(client, data)).encode()
        lines.append("Content-Type: application/x-www-form-urlencoded")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _view(
    port: int, request: bytes, timeout: float, tls: ssl.SSLContext | None = None
) -> int:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
        ),
        timeout,
    )
    try:
        writer.write(request)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        parts = status_line.split()
        status = int(parts[1]) if len(parts) > 1 else 0
        await asyncio.wait_for(reader.read(), timeout)  # to the end: Connection: close
        return status
    finally:
        writer.close()


async def _run(
    port: int,
    schedule: list[tuple[float, bytes, tuple[int, ...]]],
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> tuple[list[float], list[str], float, float]:
    latencies: list[float] = []
    errors: list[str] = []
    lags: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    tasks: list[asyncio.Task[None]] = []

    async def one(due: float, request: bytes, expect: tuple[int, ...]) -> None:
        lags.append(loop.time() - due)
        try:
            status = await _view(port, request, timeout, tls)
        except (OSError, TimeoutError) as exc:
            errors.append(type(exc).__name__)
            return
        latencies.append((loop.time() - due) * 1000)
        if status not in expect:
            errors.append(f"status {status}")

    for offset, request, expect in schedule:
        due = start + offset
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, request, expect)))
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    lag = max(lags) * 1000 if lags else 0.0
    return latencies, errors, elapsed, lag


def wait_until_idle(
    port: int,
    *,
    # Answered by the app itself (a redirect to enrolment): nginx serves static files alone.
    path: str = "/sign-in",
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
    quick_ms: float = 50.0,
    limit_s: float = 120.0,
) -> float:
    """Wait until the server answers a cheap request quickly again; returns the seconds waited.

    An overloaded probe leaves thousands of requests queued in gunicorn's backlog whose
    clients gave up long ago; the server still works through them. The next probe
    must not start behind that queue.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    async def once() -> float:
        started = time.perf_counter()
        try:
            await _view(port, request, 5.0, tls)
        except (OSError, TimeoutError, ssl.SSLError):
            return 1e9
        return (time.perf_counter() - started) * 1000

    began = time.perf_counter()
    calm = 0
    while time.perf_counter() - began < limit_s:
        if asyncio.run(once()) < quick_ms:
            calm += 1
            if calm >= 3:
                break
        else:
            calm = 0
        time.sleep(0.3)
    return time.perf_counter() - began


def warm(
    port: int,
    *,
    clients: Sequence[Client],
    pages: Sequence[Page],
    data: PageData,
    rounds: int = 4,
    concurrency: int = 8,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
    timeout: float = 30.0,
) -> tuple[int, int]:
    """Send every page of the mix ``rounds`` x ``concurrency`` times, ``concurrency`` at once.

    A freshly started (or restarted) server compiles its templates and imports its lazy
    modules on the first views each worker serves; a probe that starts on a cold server
    measures that, not the steady state a prison's servers spend their day in. Views are
    sent several at once so that, most likely, every worker gets some (nothing here checks
    which worker answered). Returns (views sent, views that failed or answered a status
    the page does not expect).
    """
    mix = [p for p in pages if p.mix > 0]
    jobs: list[tuple[bytes, tuple[int, ...]]] = []
    for n in range(rounds * concurrency):
        client = clients[n % len(clients)]
        for page in mix:
            jobs.append((raw_request(host, page, client, data, https=tls is not None), page.expect))

    async def run_all() -> int:
        gate = asyncio.Semaphore(concurrency)
        failed = 0

        async def one(request: bytes, expect: tuple[int, ...]) -> None:
            nonlocal failed
            async with gate:
                try:
                    status = await _view(port, request, timeout, tls)
                except (OSError, TimeoutError, ssl.SSLError):
                    failed += 1
                    return
                if status not in expect:
                    failed += 1

        await asyncio.gather(*(one(request, expect) for request, expect in jobs))
        return failed

    errors = asyncio.run(run_all())
    return len(jobs), errors


def probe(
    port: int,
    terminals: int,
    *,
    clients: Sequence[Client],
    pages: Sequence[Page],
    data: PageData,
    period: float,
    duration: float,
    seed: int = 1,
    timeout: float = 10.0,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> Probe:
    """``terminals`` terminals for ``duration`` seconds, each viewing a page every ``period``."""
    rng = random.Random(seed)
    mix = [p for p in pages if p.mix > 0]
    weights = [p.mix for p in mix]
    cache: dict[tuple[int, str], bytes] = {}
    schedule: list[tuple[float, bytes, tuple[int, ...]]] = []
    for i in range(terminals):
        client = clients[i % len(clients)]
        t = rng.uniform(0, period)
        while t < duration:
            page = rng.choices(mix, weights)[0]
            key = (i, page.name)
            if key not in cache:
                cache[key] = raw_request(host, page, client, data, https=tls is not None)
            schedule.append((t, cache[key], page.expect))
            t += period
    schedule.sort(key=lambda item: item[0])
    started = time.perf_counter()
    cpu_started = time.process_time()
    latencies, errors, elapsed, lag = asyncio.run(_run(port, schedule, timeout, tls))
    client_cpu = time.process_time() - cpu_started
    seconds = max(elapsed, time.perf_counter() - started - 0.2, 1e-6)
    return Probe(
        terminals=terminals,
        period=period,
        seconds=seconds,
        views=len(schedule),
        errors=len(errors),
        first_error=errors[0] if errors else "",
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies) if latencies else 0.0,
        rps=len(schedule) / duration,
        client_lag_ms=lag,
        load_average=os.getloadavg()[0],
        client_cpu_ms=1000 * client_cpu / max(len(schedule), 1),
    )


def largest(
    run_probe: Callable[[int], Probe],
    *,
    target: int,
    minimum: int,
    maximum: int,
    steps: int,
    p99_limit_ms: float,
    log: Callable[[str], None] = lambda _m: None,
) -> tuple[int | None, list[Probe]]:
    """The largest N that passes, found by probing the target first and then bisecting.

    Returns (largest passing N or None if even ``minimum`` failed, every probe).
    """
    probes: list[Probe] = []

    def check(n: int) -> bool:
        result = run_probe(n)
        probes.append(result)
        verdict = "ok" if result.ok(p99_limit_ms) else "too slow or errors"
        log(
            f"terminals: N={n}: p99 {result.p99_ms:.0f} ms, errors {result.errors}, "
            f"{result.rps:.0f} views/s (load average {result.load_average:.1f}"
            + (
                f"; CPU ms per view: server {result.server_cpu_ms:.2f},"
                f" load generator {result.client_cpu_ms:.2f}"
                if result.server_cpu_ms
                else ""
            )
            + f"): {verdict}"
        )
        return result.ok(p99_limit_ms)

    target = max(minimum, min(target, maximum))
    best: int | None = None
    if check(target):
        best, lo, hi = target, target, maximum
        if target < maximum and steps > 1:
            steps -= 1
            if check(maximum):
                return maximum, probes
            hi = maximum
    else:
        # Below the target: bisect down; None if no N passes.
        lo, hi = minimum, target
    for _ in range(steps - 1):
        if hi - lo <= max(50, lo // 20):
            break
        mid = (lo + hi) // 2
        if check(mid):
            best, lo = mid, mid
        else:
            hi = mid
    return best, probes
