"""A production-like stack on one machine: nginx, gunicorn servers, TLS and terminal certificates.

Used by `make stack` (``kiosk stack``) and by the system tests. Everything lives in
one folder (PKI, instance folder, rendered nginx configuration, logs) and listens
on loopback. The apps run exactly as in production: behind nginx with
``KIOSK_BEHIND_PROXY``, ``KIOSK_HTTPS`` and ``KIOSK_REQUIRE_CLIENT_CERT``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from kiosk.nginxconf import REPO_NGINX, load_site, render
from kiosk.pki import Issued, TerminalCA

PACKAGE_DIR = Path(__file__).resolve().parent
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


# Ports this process has handed out. The kernel may give a closed port back to the next
# bind(0): two servers of one stack could then be told the same port, the second fails to
# bind, and the first answers for both (CI once saw the portal answer the staff upstream).
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on right now, never one this process handed out before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, seconds: float = 20) -> None:
    """Until something accepts connections on the port (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (IPv4), from /proc/net/tcp."""
    found: set[str] = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def _holds_socket(pid: int, inodes: set[str]) -> bool:
    """Whether process ``pid`` has one of these sockets open."""
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link.startswith("socket:[") and link[8:-1] in inodes for link in links)


def wait_for_own_port(
    name: str, port: int, proc: subprocess.Popen[bytes], seconds: float = 30
) -> None:
    """Until ``proc`` itself listens on ``port``, and not just anybody.

    A port that accepts connections may be held by another process: gunicorn retries a
    taken port for a few seconds before it gives up, and meanwhile the other process
    would answer in its place. So look the listening socket up in /proc and make sure
    ``proc`` holds it (where there is no /proc, accepting connections has to do).
    """
    wait_for_port(port, proc, seconds)
    if not os.path.exists("/proc/net/tcp"):
        return
    deadline = time.monotonic() + seconds
    while not _holds_socket(proc.pid, _listening_inodes(port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} is not the server on port {port}")
        time.sleep(0.05)


@dataclass
class Reply:
    """One HTTP response as a client sees it."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        """A header's value (None when absent)."""
        return self.headers.get(name)

    def all(self, name: str) -> list[str]:
        """Every value of a header, to see duplicates."""
        return self.headers.get_all(name) or []


@dataclass
class Browser:
    """A TLS client with an optional client certificate and its own cookies."""

    port: int
    ca_file: Path
    cert: tuple[Path, Path] | None = None
    source: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)
    host: str = "localhost"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if self.cert is not None:
            ctx.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        return ctx

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> Reply:
        """One request on a new connection; cookies are sent and kept."""
        conn = http.client.HTTPSConnection(
            self.host,
            self.port,
            context=self._context(),
            timeout=timeout,
            source_address=(self.source, 0),
        )
        sent = {
            "Host": f"{self.host}:{self.port}",
            # Browsers send the page's own address (Referrer-Policy same-origin); the CSRF
            # check behind HTTPS insists on it.
            "Referer": f"https://{self.host}:{self.port}{path}",
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        for raw in response.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(raw)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Reply(response.status, response.headers, data)

    def get(self, path: str, **kwargs: Any) -> Reply:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post_form(self, path: str, data: dict[str, str], *, form_page: str | None = None) -> Reply:
        """POST a form with the CSRF token of the page that shows it."""
        page = self.get(form_page or path)
        match = _CSRF.search(page.text)
        if match is None:
            raise RuntimeError(f"no form at {form_page or path}: {page.status} {page.text[:300]}")
        payload = urlencode({"csrf_token": match.group(1), **data}).encode()
        return self.request(
            "POST",
            path,
            body=payload,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


@dataclass
class AppServer:
    """One gunicorn server of the stack."""

    name: str
    app: str  # "kiosk" or "admin"
    port: int
    target: str  # the WSGI factory gunicorn loads


@dataclass
class LocalStack:
    """nginx in front of gunicorn servers of both apps, on loopback, in one folder."""

    root: Path
    database_url: str
    redis_url: str | None
    servers: list[AppServer]
    inmate_port: int
    staff_port: int
    staff_networks: tuple[str, ...] = ("127.0.0.1/32",)
    api_networks: tuple[str, ...] = ()
    redis_prefix: str = "kiosk-stack"
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ca: TerminalCA = field(init=False)
    server_cert: Issued = field(init=False)
    conf_dir: Path = field(init=False)
    instance: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ca = TerminalCA(self.root / "pki")
        if not self.ca.exists:
            self.ca.init("Kiosk stack terminal CA")
        self.server_cert = self.ca.issue_server(["localhost", "127.0.0.1"])
        self.conf_dir = self.root / "nginx"
        self.instance = self.root / "instance"
        self.instance.mkdir(parents=True, exist_ok=True)

    @property
    def app_ports(self) -> dict[str, int]:
        """Each server's port by name."""
        return {s.name: s.port for s in self.servers}

    def env(self) -> dict[str, str]:
        """What every app server of the stack is started with."""
        # KIOSK_* of the caller pass through (hashing cost, languages); the stack's own win.
        env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_REDIS_URL",)}
        env.update(
            {
                "KIOSK_INSTANCE_PATH": str(self.instance),
                "KIOSK_DATABASE_URL": self.database_url,
                "KIOSK_HTTPS": "true",
                "KIOSK_BEHIND_PROXY": "true",
                "KIOSK_REQUIRE_CLIENT_CERT": "true",
                "KIOSK_MEDIA_ACCEL_PREFIX": "/_media/",
                **self.extra_env,
            }
        )
        if self.redis_url:
            env["KIOSK_REDIS_URL"] = self.redis_url
            env["KIOSK_REDIS_PREFIX"] = self.redis_prefix
        return env

    def settings_env(self) -> dict[str, str]:
        """The same settings for commands run against the stack (`kiosk demo`, world building)."""
        return {k: v for k, v in self.env().items() if k.startswith("KIOSK_")}

    # nginx ------------------------------------------------------------------------

    def render_nginx(self, **changes: Any) -> None:
        """Write the stack's nginx configuration from the reviewed templates."""
        cert = str(self.ca.dir / self.server_cert.cert_path)
        key = str(self.ca.dir / self.server_cert.key_path)
        values: dict[str, Any] = {
            "conf_dir": str(self.conf_dir),
            "inmate_server_name": "localhost",
            "staff_server_name": "localhost",
            "inmate_listen": f"127.0.0.1:{self.inmate_port}",
            "staff_listen": f"127.0.0.1:{self.staff_port}",
            "inmate_certificate": cert,
            "inmate_certificate_key": key,
            "staff_certificate": cert,
            "staff_certificate_key": key,
            "terminal_ca": str(self.ca.ca_cert_path),
            "terminal_crl": str(self.ca.crl_path),
            "staff_networks": list(self.staff_networks),
            "api_networks": list(self.api_networks),
            "media_root": str(self.instance / "media"),
            "kiosk_upstreams": [f"127.0.0.1:{s.port}" for s in self.servers if s.app == "kiosk"],
            "admin_upstreams": [f"127.0.0.1:{s.port}" for s in self.servers if s.app == "admin"],
            "standalone": True,
            # nginx started by root would run its workers as nobody, who cannot read here.
            "standalone_user": "root" if os.geteuid() == 0 else None,
        }
        values.update(changes)
        render(load_site(REPO_NGINX / "site.example.toml", **values), self.conf_dir)
        (self.conf_dir / "tmp").mkdir(exist_ok=True)

    def _nginx(self, *args: str) -> list[str]:
        if NGINX is None:
            raise RuntimeError("nginx is not installed (Debian package nginx)")
        return [NGINX, "-e", "stderr", "-p", str(self.conf_dir), "-c", "nginx.conf", *args]

    def check_nginx(self) -> None:
        """`nginx -t` on the rendered configuration."""
        subprocess.run(self._nginx("-t", "-q"), check=True)  # noqa: S603 - our own argv

    def start_nginx(self) -> None:
        """Start nginx in the foreground of its own process and wait for both listeners."""
        self.procs["nginx"] = subprocess.Popen(  # noqa: S603 - our own argv
            self._nginx("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=self._log("nginx"),
        )
        wait_for_port(self.inmate_port, self.procs["nginx"])
        wait_for_port(self.staff_port, self.procs["nginx"])

    def reload_nginx(self) -> None:
        """Make nginx read its configuration and revocation list again."""
        subprocess.run(self._nginx("-s", "reload"), check=True, capture_output=True)  # noqa: S603

    # App servers ------------------------------------------------------------------

    def _log(self, name: str) -> IO[bytes]:
        return open(self.root / f"{name}.log", "ab")

    def start_app(self, name: str) -> None:
        """Start one gunicorn server by name (it listens once `wait_apps` returns)."""
        server = next(s for s in self.servers if s.name == name)
        conf = PACKAGE_DIR.parent / server.app / "gunicorn.conf.py"
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own argv
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(conf),
                "--bind",
                f"127.0.0.1:{server.port}",
                server.target,
            ],
            env=self.env(),
            stdout=self._log(name),
            stderr=subprocess.STDOUT,
            # Its own process group: a crash is simulated by killing master and workers at once.
            start_new_session=True,
        )

    def wait_apps(self, *names: str) -> None:
        """Until the named servers listen."""
        for name in names or [s.name for s in self.servers]:
            wait_for_own_port(name, self.app_ports[name], self.procs[name])

    def start(self) -> None:
        """Render nginx, start every app server and nginx, and wait until all listen."""
        self.render_nginx()
        for server in self.servers:
            self.start_app(server.name)
        self.start_nginx()
        self.wait_apps()

    def kill_app(self, name: str) -> None:
        """Kill a server and its workers at once, as a crash would."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def access_log(self, name: str) -> str:
        """What one server logged."""
        return (self.root / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stop everything this stack started."""
        nginx = self.procs.pop("nginx", None)
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        procs = [self.procs.pop(name) for name in list(self.procs)]
        for proc in procs:
            if proc.poll() is None:
                # SIGINT: gunicorn's quick shutdown; all at once, each takes a few seconds.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def terminal_cert(self, name: str) -> tuple[Path, Path]:
        """A fresh client certificate from the stack's CA: (certificate, key)."""
        issued = self.ca.issue_terminal(name)
        return self.ca.dir / issued.cert_path, self.ca.dir / issued.key_path


# `make stack` -------------------------------------------------------------------------


def prepare_database(url: str) -> None:
    """An empty, migrated database for the stack (a PostgreSQL database is made if missing)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from kiosk.migrate import upgrade

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                found = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
                ).first()
                if not found:
                    conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        finally:
            admin.dispose()
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    upgrade(url)


def redis_answers(url: str) -> bool:
    """True when Redis answers at the URL."""
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except Exception:  # any failure means "not there"
        return False


def kiosk_command(stack: LocalStack, *args: str) -> str:
    """Run a `kiosk` command against the stack's database and return what it printed."""
    result = subprocess.run(  # noqa: S603 - our own argv
        [sys.executable, "-m", "kiosk.cli", *args],
        env=stack.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kiosk {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def smoke_test(stack: LocalStack, booking: str, pin: str) -> str:
    """Enrol a terminal with its certificate through nginx and sign an inmate in.

    Returns the signed-in page's title; raises when any step fails.
    """
    out = kiosk_command(stack, "terminal", "add", "Stack smoke tablet", "--unit", "A")
    code = re.search(r"enrolment code .*: (\S+)", out)
    if code is None:
        raise RuntimeError(f"no enrolment code in: {out}")
    cert = stack.terminal_cert("Stack smoke tablet")
    tablet = Browser(stack.inmate_port, stack.ca.ca_cert_path, cert)
    if Browser(stack.inmate_port, stack.ca.ca_cert_path, None).get("/sign-in").status != 403:
        raise RuntimeError("nginx let a terminal without a certificate in")
    enrolled = tablet.post_form("/terminal/enrol", {"code": code.group(1)})
    if enrolled.status != 302:
        raise RuntimeError(f"enrolment through nginx failed: {enrolled.status}")
    signed_in = tablet.post_form("/sign-in", {"booking_number": booking, "pin": pin})
    if signed_in.status != 302:
        raise RuntimeError(f"sign-in through nginx failed: {signed_in.status}")
    home = tablet.get("/")
    title = re.search(r"<title>([^<]*)</title>", home.text)
    if home.status != 200 or title is None:
        raise RuntimeError(f"the signed-in page did not come: {home.status}")
    return title.group(1).strip()
