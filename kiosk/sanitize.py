"""``clean_html()``: the only place that calls bleach.

Rich text (lessons, news) is cleaned when it is saved and rendered from the
cleaned form only. What survives is named below, in allowlists; everything
else is removed. Links and images may point only to ``https://`` addresses and
to the platform's own media (``/media/...``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import bleach

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
