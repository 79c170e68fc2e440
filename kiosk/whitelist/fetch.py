"""The fetcher: GET one whitelisted URL on the inmate's behalf, and nothing more.

Order of checks, each before the next can happen:

1. the whitelist (``Whitelist.check``): a refused URL makes no DNS lookup and no
   connection at all;
2. one DNS resolution; every address must be public (an on-site mirror rule may
   name a private one);
3. a connection to the address that was checked (never a second lookup that DNS
   rebinding could answer differently), with SNI, certificate verification and
   the ``Host`` header of the checked host name;
4. GET only, no cookies, no credentials, ``identity`` encoding, a deadline for the
   whole exchange and a byte cap;
5. every redirect hop goes through steps 1-4 again.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin

from kiosk.whitelist.urls import DEFAULT_PORTS, CanonicalURL, Reason, Rule, Whitelist

# host, port -> the addresses it resolves to (as text)
Resolver = Callable[[str, int], Sequence[str]]
# address, port, timeout -> a connected socket
Connector = Callable[[str, int, float], socket.socket]

USER_AGENT: Final = "KioskReader/1.0 (learning resources for prisons)"
PAGE_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
# Pictures the reader passes on as bytes; never SVG (it is a document that can run script).
IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PDF_TYPES: Final = frozenset({"application/pdf"})
_CHUNK: Final = 64 * 1024


class FetchError(Exception):
    """The fetch did not produce content; ``reason`` says why (for the log and the inmate)."""

    def __init__(self, reason: str, *, refused: bool = False, status: int | None = None) -> None:
        self.reason = reason
        # True when a rule (whitelist or address check) said no, False for a failure.
        self.refused = refused
        self.status = status
        super().__init__(reason)


@dataclass(frozen=True)
class Limits:
    """How long and how much: the reader's defence against slow and huge upstreams."""

    timeout: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5


@dataclass(frozen=True)
class Fetched:
    """What came back: bytes of an accepted type from a checked URL."""

    url: str
    kind: str  # "page", "image" or "pdf"
    content_type: str
    charset: str
    body: bytes
    status: int
    rule_id: int | None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (one lookup)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def system_connector(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to exactly this address."""
    return socket.create_connection((address, port), timeout=timeout)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_is_public(text: str) -> bool:
    """True for a globally routable unicast address (IPv4-in-IPv6 forms judged by the IPv4)."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_is_public(str(inner))
    return bool(
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_unspecified
    )


def address_is_mirror(text: str, *, allow_loopback: bool = False) -> bool:
    """True for an address an on-site mirror may live on: a private (RFC 1918, ULA) one.

    Never link-local (cloud metadata services live there), multicast or unspecified, and
    loopback only when the site allows it explicitly (tests): a mirror rule must not let the
    reader into services on the kiosk server itself, such as the staff app.
    """
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_is_mirror(str(inner), allow_loopback=allow_loopback)
    if ip.is_loopback:
        return allow_loopback
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    return bool(ip.is_private or ip.is_global)


def kind_of(content_type: str) -> str | None:
    """ "page", "image", "pdf", or None for a type the reader never passes on."""
    if content_type in PAGE_TYPES:
        return "page"
    if content_type in IMAGE_TYPES:
        return "image"
    if content_type in PDF_TYPES:
        return "pdf"
    return None


def _parse_content_type(header: str | None) -> tuple[str, str]:
    if not header:
        return "", ""
    parts = [p.strip() for p in header.split(";")]
    charset = ""
    for part in parts[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()[:40]
    return parts[0].lower(), charset


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection over a socket we opened ourselves (to the checked address)."""

    def __init__(
        self, host: str, port: int, sock: socket.socket, timeout: float, *, default_port: int
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        # http.client leaves the port out of the Host header only when it equals this.
        self.default_port = default_port
        self.sock = sock

    def connect(self) -> None:  # pragma: no cover - the socket is always given
        raise http.client.HTTPException("pinned connection cannot reconnect")


class Fetcher:
    """Fetches whitelisted URLs with the checks of the module docstring."""

    def __init__(
        self,
        whitelist: Whitelist,
        *,
        limits: Limits | None = None,
        resolver: Resolver = system_resolver,
        connector: Connector = system_connector,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        allow_loopback_mirrors: bool = False,
    ) -> None:
        self.whitelist = whitelist
        self.allow_loopback_mirrors = allow_loopback_mirrors
        self.limits = limits or Limits()
        self.resolver = resolver
        self.connector = connector
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.clock = clock

    def fetch(
        self, url: str, *, kinds: frozenset[str] = frozenset({"page", "image", "pdf"})
    ) -> Fetched:
        """The content at ``url`` (after checked redirects), or ``FetchError``."""
        deadline = self.clock() + self.limits.timeout
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            verdict = self.whitelist.check(current)
            if not verdict.allowed or verdict.url is None or verdict.rule is None:
                reason = verdict.reason.value if current is url else "redirect"
                raise FetchError(reason, refused=True)
            result = self._one(verdict.url, verdict.rule, deadline, kinds)
            if isinstance(result, Fetched):
                return result
            # A redirect: the new location is checked from the start, like a new URL.
            current = result
        raise FetchError("too_many_redirects")

    def _remaining(self, deadline: float) -> float:
        left = deadline - self.clock()
        if left <= 0:
            raise FetchError("timeout")
        return left

    def _address(self, url: CanonicalURL, rule: Rule) -> str:
        try:
            addresses = list(self.resolver(url.host, url.port))
        except (OSError, UnicodeError):
            raise FetchError("dns") from None
        if not addresses:
            raise FetchError("dns")
        # Every answer must pass: a name that resolves to one public and one private
        # address is treated as hostile rather than tried in turn.
        if rule.mirror:
            allowed = all(
                address_is_mirror(a, allow_loopback=self.allow_loopback_mirrors) for a in addresses
            )
        else:
            allowed = all(address_is_public(a) for a in addresses)
        if not allowed:
            raise FetchError("private_address", refused=True)
        return addresses[0]

    def _connect(self, url: CanonicalURL, address: str, deadline: float) -> socket.socket:
        try:
            sock = self.connector(address, url.port, self._remaining(deadline))
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError("timeout") from None
        except OSError:
            raise FetchError("connect") from None
        if url.scheme != "https":
            return sock
        try:
            sock.settimeout(self._remaining(deadline))
            # SNI and certificate verification against the checked host name, not the address.
            return self.ssl_context.wrap_socket(sock, server_hostname=url.host)
        except FetchError:
            sock.close()
            raise
        except TimeoutError:
            sock.close()
            raise FetchError("timeout") from None
        except (ssl.SSLError, ssl.CertificateError, OSError):
            sock.close()
            raise FetchError("tls") from None

    def _one(
        self, url: CanonicalURL, rule: Rule, deadline: float, kinds: frozenset[str]
    ) -> Fetched | str:
        address = self._address(url, rule)
        sock = self._connect(url, address, deadline)
        conn = _PinnedConnection(
            url.host,
            url.port,
            sock,
            self._remaining(deadline),
            default_port=DEFAULT_PORTS[url.scheme],
        )
        try:
            return self._exchange(conn, sock, url, rule, deadline, kinds)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError("timeout") from None
        except (http.client.HTTPException, OSError, ValueError):
            raise FetchError("protocol") from None
        finally:
            conn.close()

    def _exchange(
        self,
        conn: _PinnedConnection,
        sock: socket.socket,
        url: CanonicalURL,
        rule: Rule,
        deadline: float,
        kinds: frozenset[str],
    ) -> Fetched | str:
        conn.putrequest("GET", url.request_target, skip_accept_encoding=True)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept", "text/html, application/xhtml+xml, image/*, application/pdf")
        # Compressed bodies could hide a bomb behind a small byte count: ask for none.
        conn.putheader("Accept-Encoding", "identity")
        conn.putheader("Connection", "close")
        conn.endheaders()
        sock.settimeout(self._remaining(deadline))
        response = conn.getresponse()
        status = response.status
        if status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            if not location:
                raise FetchError("protocol", status=status)
            return urljoin(url.geturl(fragment=False), location.strip())
        if status == 404 or status == 410:
            raise FetchError("not_found", status=status)
        if not 200 <= status < 300:
            raise FetchError("upstream_status", status=status)
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise FetchError("protocol", status=status)
        content_type, charset = _parse_content_type(response.getheader("Content-Type"))
        kind = kind_of(content_type)
        if kind is None or kind not in kinds:
            raise FetchError("content_type", refused=True, status=status)
        length = response.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > self.limits.max_bytes:
            raise FetchError("too_large", status=status)
        body = bytearray()
        while True:
            sock.settimeout(self._remaining(deadline))
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            body += chunk
            if len(body) > self.limits.max_bytes:
                raise FetchError("too_large", status=status)
        return Fetched(
            url=url.geturl(fragment=False),
            kind=kind,
            content_type=content_type,
            charset=charset,
            body=bytes(body),
            status=status,
            rule_id=rule.id,
        )


__all__ = [
    "Connector",
    "FetchError",
    "Fetched",
    "Fetcher",
    "Limits",
    "Reason",
    "Resolver",
    "address_is_mirror",
    "address_is_public",
    "kind_of",
    "system_connector",
    "system_resolver",
]
