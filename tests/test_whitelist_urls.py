"""``Whitelist(rules).allows(url)``: canonical URLs under a rule pass, every trick is refused."""

from __future__ import annotations

import pytest

from kiosk.whitelist import MAX_URL_LENGTH, Reason, Rule, URLRefused, Whitelist

RULES = [
    "https://en.wikipedia.org/",
    "https://www.khanacademy.org/math/",
    "https://arbetsformedlingen.se/for-arbetssokande/",
    "http://plain.example.org/docs",
]
WL = Whitelist(RULES)

ALLOWED = [
    "https://en.wikipedia.org/",
    "https://en.wikipedia.org",
    "https://en.wikipedia.org/wiki/Photosynthesis",
    "https://EN.Wikipedia.ORG/wiki/Photosynthesis",
    "HTTPS://en.wikipedia.org/wiki/X",
    "https://en.wikipedia.org:443/wiki/Photosynthesis",
    "https://en.wikipedia.org/w/index.php?title=Special:Search&search=cell",
    "https://en.wikipedia.org/wiki/Cell#Structure",
    "https://en.wikipedia.org/wiki/Caf%C3%A9",
    "https://en.wikipedia.org/wiki/100%25",
    "https://en.wikipedia.org/wiki/C%2B%2B",
    "https://en.wikipedia.org/wiki/Rock_%26_roll",
    "https://en.wikipedia.org/wiki/A%20B",
    "https://en.wikipedia.org/wiki/dir/",
    "https://en.wikipedia.org/wiki/..foo",
    "https://en.wikipedia.org/wiki/a.b.c",
    "https://en.wikipedia.org?x=1",
    "https://en.wikipedia.org/wiki/@user",
    "https://en.wikipedia.org/search?q=a@b",
    "https://www.khanacademy.org/math/",
    "https://www.khanacademy.org/math",
    "https://www.khanacademy.org/math/algebra",
    "https://www.khanacademy.org/math/algebra/x2f8bb11595b61c86:foundation",
    "https://www.khanacademy.org/m%61th/algebra",
    "https://arbetsformedlingen.se/for-arbetssokande/sok-jobb",
    "http://plain.example.org/docs",
    "http://plain.example.org/docs/",
    "http://plain.example.org:80/docs/intro.html",
    "http://plain.example.org/docs?page=2",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_ordinary_urls_under_a_rule_are_allowed(url: str) -> None:
    assert WL.allows(url), WL.check(url)


REFUSED: dict[Reason, list[str]] = {
    Reason.USERINFO: [
        "https://user@en.wikipedia.org/",
        "https://user:pass@en.wikipedia.org/",
        "https://en.wikipedia.org@evil.example/",
        "https://en.wikipedia.org:443@evil.example/",
        "https://@en.wikipedia.org/",
        "https://evil.example@en.wikipedia.org/wiki/",
        "https://en.wikipedia.org%2f@evil.example/x",
    ],
    Reason.BACKSLASH: [
        "https://evil.example\\@en.wikipedia.org/",
        "https://en.wikipedia.org\\@evil.example/",
        "https://en.wikipedia.org/wiki\\..\\..\\",
        "https:\\\\en.wikipedia.org/",
        "https://en.wikipedia.org/wiki/a?b=\\",
    ],
    Reason.WHITESPACE_OR_CONTROL: [
        " https://en.wikipedia.org/",
        "https://en.wikipedia.org/ ",
        "https://en.wiki pedia.org/",
        "https://en.wikipedia.org/wiki/\tx",
        "https://en.wikipedia.org/wiki/\nx",
        "https://en.wikipedia.org/wiki/\rx",
        "https://en.wikipedia.org/wiki/\x00",
        "https://en.wikipedia.org/wiki/\x7f",
        "java\tscript:alert(1)",
        "https://en.wikipedia.org/wiki/%00",
        "https://en.wikipedia.org/wiki/%0d%0aHost:evil",
        "https://en.wikipedia.org/wiki/%1b[31m",
        "https://en.wikipedia.org/wiki/%7f",
    ],
    Reason.NON_ASCII: [
        "https://en.wikipedia.org/wiki/Café",
        "https://\u0435n.wikipedia.org/",  # Cyrillic ie
        "https://en.wikipedia.org\u2025evil.example/",
        "https://en.wikipedia.org/\u200b",
        "https://en\uff0ewikipedia\uff0eorg/",  # full-width dots
        "https://en.wikipedia.org\u3002/",
    ],
    Reason.ENCODED_HOST: [
        "https://en%2ewikipedia.org/",
        "https://%65n.wikipedia.org/",
        "https://en.wikipedia%2Eorg/",
        "https://en.wikipedia.org%00.evil.example/",
    ],
    Reason.IP_LITERAL: [
        "https://127.0.0.1/",
        "https://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://2130706433/",  # decimal
        "https://017700000001/",  # octal
        "https://0x7f000001/",  # hex
        "https://0x7f.0x0.0x0.0x1/",  # dotted hex
        "https://0177.0.0.01/",  # dotted octal
        "https://127.1/",  # short form
        "https://127.0.1/",
        "https://0/",
        "https://0x/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fe80::1%25eth0]/",
        "https://[0:0:0:0:0:0:0:1]:443/",
        "https://en.wikipedia.org.127.0.0.1/",
    ],
    Reason.TRAILING_DOT: [
        "https://en.wikipedia.org./",
        "https://en.wikipedia.org.:443/wiki/",
        "https://EN.WIKIPEDIA.ORG./",
        "https://en.wikipedia.org../",
    ],
    Reason.BAD_HOST: [
        "https:///en.wikipedia.org/",
        "https://en..wikipedia.org/",
        "https://.en.wikipedia.org/",
        "https://en_wiki.wikipedia.org/",
        "https://-en.wikipedia.org/",
        "https://en-.wikipedia.org/",
        "https://" + "a" * 64 + ".wikipedia.org/",
        "https://en.wikipedia.org*/",
        "https://en.wikipedia.org;evil.example/",
    ],
    Reason.PORT: [
        "https://en.wikipedia.org:8443/",
        "https://en.wikipedia.org:80/",
        "https://en.wikipedia.org:444/",
        "https://en.wikipedia.org:0443/",
        "https://en.wikipedia.org:/",
        "https://en.wikipedia.org:443:443/",
        "https://en.wikipedia.org:99999/",
        "https://en.wikipedia.org:0/",
        "https://en.wikipedia.org:+443/",
        "https://en.wikipedia.org:4_43/",
        "https://en.wikipedia.org:0x1bb/",
        "http://plain.example.org:8080/docs",
    ],
    Reason.SCHEME: [
        "ftp://en.wikipedia.org/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "gopher://en.wikipedia.org/",
        "ws://en.wikipedia.org/",
        "mailto:someone@en.wikipedia.org",
        "jar:https://en.wikipedia.org/x.jar!/",
        "view-source:https://en.wikipedia.org/",
    ],
    Reason.NOT_ABSOLUTE: [
        "//en.wikipedia.org/",
        "/wiki/Photosynthesis",
        "en.wikipedia.org/wiki/",
        "https:en.wikipedia.org/",
        "https:/en.wikipedia.org/",
        "",
        "https://en.wikipedia.org?x",  # canonical: fine, see ALLOWED; this one is a control
    ][:-1],
    Reason.TOO_LONG: [
        "https://en.wikipedia.org/wiki/" + "a" * MAX_URL_LENGTH,
        "https://en.wikipedia.org/?" + "q=" * MAX_URL_LENGTH,
        "https://en.wikipedia.org/" + "x" * (MAX_URL_LENGTH - len("https://en.wikipedia.org/") + 1),
    ],
    Reason.DOT_SEGMENT: [
        "https://www.khanacademy.org/math/../admin",
        "https://www.khanacademy.org/math/./../admin",
        "https://www.khanacademy.org/math/..",
        "https://www.khanacademy.org/math/%2e%2e/admin",
        "https://www.khanacademy.org/math/%2E%2E/admin",
        "https://www.khanacademy.org/math/.%2e/admin",
        "https://www.khanacademy.org/math/%252e%252e/admin",
        "https://www.khanacademy.org/math/%25252e%25252e/admin",
        "https://www.khanacademy.org/math/..;/admin",
        "https://www.khanacademy.org/math/.;x/admin",
        "https://en.wikipedia.org/./wiki",
        "https://en.wikipedia.org/.",
    ],
    Reason.EMPTY_SEGMENT: [
        "https://www.khanacademy.org//math/",
        "https://www.khanacademy.org/math//../../admin",
        "https://en.wikipedia.org//evil.example/",
        "https://en.wikipedia.org/wiki//x",
        "https://www.khanacademy.org/math/%252f%252f",
    ][:-1],
    Reason.ENCODED_SLASH: [
        "https://www.khanacademy.org/math%2f..%2fadmin",
        "https://www.khanacademy.org/math%2F..%2Fadmin",
        "https://www.khanacademy.org/math/%252f%252f",
        "https://www.khanacademy.org/math/%25252F",
        "https://en.wikipedia.org/%2f%2fevil.example/",
        "https://www.khanacademy.org/math/%5c..%5cadmin",
    ],
    Reason.BAD_ENCODING: [
        "https://en.wikipedia.org/wiki/%",
        "https://en.wikipedia.org/wiki/%zz",
        "https://en.wikipedia.org/wiki/%u002e%u002e",
        "https://en.wikipedia.org/wiki/%2",
        "https://en.wikipedia.org/wiki/x?q=%",
        "https://en.wikipedia.org/wiki/%2525252525252e",
    ],
    Reason.NO_RULE: [
        "https://evil.example/",
        "https://wikipedia.org/",
        "https://de.wikipedia.org/",
        "https://en.wikipedia.org.evil.example/",
        "https://evil-en.wikipedia.org.example/",
        "https://enwikipedia.org/",
        "http://en.wikipedia.org/",  # the rule's scheme is https
        "https://plain.example.org/docs",  # the rule's scheme is http
        "https://www.khanacademy.org/",
        "https://www.khanacademy.org/mathematics",
        "https://www.khanacademy.org/math-evil/",
        "https://www.khanacademy.org/Math/",
        "https://www.khanacademy.org/humanities/math/",
        "https://arbetsformedlingen.se/for-arbetsgivare/",
        "https://arbetsformedlingen.se/for-arbetssokandeX",
        "http://plain.example.org/docsx",
        "http://plain.example.org/doc",
    ],
}


def _cases() -> list[tuple[Reason, str]]:
    return [(reason, url) for reason, urls in REFUSED.items() for url in urls]


@pytest.mark.parametrize(("reason", "url"), _cases())
def test_hostile_or_unlisted_urls_are_refused_for_the_named_reason(
    reason: Reason, url: str
) -> None:
    verdict = WL.check(url)
    assert not WL.allows(url)
    assert not verdict.allowed
    assert verdict.reason == reason, verdict


def test_every_refusal_class_has_several_cases() -> None:
    assert all(len(urls) >= 3 for urls in REFUSED.values())
    assert set(REFUSED) | {Reason.ALLOWED, Reason.NOT_TEXT} == set(Reason)


@pytest.mark.parametrize("value", [None, b"https://en.wikipedia.org/", 42, ["https://x.org/"]])
def test_anything_but_a_string_is_refused(value: object) -> None:
    assert WL.check(value).reason == Reason.NOT_TEXT
    assert not WL.allows(value)  # type: ignore[arg-type]


def test_an_empty_whitelist_allows_nothing() -> None:
    assert not Whitelist([]).allows("https://en.wikipedia.org/")


def test_a_url_of_exactly_the_maximum_length_is_still_checked_normally() -> None:
    base = "https://en.wikipedia.org/wiki/"
    url = base + "a" * (MAX_URL_LENGTH - len(base))
    assert len(url) == MAX_URL_LENGTH
    assert WL.allows(url)


def test_the_verdict_names_the_rule_that_allowed_the_url() -> None:
    verdict = WL.check("https://www.khanacademy.org/math/algebra")
    assert verdict.rule is not None
    assert verdict.rule.canonical == "https://www.khanacademy.org/math/"
    assert verdict.url is not None
    assert verdict.url.geturl() == "https://www.khanacademy.org/math/algebra"


def test_the_canonical_spelling_drops_the_default_port_and_lowers_the_host() -> None:
    verdict = WL.check("HTTPS://EN.Wikipedia.org:443/wiki/X?q=1#top")
    assert verdict.url is not None
    assert verdict.url.geturl() == "https://en.wikipedia.org/wiki/X?q=1#top"
    assert verdict.url.request_target == "/wiki/X?q=1"


def test_a_rule_with_a_prefix_that_is_not_canonical_cannot_be_made() -> None:
    for bad in [
        "https://en.wikipedia.org./",
        "https://127.0.0.1/",
        "https://user@en.wikipedia.org/",
        "https://en.wikipedia.org/../",
        "https://en.wikipedia.org/?q=1",
        "https://en.wikipedia.org/#x",
        "ftp://en.wikipedia.org/",
        "https://en.wikipedia.org:8443/",
    ]:
        with pytest.raises(URLRefused):
            Rule(bad)


def test_only_an_on_site_mirror_rule_may_name_its_own_port() -> None:
    wl = Whitelist([Rule("http://mirror.kiosk.internal:8080/wiki/", mirror=True)])
    assert wl.allows("http://mirror.kiosk.internal:8080/wiki/A")
    assert not wl.allows("http://mirror.kiosk.internal/wiki/A")
    assert not wl.allows("http://mirror.kiosk.internal:8081/wiki/A")


def test_a_prefix_without_a_trailing_slash_still_ends_at_a_segment_boundary() -> None:
    wl = Whitelist(["https://www.khanacademy.org/math"])
    assert wl.allows("https://www.khanacademy.org/math")
    assert wl.allows("https://www.khanacademy.org/math/")
    assert wl.allows("https://www.khanacademy.org/math/geometry")
    assert not wl.allows("https://www.khanacademy.org/mathematics")
    assert not wl.allows("https://www.khanacademy.org/math.evil")


def test_an_encoded_prefix_in_a_rule_compares_by_its_decoded_form() -> None:
    wl = Whitelist(["https://sv.wikipedia.org/wiki/Kategori:Fysik%C3%A4mnen/"])
    assert wl.allows("https://sv.wikipedia.org/wiki/Kategori:Fysik%c3%a4mnen/X")
    assert not wl.allows("https://sv.wikipedia.org/wiki/Kategori:Fysik/")


def test_allows_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "getaddrinfo", boom)
    monkeypatch.setattr(socket, "gethostbyname", boom)
    monkeypatch.setattr(socket, "create_connection", boom)
    for _, url in _cases():
        WL.allows(url)
    for url in ALLOWED:
        assert WL.allows(url)
