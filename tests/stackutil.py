"""A production-like stack for the system tests: real nginx, gunicorn, TLS and certificates.

Everything lives in one temporary folder and listens on free loopback ports, so
several stacks (other test runs, other engineers) never meet. The portal runs
twice behind one nginx upstream, the staff app once; PKI, database, instance
folder and nginx configuration are made fresh.
"""

from __future__ import annotations

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
from typing import Any
from urllib.parse import urlencode

from kiosk.nginxconf import load_site, render
from kiosk.pki import Issued, TerminalCA

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
STAFF_SOURCE = "127.0.0.2"  # the "staff network" of the test stack
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        assert match, f"no form at {form_page or path}: {page.status} {page.text[:300]}"
        payload = urlencode({"csrf_token": match.group(1), **data}).encode()
        return self.request(
            "POST",
            path,
            body=payload,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


@dataclass
class Stack:
    """nginx in front of two portal servers and one staff server, on loopback."""

    root: Path
    database_url: str
    redis_url: str | None
    redis_prefix: str = "kiosk-system-test"
    ca: TerminalCA = field(init=False)
    server_cert: Issued = field(init=False)
    inmate_port: int = field(default_factory=free_port)
    staff_port: int = field(default_factory=free_port)
    app_ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    conf_dir: Path = field(init=False)
    instance: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ca = TerminalCA(self.root / "pki")
        self.ca.init("System test terminal CA")
        self.server_cert = self.ca.issue_server(["localhost", "127.0.0.1"])
        self.conf_dir = self.root / "nginx"
        self.instance = self.root / "instance"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.app_ports = {"kiosk-a": free_port(), "kiosk-b": free_port(), "admin": free_port()}

    # Environment ------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """What every app server of the stack is started with."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("KIOSK_") and k not in ("PYTHONPATH",)
        }
        env.update(
            {
                "KIOSK_INSTANCE_PATH": str(self.instance),
                "KIOSK_DATABASE_URL": self.database_url,
                "KIOSK_HTTPS": "true",
                "KIOSK_BEHIND_PROXY": "true",
                "KIOSK_REQUIRE_CLIENT_CERT": "true",
                "KIOSK_MEDIA_ACCEL_PREFIX": "/_media/",
                "KIOSK_DEFAULT_LANGUAGE": "en",
                "KIOSK_ARGON2_TIME_COST": "1",
                "KIOSK_ARGON2_MEMORY_KIB": "64",
                "KIOSK_ARGON2_PARALLELISM": "1",
                # One process, a few threads per server: two servers already prove sharing.
                "KIOSK_WORKERS": "1",
                "KIOSK_THREADS": "4",
                "KIOSK_ADMIN_WORKERS": "1",
                "KIOSK_ADMIN_THREADS": "2",
                "KIOSK_LOG_LEVEL": "warning",
                "PYTHONPATH": str(ROOT / "tests"),
            }
        )
        if self.redis_url:
            env["KIOSK_REDIS_URL"] = self.redis_url
            env["KIOSK_REDIS_PREFIX"] = self.redis_prefix
        return env

    def settings_env(self) -> dict[str, str]:
        """The same settings for code in the test process (world building)."""
        return {k: v for k, v in self.env().items() if k.startswith("KIOSK_")}

    # nginx ------------------------------------------------------------------------

    def render_nginx(self, **changes: Any) -> None:
        """Write the stack's nginx configuration from the reviewed templates."""
        cert = str(self.ca.dir / self.server_cert.cert_path)
        key = str(self.ca.dir / self.server_cert.key_path)
        site = load_site(
            ROOT / "nginx" / "site.example.toml",
            conf_dir=str(self.conf_dir),
            inmate_server_name="localhost",
            staff_server_name="localhost",
            inmate_listen=f"127.0.0.1:{self.inmate_port}",
            staff_listen=f"127.0.0.1:{self.staff_port}",
            inmate_certificate=cert,
            inmate_certificate_key=key,
            staff_certificate=cert,
            staff_certificate_key=key,
            terminal_ca=str(self.ca.ca_cert_path),
            terminal_crl=str(self.ca.crl_path),
            staff_networks=[f"{STAFF_SOURCE}/32"],
            api_networks=[],
            media_root=str(self.instance / "media"),
            kiosk_upstreams=[
                f"127.0.0.1:{self.app_ports['kiosk-a']}",
                f"127.0.0.1:{self.app_ports['kiosk-b']}",
            ],
            admin_upstreams=[f"127.0.0.1:{self.app_ports['admin']}"],
            standalone=True,
            standalone_user="root" if os.geteuid() == 0 else None,
            **changes,
        )
        render(site, self.conf_dir)
        (self.conf_dir / "tmp").mkdir(exist_ok=True)

    def _nginx(self, *args: str) -> list[str]:
        assert NGINX is not None
        return [NGINX, "-e", "stderr", "-p", str(self.conf_dir), "-c", "nginx.conf", *args]

    def start_nginx(self) -> None:
        """Start nginx in the foreground of its own process."""
        self.procs["nginx"] = subprocess.Popen(
            self._nginx("-g", "daemon off;"),
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "nginx.stderr", "ab"),  # noqa: SIM115 - lives with the process
        )
        wait_for_port(self.inmate_port, self.procs["nginx"])
        wait_for_port(self.staff_port, self.procs["nginx"])

    def reload_nginx(self) -> None:
        """Make nginx read its configuration and revocation list again."""
        subprocess.run(self._nginx("-s", "reload"), check=True, capture_output=True)

    # App servers ------------------------------------------------------------------

    def start_app(self, name: str) -> None:
        """Start one gunicorn server (kiosk-a, kiosk-b or admin) and wait until it listens."""
        if name == "admin":
            conf, target = ROOT / "admin" / "gunicorn.conf.py", "admin:create_app()"
        else:
            conf, target = ROOT / "kiosk" / "gunicorn.conf.py", "system_app:create_portal()"
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(conf),
                "--bind",
                f"127.0.0.1:{self.app_ports[name]}",
                target,
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_apps(self, *names: str) -> None:
        """Until the named servers listen."""
        for name in names:
            wait_for_port(self.app_ports[name], self.procs[name], seconds=30)

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
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)

    # Clients ----------------------------------------------------------------------

    def terminal_cert(self, name: str) -> tuple[Path, Path]:
        """A fresh client certificate from the stack's CA."""
        issued = self.ca.issue_terminal(name)
        return self.ca.dir / issued.cert_path, self.ca.dir / issued.key_path

    def tablet(self, cert: tuple[Path, Path] | None, source: str = "127.0.0.1") -> Browser:
        """A browser on the inmate listener."""
        return Browser(self.inmate_port, self.ca.ca_cert_path, cert, source)

    def staff_pc(self, source: str = STAFF_SOURCE) -> Browser:
        """A browser on the staff listener."""
        return Browser(self.staff_port, self.ca.ca_cert_path, None, source)
