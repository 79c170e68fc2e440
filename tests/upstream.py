"""A local upstream web server for the reader's tests (loopback only, plain HTTP or TLS).

The whitelist never allows IP literals, so tests name the server ``mirror.test`` (or
``books.test`` for TLS) in an on-site mirror rule and give the fetcher a resolver that
maps that name to 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Reply:
    """What the server answers on one path."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Called instead of sending ``body`` (for streaming, stalling, echoing).
    stream: Callable[[BaseHTTPRequestHandler], None] | None = None


@dataclass
class Upstream:
    """A running server: its port, its routes, and what it has seen."""

    port: int
    routes: dict[str, Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def html(self, path: str, body: str, status: int = 200) -> None:
        """Serve an HTML page."""
        self.routes[path] = Reply(
            status, {"Content-Type": "text/html; charset=utf-8"}, body.encode("utf-8")
        )


def _handler(server_state: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self) -> None:
            server_state.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers)}
            )
            reply = server_state.routes.get(self.path.split("?", 1)[0])
            if reply is None:
                reply = Reply(404, {"Content-Type": "text/plain"}, b"not here")
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.stream is not None:
                reply.stream(self)
                return
            if "Content-Length" not in reply.headers:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

    return Handler


@contextmanager
def serve(tls: tuple[Path, Path] | None = None) -> Iterator[Upstream]:
    """A server on 127.0.0.1 with a free port, stopped afterwards."""
    state = Upstream(port=0, routes={})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))

        def remember(_sock: Any, name: str | None, _ctx: Any) -> None:
            state.sni.append(name)

        ctx.sni_callback = remember
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def resolver_for(names: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    """A resolver that knows only these names (and records nothing else)."""

    def resolve(host: str, _port: int) -> Sequence[str]:
        if host not in names:
            raise OSError(f"unknown test host {host}")
        return names[host]

    return resolve


def loopback_connector(seen: list[tuple[str, int]]) -> Callable[[str, int, float], socket.socket]:
    """A connector that records where it connects and only connects to loopback."""

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        seen.append((address, port))
        assert address in ("127.0.0.1", "::1"), f"tried to connect to {address}"
        return socket.create_connection((address, port), timeout=timeout)

    return connect


def forbidden(*_args: Any, **_kwargs: Any) -> Any:
    """A resolver or connector that fails the test when called."""
    raise AssertionError("network activity for a URL that should have been refused")


@dataclass
class LocalCA:
    """A certificate authority made for one test run, and a server certificate from it."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_ca(folder: Path, host: str) -> LocalCA:
    """A fresh CA and a certificate for ``host`` signed by it (PEM files in ``folder``)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kiosk test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    cert_file = folder / "server.pem"
    key_file = folder / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return LocalCA(ca_file, cert_file, key_file)
