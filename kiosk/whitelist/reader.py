"""The reader: turns fetched bytes into an inert page whose links stay inside the whitelist."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import quote, urljoin

from kiosk.whitelist.urls import Whitelist, canonicalize

_META_CHARSET: Final = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I
)
_URL_SAFE: Final = "/:?#[]@!$&'()*+,;=%~-._"
_FRAGMENT: Final = re.compile(r"#[A-Za-z0-9_.:-]{0,200}", re.ASCII)


def decode(body: bytes, charset: str) -> str:
    """Text of a page: the declared charset, else a <meta charset>, else UTF-8 (never fails)."""
    candidates = [charset]
    match = _META_CHARSET.search(body[:4096])
    if match:
        candidates.append(match.group(1).decode("ascii"))
    for name in candidates:
        if not name:
            continue
        try:
            codec = codecs.lookup(name)
        except LookupError:
            continue
        if codec.name in ("utf-7", "utf_7"):
            # UTF-7 can smuggle markup past a byte-level look; never honour it.
            continue
        return body.decode(codec.name, errors="replace")
    return body.decode("utf-8", errors="replace")


def through_whitelist(
    whitelist: Whitelist, to_reader: Callable[[str], str]
) -> Callable[[str], str | None]:
    """A rewriter that sends whitelisted URLs through the reader and refuses the rest."""

    def rewrite(target: str) -> str | None:
        return to_reader(target) if whitelist.allows(target) else None

    return rewrite


def canonical_or_none(url: str) -> str | None:
    """The canonical spelling of ``url`` (fragment kept), or None when it is not canonical."""
    try:
        return canonicalize(url).geturl()
    except ValueError:
        return None


def render(
    html: str,
    *,
    base_url: str,
    link_for: Callable[[str], str | None],
    image_for: Callable[[str], str | None],
    unavailable: str,
) -> tuple[str, str]:
    """(title, cleaned body) of a page: every link and picture, made absolute and canonical,
    goes to ``link_for`` / ``image_for``, which give the reader's own address or None."""

    def absolute(href: str) -> str | None:
        # Raw UTF-8 in an href is percent-encoded first, as a browser would.
        encoded = quote(href.strip(), safe=_URL_SAFE)
        return canonical_or_none(urljoin(base_url, encoded))

    def rewrite_link(href: str) -> str | None:
        href = href.strip()
        if _FRAGMENT.fullmatch(href):
            return href
        target = absolute(href)
        return None if target is None else link_for(target)

    def rewrite_image(src: str) -> str | None:
        target = absolute(src)
        return None if target is None else image_for(target)

    # The cleaner (bleach with html5lib, 1-2 MB resident) is imported on first use, so
    # that a worker that never shows a fetched page never holds it.
    from kiosk.sanitize import clean_reader_html, page_title

    body = clean_reader_html(
        html, rewrite_link=rewrite_link, rewrite_image=rewrite_image, unavailable=unavailable
    )
    return page_title(html), body
