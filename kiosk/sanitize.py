"""``clean_html()``: the only place that calls bleach.

Rich text (lessons, news) is cleaned when it is saved and rendered from the
cleaned form only. What survives is named below, in allowlists; everything
else is removed. Links and images may point only to ``https://`` addresses and
to the platform's own media (``/media/...``).
"""

from __future__ import annotations

import html as html_module
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any, Final

import bleach

# html5lib's filter base, re-exported by bleach (the stubs do not list it).
from bleach.html5lib_shim import Filter  # type: ignore[attr-defined]

# fmt: off
ALLOWED_TAGS: Final = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
    "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
})
# fmt: on
ALLOWED_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "ol": frozenset({"start"}),
}
# The URL prefix under which the platform serves its own media.
MEDIA_PREFIX: Final = "/media/"
_URL_ATTRIBUTES: Final = frozenset({"href", "src"})
_NUMBER_ATTRIBUTES: Final = frozenset({"width", "height", "colspan", "rowspan", "start"})
_SCOPES: Final = frozenset({"row", "col", "rowgroup", "colgroup"})
_MEDIA_PATH: Final = re.compile(r"/media/[A-Za-z0-9._~/-]+", re.ASCII)
_HTTPS_URL: Final = re.compile(
    r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\s<>\"'`\\]*)?", re.ASCII
)
# Elements whose *contents* are never text a reader should see (pasted Word documents
# bring <style> blocks); bleach then removes whatever is left of them in any case.
_CONTENT_DROPPED: Final = re.compile(
    r"<(script|style|template|noscript|textarea|title|xmp|iframe|noembed|noframes|object|"
    r"svg|math)\b[^>]*>.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
# Characters browsers drop inside a URL scheme ("java\tscript:"), and invisible ones.
_INVISIBLE: Final = re.compile(
    r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


def safe_url(value: str) -> bool:
    """True for an ``https://`` address or a path under the platform's media."""
    if value != value.strip() or _INVISIBLE.search(value) or "\\" in value:
        return False
    if len(value) > 2048 or not value.isascii():
        return False
    if value.startswith(MEDIA_PREFIX):
        return bool(_MEDIA_PATH.fullmatch(value)) and ".." not in value and "//" not in value
    return bool(_HTTPS_URL.fullmatch(value))


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    if name not in ALLOWED_ATTRIBUTES.get(tag, frozenset()):
        return False
    if name in _URL_ATTRIBUTES:
        return safe_url(value)
    if name in _NUMBER_ATTRIBUTES:
        return value.isascii() and value.isdigit() and len(value) <= 4
    if name == "scope":
        return value in _SCOPES
    return True


_CLEANER: Final = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_allow_attribute,
    protocols={"https"},
    strip=True,
    strip_comments=True,
)


def clean_html(html: str) -> str:
    """Sanitized HTML: allowlisted tags and attributes only, safe URLs only; stable when
    cleaned again."""
    if not html:
        return ""
    text = unicodedata.normalize("NFC", html).replace("\x00", "")
    text = _CONTENT_DROPPED.sub("", text)
    cleaned: str = _CLEANER.clean(text)
    # One more pass makes the result a fixed point (bleach can leave text that a second
    # parse would read differently, such as "&lt;" turning into "<" next to letters).
    again: str = _CLEANER.clean(cleaned)
    return again


def to_text(html: str) -> str:
    """The plain text of (cleaned) HTML, for search and summaries."""
    stripped: str = bleach.clean(html, tags=set(), strip=True)
    return re.sub(r"\s+", " ", stripped).strip()


# The reader ----------------------------------------------------------------------------
# Pages fetched from whitelisted sites (and offline libraries) are cleaned harder than our
# own rich text: text structure only, and every link and picture is rewritten by the
# caller, so nothing on the page can reach past the server.

# fmt: off
READER_TAGS: Final = ALLOWED_TAGS | frozenset({
    "article", "aside", "cite", "del", "details", "footer", "header", "ins", "kbd", "main",
    "mark", "nav", "q", "s", "samp", "section", "small", "summary", "time", "var",
})
# fmt: on
READER_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "ol": frozenset({"start"}),
}
_READER_URL_LIMIT: Final = 4096
# The class the reader's CSS uses to mark a link that leads off the whitelist.
UNAVAILABLE_CLASS: Final = "reader-unavailable"


def _allow_reader_attribute(tag: str, name: str, value: str) -> bool:
    if name not in READER_ATTRIBUTES.get(tag, frozenset()):
        return False
    if name in _URL_ATTRIBUTES:
        # Judged by the rewriting filter below, against the whitelist; only length here.
        return len(value) <= _READER_URL_LIMIT
    if name in _NUMBER_ATTRIBUTES:
        return value.isascii() and value.isdigit() and len(value) <= 4
    if name == "scope":
        return value in _SCOPES
    return True


def _rewriting_filter(
    rewrite_link: Callable[[str], str | None],
    rewrite_image: Callable[[str], str | None],
    unavailable: str,
) -> type[Filter]:
    class Rewrite(Filter):  # type: ignore[misc]
        """Links through the reader or marked unavailable; pictures proxied or dropped."""

        def __iter__(self) -> Iterator[dict[str, Any]]:
            # One entry per open <a>: "link" (kept), "plain" (no address) or "unavailable".
            open_links: list[str] = []
            for token in Filter.__iter__(self):
                kind = token.get("type")
                name = token.get("name")
                if name == "a" and kind == "StartTag":
                    attrs = dict(token.get("data") or {})
                    href = attrs.pop((None, "href"), None)
                    target = rewrite_link(href) if href else None
                    if target is not None:
                        attrs[(None, "href")] = target
                        open_links.append("link")
                        yield {**token, "data": attrs}
                        continue
                    state = "unavailable" if href else "plain"
                    open_links.append(state)
                    span = {(None, "class"): UNAVAILABLE_CLASS} if href else {}
                    yield {**token, "name": "span", "data": span}
                    continue
                if name == "a" and kind == "EndTag":
                    state = open_links.pop() if open_links else "plain"
                    if state == "link":
                        yield token
                        continue
                    if state == "unavailable":
                        yield {
                            "type": "StartTag",
                            "name": "small",
                            "namespace": token.get("namespace"),
                            "data": {},
                        }
                        yield {"type": "Characters", "data": f" ({unavailable})"}
                        yield {
                            "type": "EndTag",
                            "name": "small",
                            "namespace": token.get("namespace"),
                        }
                    yield {**token, "name": "span"}
                    continue
                if name == "img" and kind in ("EmptyTag", "StartTag"):
                    attrs = dict(token.get("data") or {})
                    src = attrs.pop((None, "src"), None)
                    proxied = rewrite_image(src) if src else None
                    if proxied is None:
                        alt = attrs.get((None, "alt"))
                        if alt:
                            yield {"type": "Characters", "data": f"[{alt}]"}
                        continue
                    attrs[(None, "src")] = proxied
                    # A picture without a text alternative is treated as decoration (WCAG 1.1.1).
                    attrs.setdefault((None, "alt"), "")
                    yield {**token, "data": attrs}
                    continue
                yield token

    return Rewrite


def clean_reader_html(
    html: str,
    *,
    rewrite_link: Callable[[str], str | None],
    rewrite_image: Callable[[str], str | None],
    unavailable: str,
) -> str:
    """A fetched page as inert HTML: allowlisted structure only, every link given to
    ``rewrite_link`` (None: plain text marked ``unavailable``) and every picture to
    ``rewrite_image`` (None: dropped, its alt text kept)."""
    if not html:
        return ""
    text = unicodedata.normalize("NFC", html).replace("\x00", "")
    text = _CONTENT_DROPPED.sub("", text)
    cleaner = bleach.Cleaner(
        tags=READER_TAGS,
        attributes=_allow_reader_attribute,
        protocols={"http", "https"},
        strip=True,
        strip_comments=True,
        # The stubs type filters as html5lib's own class; ours is the same, vendored by bleach.
        filters=[_rewriting_filter(rewrite_link, rewrite_image, unavailable)],  # type: ignore[list-item]
    )
    cleaned: str = cleaner.clean(text)
    return cleaned


_TITLE: Final = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def page_title(html: str) -> str:
    """The text of a page's <title> (plain text, at most 200 characters)."""
    match = _TITLE.search(html[:200_000])
    if not match:
        return ""
    # to_text() gives HTML-escaped text; the title is rendered by Jinja, which escapes it.
    return html_module.unescape(to_text(match.group(1)))[:200]
