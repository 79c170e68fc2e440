"""The servers under test: gunicorn with each app's own settings, and nginx.

Each server is a child process on loopback; ``Server.stop()`` ends exactly that
process (and gunicorn ends its workers). A sampler thread reads the resident
memory of every worker from ``/proc`` while the load runs, because gunicorn
recycles workers (``max_requests``) and a dead worker's peak would be lost.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import ROOT
from kiosk.devstack import free_port, wait_for_own_port

STATIC_SIZE = 8 * 1024


def wait_for_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(x) for x in text.split())
    except OSError:
        return found
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(resident now, peak resident so far) of a process, in KiB."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        return 0, 0
    return rss, hwm


@dataclass
class Server:
    """One running server process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    # The largest resident size seen in samples (steady state under load), and the
    # kernel's high-water mark (includes short peaks such as an argon2 hash at start-up).
    peak_worker_kib: int = 0
    hwm_worker_kib: int = 0
    peak_by_pid: dict[int, int] = field(default_factory=dict)
    samples: list[int] = field(default_factory=list)
    _sampler: threading.Thread | None = None
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    # How it was started, so that ``restart`` can start it again the same way.
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def typical_worker_kib(self) -> int:
        """The median of all samples: a worker's usual size between start-up peaks."""
        ordered = sorted(self.samples)
        return ordered[len(ordered) // 2] if ordered else 0

    @property
    def url(self) -> str:
        """The base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The worker processes' ids."""
        return _children(self.proc.pid)

    def cpu_seconds(self) -> float:
        """CPU time used so far by this server: master, living workers, and the workers it
        has already reaped (recycled by max_requests), from /proc."""
        total = 0
        for pid in [self.proc.pid, *self.workers()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # utime, stime; for the master also cutime, cstime (its reaped children).
            total += int(fields[11]) + int(fields[12])
            if pid == self.proc.pid:
                total += int(fields[13]) + int(fields[14])
        return total / os.sysconf("SC_CLK_TCK")

    def sample(self) -> None:
        """Record the workers' resident memory now."""
        for pid in self.workers():
            kib, hwm = _memory_kib(pid)
            if kib > self.peak_by_pid.get(pid, 0):
                self.peak_by_pid[pid] = kib
            self.peak_worker_kib = max(self.peak_worker_kib, kib)
            if kib:
                self.samples.append(kib)
            self.hwm_worker_kib = max(self.hwm_worker_kib, hwm)

    def start_sampling(self, every: float = 0.5) -> None:
        """Sample memory in the background until ``stop``."""

        def run() -> None:
            while not self._stop_sampling.wait(every):
                self.sample()

        self._sampler = threading.Thread(target=run, daemon=True, name=f"rss-{self.name}")
        self._sampler.start()

    def restart(self) -> None:
        """Stop and start again on the same port: drops whatever requests are queued.

        After an overloaded probe gunicorn's backlog holds thousands of requests whose
        clients gave up; draining them takes longer than a fresh start.
        """
        self.stop()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_own_port(self.name, self.port, self.proc)
        self._stop_sampling = threading.Event()
        self.start_sampling()

    def stop(self) -> None:
        """Stop this server (graceful first) and the sampler."""
        self._stop_sampling.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gunicorn(
    name: str,
    app_spec: str,
    *,
    conf: Path,
    env: Mapping[str, str],
    logdir: Path,
    port: int | None = None,
) -> Server:
    """gunicorn with ``conf`` (an app's gunicorn.conf.py) serving ``app_spec`` on loopback."""
    port = port or free_port()
    log_path = logdir / f"{name}.log"
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    argv = [gunicorn, "-c", str(conf), "-b", f"127.0.0.1:{port}", app_spec]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(name=name, port=port, proc=proc, log_path=log_path, argv=argv, env=full_env)
    try:
        wait_for_own_port(name, port, proc)
    except RuntimeError:
        server.stop()
        raise RuntimeError(f"{name} did not start; see {log_path}") from None
    server.start_sampling()
    return server


def nginx_binary() -> str | None:
    """nginx's path, or None when it is not installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


NGINX_CONF = """\
daemon off;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp-body;
    proxy_temp_path {prefix}/tmp-proxy;
    fastcgi_temp_path {prefix}/tmp-fastcgi;
    uwsgi_temp_path {prefix}/tmp-uwsgi;
    scgi_temp_path {prefix}/tmp-scgi;
    keepalive_timeout 5;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
        location / {{ default_type text/html; }}
    }}
}}
"""


def start_nginx_static(workdir: Path, port: int | None = None) -> Server | None:
    """Reference 2: nginx serving a static 8 KB file at ``/static.html``."""
    binary = nginx_binary()
    if binary is None:
        return None
    port = port or free_port()
    prefix = workdir / "nginx"
    (prefix / "www").mkdir(parents=True, exist_ok=True)
    line = "<p>" + "Static reference page of the benchmark. " * 2 + "</p>\n"
    body = ("<!doctype html><html><head><title>static</title></head><body>\n" + line * 200)[
        : STATIC_SIZE - len("</body></html>\n")
    ] + "</body></html>\n"
    (prefix / "www" / "static.html").write_text(body)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port))
    log_path = prefix / "stdout.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(name="nginx", port=port, proc=proc, log_path=log_path)
    try:
        wait_for_port(port, proc=proc)
    except RuntimeError:
        server.stop()
        return None
    server.start_sampling()
    return server
