"""Closed-loop load with wrk: requests per second and latency percentiles of one page.

The Lua script rotates through prepared requests (each with its own session's
cookies, and for a POST the form with that session's CSRF token), counts every
response whose status is not the expected one as an error (a redirect to the
sign-in page is a failure, not a fast page), and prints one JSON line with the
percentiles at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

MARK = "BENCH_JSON "


@dataclass(frozen=True)
class Prepared:
    """One request as wrk sends it."""

    method: str
    path: str
    cookie: str = ""
    form: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    bad_status: int
    socket_errors: int
    bytes_per_request: float
    load_average: float = 0.0
    # CPU time of the server (all its processes) per request, set by the caller that
    # knows the server; 0 where not measured.
    server_cpu_ms: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        """JSON-able figures."""
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "errors": self.errors,
            "bad_status": self.bad_status,
            "socket_errors": self.socket_errors,
            "bytes_per_request": round(self.bytes_per_request),
            "load_average": round(self.load_average, 2),
            "server_cpu_ms": round(self.server_cpu_ms, 3),
        }


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_script(prepared: Sequence[Prepared], expect: Iterable[int]) -> str:
    """The wrk script for these requests."""
    lines = ["local requests = {"]
    for item in prepared:
        body = urlencode(item.form) if item.form else ""
        lines.append(
            "  {"
            f"m={_lua_string(item.method)}, p={_lua_string(item.path)}, "
            f"c={_lua_string(item.cookie)}, b={_lua_string(body)}"
            "},"
        )
    lines.append("}")
    expected = ", ".join(f"[{int(s)}]=true" for s in expect)
    lines.append(f"local expected = {{{expected}}}")
    lines.append(
        """
local formatted = {}
local idx = 0
bad = 0
first_bad = 0
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
  table.insert(threads, thread)
end

function init(args)
  for i, r in ipairs(requests) do
    local headers = {}
    if r.c ~= "" then headers["Cookie"] = r.c end
    local body = nil
    if r.b ~= "" then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
      body = r.b
    end
    formatted[i] = wrk.format(r.m, r.p, headers, body)
  end
  idx = (offset or 0) % #formatted
end

function request()
  idx = idx % #formatted + 1
  return formatted[idx]
end

function response(status, headers, body)
  if not expected[status] then
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  local first = 0
  for _, t in ipairs(threads) do
    total_bad = total_bad + t:get("bad")
    if first == 0 then first = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '"""
        + MARK
        + """{"requests":%d,"duration_us":%d,"bytes":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,'
    .. '"bad":%d,"first_bad":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    total_bad, first, e.connect, e.read, e.write, e.status, e.timeout))
end
"""
    )
    return "\n".join(lines)


def parse(stdout: str) -> WrkResult:
    """The figures from wrk's output (the JSON line the script prints)."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            data = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError("wrk printed no result line:\n" + stdout[-2000:])
    seconds = data["duration_us"] / 1e6 or 1.0
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    requests = int(data["requests"])
    return WrkResult(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds,
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        errors=int(data["bad"]) + socket_errors,
        bad_status=int(data["first_bad"]),
        socket_errors=socket_errors,
        bytes_per_request=data["bytes"] / requests if requests else 0.0,
        load_average=os.getloadavg()[0],
    )


def available() -> bool:
    """True when wrk is installed."""
    return shutil.which("wrk") is not None


def run(
    url: str,
    prepared: Sequence[Prepared],
    *,
    expect: Iterable[int] = (200,),
    duration: float,
    connections: int,
    threads: int,
    workdir: Path,
    timeout: float = 5.0,
) -> WrkResult:
    """Run wrk against ``url`` (scheme, host and port) with these requests."""
    script = workdir / "wrk-script.lua"
    script.write_text(lua_script(prepared, expect))
    threads = max(1, min(threads, connections))
    proc = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout))}s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=duration + 60,
    )
    return parse(proc.stdout + proc.stderr)
