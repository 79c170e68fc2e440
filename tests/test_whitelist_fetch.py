"""The fetcher against a local upstream: checked addresses, pinned connections, caps, redirects."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from upstream import (
    PNG,
    Reply,
    Upstream,
    forbidden,
    loopback_connector,
    make_ca,
    resolver_for,
    serve,
)

from kiosk.whitelist import Rule, Whitelist
from kiosk.whitelist.fetch import Fetcher, FetchError, Limits, address_is_public


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A plain-HTTP server on loopback, reached as the on-site mirror ``mirror.test``."""
    with serve() as server:
        server.html("/page.html", "<h1>Cells</h1><p>Mitochondria.</p>")
        server.routes["/cell.png"] = Reply(200, {"Content-Type": "image/png"}, PNG)
        yield server


def _fetcher(
    upstream: Upstream,
    seen: list[tuple[str, int]],
    *,
    extra: list[Rule] | None = None,
    limits: Limits | None = None,
    names: dict[str, list[str]] | None = None,
) -> Fetcher:
    rules = [Rule(f"http://mirror.test:{upstream.port}/", mirror=True, id=1), *(extra or [])]
    return Fetcher(
        Whitelist(rules),
        limits=limits or Limits(timeout=2.0, max_bytes=100_000),
        resolver=resolver_for({"mirror.test": ["127.0.0.1"], **(names or {})}),
        connector=loopback_connector(seen),
        # The explicit test-only permission: the upstream runs on loopback.
        allow_loopback_mirrors=True,
    )


def test_an_allowed_page_is_fetched_with_a_plain_get_and_no_credentials(upstream: Upstream) -> None:
    seen: list[tuple[str, int]] = []
    fetched = _fetcher(upstream, seen).fetch(f"http://mirror.test:{upstream.port}/page.html#top")
    assert fetched.kind == "page"
    assert b"Mitochondria" in fetched.body
    assert fetched.rule_id == 1
    assert seen == [("127.0.0.1", upstream.port)]
    request = upstream.requests[0]
    assert request["method"] == "GET"
    assert request["path"] == "/page.html"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["host"] == f"mirror.test:{upstream.port}"
    assert "cookie" not in headers
    assert "authorization" not in headers
    assert headers["accept-encoding"] == "identity"


def test_an_image_is_fetched_as_an_image(upstream: Upstream) -> None:
    fetched = _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/cell.png")
    assert (fetched.kind, fetched.body) == ("image", PNG)


@pytest.mark.parametrize(
    "content_type",
    ["application/javascript", "image/svg+xml", "text/css", "application/octet-stream", ""],
)
def test_types_other_than_html_images_and_pdf_are_refused(
    upstream: Upstream, content_type: str
) -> None:
    upstream.routes["/thing"] = Reply(200, {"Content-Type": content_type}, b"alert(1)")
    with pytest.raises(FetchError) as caught:
        _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/thing")
    assert caught.value.reason == "content_type"


def test_a_compressed_body_is_refused_rather_than_unpacked(upstream: Upstream) -> None:
    upstream.routes["/z"] = Reply(
        200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, b"\x1f\x8b..."
    )
    with pytest.raises(FetchError) as caught:
        _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/z")
    assert caught.value.reason == "protocol"


def test_a_redirect_inside_the_whitelist_is_followed(upstream: Upstream) -> None:
    upstream.routes["/old"] = Reply(302, {"Location": "/page.html"})
    fetched = _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/old")
    assert fetched.url == f"http://mirror.test:{upstream.port}/page.html"
    assert [r["path"] for r in upstream.requests] == ["/old", "/page.html"]


def test_a_redirect_off_the_whitelist_is_not_followed(upstream: Upstream) -> None:
    upstream.routes["/away"] = Reply(302, {"Location": "https://evil.example/collect?x=1"})
    seen: list[tuple[str, int]] = []
    fetcher = _fetcher(upstream, seen)
    fetcher.resolver = resolver_for({"mirror.test": ["127.0.0.1"]})
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"http://mirror.test:{upstream.port}/away")
    assert caught.value.reason == "redirect"
    assert caught.value.refused
    assert seen == [("127.0.0.1", upstream.port)]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1/",
        "http://0x7f000001/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://mirror.test:{port}@evil.example/",
        "//evil.example/",
        "http://mirror.test:{port}/%2e%2e/etc/passwd",
        "javascript:alert(1)",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_an_address_or_trick_is_not_followed(
    upstream: Upstream, location: str
) -> None:
    upstream.routes["/r"] = Reply(302, {"Location": location.format(port=upstream.port)})
    seen: list[tuple[str, int]] = []
    with pytest.raises(FetchError) as caught:
        _fetcher(upstream, seen).fetch(f"http://mirror.test:{upstream.port}/r")
    assert caught.value.reason == "redirect"
    assert len(seen) == 1


def test_a_redirect_to_a_whitelisted_host_on_a_private_address_is_not_connected_to(
    upstream: Upstream,
) -> None:
    upstream.routes["/r"] = Reply(302, {"Location": "https://intranet.example.org/"})
    seen: list[tuple[str, int]] = []
    fetcher = _fetcher(
        upstream,
        seen,
        extra=[Rule("https://intranet.example.org/")],
        names={"intranet.example.org": ["10.20.30.40"]},
    )
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"http://mirror.test:{upstream.port}/r")
    assert caught.value.reason == "private_address"
    assert seen == [("127.0.0.1", upstream.port)]


def test_a_redirect_loop_ends(upstream: Upstream) -> None:
    upstream.routes["/loop"] = Reply(302, {"Location": "/loop"})
    with pytest.raises(FetchError) as caught:
        _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/loop")
    assert caught.value.reason == "too_many_redirects"
    assert len(upstream.requests) == Limits().max_redirects + 1


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.0.0.7"],
        ["192.168.1.1"],
        ["172.16.0.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["0.0.0.0"],  # noqa: S104 - an answer to refuse, not an address we bind to
        ["::1"],
        ["fe80::1"],
        ["fc00::1"],
        ["::ffff:127.0.0.1"],
        ["::ffff:10.0.0.1"],
        ["2002:7f00:1::"],
        ["224.0.0.1"],
        ["93.184.216.34", "127.0.0.1"],
    ],
)
def test_a_whitelisted_host_that_resolves_to_a_private_address_is_not_connected_to(
    addresses: list[str],
) -> None:
    fetcher = Fetcher(
        Whitelist(["https://en.wikipedia.org/"]),
        resolver=resolver_for({"en.wikipedia.org": addresses}),
        connector=forbidden,
    )
    with pytest.raises(FetchError) as caught:
        fetcher.fetch("https://en.wikipedia.org/wiki/Cell")
    assert caught.value.reason == "private_address"
    assert caught.value.refused


def test_public_addresses_are_public() -> None:
    assert address_is_public("93.184.216.34")
    assert address_is_public("2606:2800:220:1:248:1893:25c8:1946")
    assert not address_is_public("not an address")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://127.0.0.1/",
        "https://en.wikipedia.org.@evil.example/",
        "https://en.wikipedia.org\\@evil.example/",
        "https://en.wikipedia.org:8443/",
        "https://en.wikipedia.org/%2e%2e/",
        "http://en.wikipedia.org/",
        "ftp://en.wikipedia.org/",
    ],
)
def test_a_rejected_url_causes_no_dns_lookup_and_no_socket_activity(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        monkeypatch.setattr(socket, name, forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", forbidden)
    fetcher = Fetcher(Whitelist(["https://en.wikipedia.org/"]))  # the real resolver and connector
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert caught.value.refused


def test_a_huge_declared_body_is_refused_before_reading(upstream: Upstream) -> None:
    upstream.routes["/huge"] = Reply(
        200, {"Content-Type": "text/html", "Content-Length": str(10**9)}, b""
    )
    with pytest.raises(FetchError) as caught:
        _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/huge")
    assert caught.value.reason == "too_large"


def _endless(handler: BaseHTTPRequestHandler) -> None:
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"<p>" + b"x" * 8000 + b"</p>"
    try:
        for _ in range(1000):
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    except OSError:
        return


def test_an_endless_body_is_cut_off_at_the_size_cap(upstream: Upstream) -> None:
    upstream.routes["/endless"] = Reply(stream=_endless)
    with pytest.raises(FetchError) as caught:
        _fetcher(upstream, []).fetch(f"http://mirror.test:{upstream.port}/endless")
    assert caught.value.reason == "too_large"


def test_a_slow_upstream_is_cut_off_at_the_deadline(upstream: Upstream) -> None:
    def stall(handler: BaseHTTPRequestHandler) -> None:
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"<p>")
        handler.wfile.flush()
        upstream.release.wait(10)

    upstream.routes["/slow"] = Reply(stream=stall)
    fetcher = _fetcher(upstream, [], limits=Limits(timeout=0.3, max_bytes=100_000))
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"http://mirror.test:{upstream.port}/slow")
    assert caught.value.reason == "timeout"


def test_a_trickling_upstream_is_cut_off_by_the_whole_exchange_deadline(upstream: Upstream) -> None:
    ticks = iter(range(1000))

    def clock() -> float:
        # Each look at the clock is a second later: the deadline passes mid-body.
        return float(next(ticks))

    upstream.routes["/endless"] = Reply(stream=_endless)
    fetcher = _fetcher(upstream, [], limits=Limits(timeout=6, max_bytes=10**9))
    fetcher.clock = clock
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"http://mirror.test:{upstream.port}/endless")
    assert caught.value.reason == "timeout"


def test_an_upstream_error_status_is_reported(upstream: Upstream) -> None:
    upstream.html("/gone", "<p>no</p>", status=404)
    upstream.html("/broken", "<p>oops</p>", status=500)
    fetcher = _fetcher(upstream, [])
    with pytest.raises(FetchError) as missing:
        fetcher.fetch(f"http://mirror.test:{upstream.port}/gone")
    with pytest.raises(FetchError) as broken:
        fetcher.fetch(f"http://mirror.test:{upstream.port}/broken")
    assert (missing.value.reason, broken.value.reason) == ("not_found", "upstream_status")


def test_an_unknown_host_is_a_dns_failure() -> None:
    fetcher = Fetcher(
        Whitelist(["https://nowhere.example.org/"]),
        resolver=resolver_for({}),
        connector=forbidden,
    )
    with pytest.raises(FetchError) as caught:
        fetcher.fetch("https://nowhere.example.org/")
    assert caught.value.reason == "dns"


# TLS: a local server with a certificate from a CA made for the test ---------------------


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[Upstream, Path]]:
    """An HTTPS server for ``books.test`` with a test CA."""
    ca = make_ca(tmp_path, "books.test")
    with serve(tls=(ca.cert_file, ca.key_file)) as server:
        server.html("/index.html", "<h1>Books</h1>")
        yield server, ca.ca_file


def test_https_connects_to_the_checked_address_with_sni_and_a_verified_certificate(
    tls_upstream: tuple[Upstream, Path],
) -> None:
    server, ca_file = tls_upstream
    seen: list[tuple[str, int]] = []
    fetcher = Fetcher(
        Whitelist([Rule(f"https://books.test:{server.port}/", mirror=True)]),
        resolver=resolver_for({"books.test": ["127.0.0.1"]}),
        connector=loopback_connector(seen),
        ssl_context=ssl.create_default_context(cafile=str(ca_file)),
        allow_loopback_mirrors=True,
    )
    fetched = fetcher.fetch(f"https://books.test:{server.port}/index.html")
    assert b"Books" in fetched.body
    assert seen == [("127.0.0.1", server.port)]
    assert server.sni == ["books.test"]
    assert server.requests[0]["headers"]["Host"] == f"books.test:{server.port}"


def test_https_refuses_a_certificate_for_another_name(tls_upstream: tuple[Upstream, Path]) -> None:
    server, ca_file = tls_upstream
    fetcher = Fetcher(
        Whitelist([Rule(f"https://library.test:{server.port}/", mirror=True)]),
        resolver=resolver_for({"library.test": ["127.0.0.1"]}),
        connector=loopback_connector([]),
        ssl_context=ssl.create_default_context(cafile=str(ca_file)),
        allow_loopback_mirrors=True,
    )
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"https://library.test:{server.port}/index.html")
    assert caught.value.reason == "tls"
    assert server.requests == []


def test_https_refuses_a_certificate_from_an_unknown_authority(
    tls_upstream: tuple[Upstream, Path],
) -> None:
    server, _ca_file = tls_upstream
    fetcher = Fetcher(
        Whitelist([Rule(f"https://books.test:{server.port}/", mirror=True)]),
        resolver=resolver_for({"books.test": ["127.0.0.1"]}),
        connector=loopback_connector([]),
        allow_loopback_mirrors=True,
    )
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(f"https://books.test:{server.port}/index.html")
    assert caught.value.reason == "tls"
    assert server.requests == []


def test_the_host_header_names_no_port_when_it_is_the_schemes_default() -> None:
    import socket as socket_module

    from kiosk.whitelist.fetch import _PinnedConnection

    ours, theirs = socket_module.socketpair()
    try:
        conn = _PinnedConnection("en.wikipedia.org", 443, ours, 1.0, default_port=443)
        conn.putrequest("GET", "/wiki/Cell", skip_accept_encoding=True)
        conn.endheaders()
        sent = theirs.recv(4096).decode("ascii")
    finally:
        ours.close()
        theirs.close()
    assert "Host: en.wikipedia.org\r\n" in sent


@pytest.mark.parametrize(
    ("addresses", "allowed"),
    [
        (["10.1.2.3"], True),
        (["192.168.10.20"], True),
        (["fd00::5"], True),
        (["127.0.0.1"], False),
        (["::1"], False),
        (["::ffff:127.0.0.1"], False),
        (["169.254.169.254"], False),
        (["fe80::1"], False),
        (["0.0.0.0"], False),  # noqa: S104 - an answer to refuse, not an address we bind to
        (["224.0.0.1"], False),
    ],
)
def test_an_on_site_mirror_may_be_private_but_never_loopback_or_link_local(
    addresses: list[str], allowed: bool
) -> None:
    seen: list[str] = []

    def connector(address: str, port: int, timeout: float) -> socket.socket:
        seen.append(address)
        raise OSError("stop here")

    fetcher = Fetcher(
        Whitelist([Rule("http://mirror.kiosk.internal:8080/", mirror=True)]),
        resolver=resolver_for({"mirror.kiosk.internal": addresses}),
        connector=connector,
    )
    with pytest.raises(FetchError) as caught:
        fetcher.fetch("http://mirror.kiosk.internal:8080/wiki/")
    if allowed:
        assert (caught.value.reason, seen) == ("connect", addresses[:1])
    else:
        assert (caught.value.reason, seen) == ("private_address", [])
