"""Canonical URLs and whitelist rules: ``Whitelist(rules).allows(url)``.

Allow-lists fail where a browser, a proxy and a Python parser read one URL
differently (``https://good.org\\@evil.net/``, ``http://0x7f.1/``,
``/math/%2e%2e/admin``). So this module does not try to understand odd URLs:
it accepts only a narrow, canonical ASCII form that every parser reads the same
way, and refuses everything else with a named reason. Nothing here touches the
network: a refused URL never reaches a resolver or a socket.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_to_bytes

MAX_URL_LENGTH: Final = 2048
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Decoding rounds before a path that still changes is refused as hostile.
_MAX_DECODE_ROUNDS: Final = 5

_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):", re.ASCII)
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
# A last label that WHATWG's host parser would read as a number makes the host an IPv4
# address in some notation (2130706433, 0x7f.1, 0177.0.0.1, 127.1).
_NUMERIC_LABEL: Final = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.ASCII | re.IGNORECASE)
_PORT: Final = re.compile(r"[1-9][0-9]{0,4}", re.ASCII)
_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SEPARATOR: Final = re.compile(r"%(?:2f|5c)", re.IGNORECASE)
# Printable ASCII without space; backslash is refused separately with its own reason.
_PRINTABLE: Final = re.compile(r"[\x21-\x7e]*", re.ASCII)
# Control characters once decoded; a decoded space (%20) is an ordinary file-name character.
_CONTROL: Final = re.compile(rb"[\x00-\x1f\x7f]")


class Reason(enum.StrEnum):
    """Why a URL is refused (or ``ALLOWED``); staff see these on the try-a-URL page."""

    ALLOWED = "allowed"
    NOT_TEXT = "not_text"
    TOO_LONG = "too_long"
    NON_ASCII = "non_ascii"
    WHITESPACE_OR_CONTROL = "whitespace_or_control"
    BACKSLASH = "backslash"
    SCHEME = "scheme"
    NOT_ABSOLUTE = "not_absolute"
    USERINFO = "userinfo"
    BAD_HOST = "bad_host"
    ENCODED_HOST = "encoded_host"
    IP_LITERAL = "ip_literal"
    TRAILING_DOT = "trailing_dot"
    PORT = "port"
    BAD_ENCODING = "bad_encoding"
    ENCODED_SLASH = "encoded_slash"
    DOT_SEGMENT = "dot_segment"
    EMPTY_SEGMENT = "empty_segment"
    NO_RULE = "no_rule"


class URLRefused(ValueError):
    """A URL that is not canonical enough to be compared with the whitelist."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


@dataclass(frozen=True)
class CanonicalURL:
    """A URL that passed every check, split into the parts rules compare."""

    scheme: str
    host: str
    port: int
    # The path as written (percent-encoding kept) and fully decoded, for comparisons.
    path: str
    decoded_path: str
    query: str
    fragment: str

    @property
    def default_port(self) -> bool:
        """True when the port is the scheme's own."""
        return self.port == DEFAULT_PORTS[self.scheme]

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` with the port only when it is not the default."""
        port = "" if self.default_port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"

    @property
    def request_target(self) -> str:
        """Path and query as sent in the request line (the fragment never leaves)."""
        return self.path + (f"?{self.query}" if self.query else "")

    def geturl(self, *, fragment: bool = True) -> str:
        """The canonical spelling: lower-case scheme and host, no default port."""
        url = self.origin + self.request_target
        if fragment and self.fragment:
            url += f"#{self.fragment}"
        return url


def _check_text(url: object) -> str:
    if not isinstance(url, str):
        raise URLRefused(Reason.NOT_TEXT)
    if len(url) > MAX_URL_LENGTH:
        raise URLRefused(Reason.TOO_LONG)
    if not url.isascii():
        raise URLRefused(Reason.NON_ASCII)
    if not _PRINTABLE.fullmatch(url):
        raise URLRefused(Reason.WHITESPACE_OR_CONTROL)
    if "\\" in url:
        raise URLRefused(Reason.BACKSLASH)
    return url


def _check_host(host: str) -> str:
    if not host:
        raise URLRefused(Reason.BAD_HOST, "empty")
    if "%" in host:
        raise URLRefused(Reason.ENCODED_HOST)
    if host.startswith("["):
        raise URLRefused(Reason.IP_LITERAL, "IPv6")
    host = host.lower()
    if host.endswith("."):
        raise URLRefused(Reason.TRAILING_DOT)
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise URLRefused(Reason.IP_LITERAL, host)
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise URLRefused(Reason.BAD_HOST, host)
    return host


def _check_path(path: str) -> str:
    """The fully decoded path, or a refusal for anything that could climb out of a prefix."""
    if not path:
        return "/"
    if _PERCENT.search(path):
        raise URLRefused(Reason.BAD_ENCODING)
    current = path
    for _ in range(_MAX_DECODE_ROUNDS):
        if _ENCODED_SEPARATOR.search(current):
            raise URLRefused(Reason.ENCODED_SLASH)
        raw = unquote_to_bytes(current)
        if _CONTROL.search(raw) or b"\\" in raw:
            raise URLRefused(Reason.WHITESPACE_OR_CONTROL, "decoded")
        decoded = raw.decode("utf-8", errors="surrogateescape")
        _check_segments(decoded)
        if decoded == current:
            return decoded
        current = decoded
    raise URLRefused(Reason.BAD_ENCODING, "encoded too many times")


def _check_segments(path: str) -> None:
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        # Servlet containers drop ";params" before resolving dot segments ("..;/").
        bare = segment.split(";", 1)[0]
        if bare in (".", ".."):
            raise URLRefused(Reason.DOT_SEGMENT)
        if segment == "" and index < len(segments) - 1:
            raise URLRefused(Reason.EMPTY_SEGMENT)


def canonicalize(url: object) -> CanonicalURL:
    """The checked parts of ``url``, or ``URLRefused`` naming the first problem found."""
    text = _check_text(url)
    match = _SCHEME.match(text)
    if match is None:
        raise URLRefused(Reason.NOT_ABSOLUTE)
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise URLRefused(Reason.SCHEME, scheme)
    rest = text[match.end() :]
    if not rest.startswith("//"):
        raise URLRefused(Reason.NOT_ABSOLUTE)
    rest = rest[2:]
    end = len(rest)
    for stop in "/?#":
        position = rest.find(stop)
        if position != -1:
            end = min(end, position)
    authority, remainder = rest[:end], rest[end:]
    if "@" in authority:
        raise URLRefused(Reason.USERINFO)
    host, colon, port_text = authority.partition(":")
    if host.startswith("["):
        raise URLRefused(Reason.IP_LITERAL, "IPv6")
    host = _check_host(host)
    port = DEFAULT_PORTS[scheme]
    if colon:
        if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
            raise URLRefused(Reason.PORT, port_text)
        port = int(port_text)
    before_fragment, _, fragment = remainder.partition("#")
    path, _, query = before_fragment.partition("?")
    if path and not path.startswith("/"):
        raise URLRefused(Reason.NOT_ABSOLUTE)
    if _PERCENT.search(query) or _PERCENT.search(fragment):
        raise URLRefused(Reason.BAD_ENCODING)
    decoded = _check_path(path)
    return CanonicalURL(
        scheme=scheme,
        host=host,
        port=port,
        path=path or "/",
        decoded_path=decoded,
        query=query,
        fragment=fragment,
    )


@dataclass(frozen=True)
class Rule:
    """One allowed URL prefix: a scheme, a host, an optional port, and a path prefix.

    ``mirror`` marks an on-site mirror: only such a rule may resolve to a private
    address, and only such a rule may name a port other than the scheme's default.
    """

    prefix: str
    mirror: bool = False
    id: int | None = None
    url: CanonicalURL = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        url = canonicalize(self.prefix)
        if url.query or url.fragment or "?" in self.prefix or "#" in self.prefix:
            raise URLRefused(Reason.NOT_ABSOLUTE, "a rule has no query or fragment")
        if not url.default_port and not self.mirror:
            raise URLRefused(Reason.PORT, "only an on-site mirror rule may name a port")
        object.__setattr__(self, "url", url)

    @property
    def canonical(self) -> str:
        """The rule as stored: canonical spelling of its prefix."""
        return self.url.geturl(fragment=False)

    def matches(self, url: CanonicalURL) -> bool:
        """True when ``url`` lies under this prefix (same scheme, host, port; segment boundary)."""
        mine = self.url
        if (url.scheme, url.host, url.port) != (mine.scheme, mine.host, mine.port):
            return False
        prefix = mine.decoded_path
        path = url.decoded_path
        if path == prefix or path + "/" == prefix:
            return True
        if not prefix.endswith("/"):
            prefix += "/"
        return path.startswith(prefix)


@dataclass(frozen=True)
class Verdict:
    """The answer for one URL: allowed or not, why, and the rule that allowed it."""

    allowed: bool
    reason: Reason
    url: CanonicalURL | None = None
    rule: Rule | None = None
    detail: str = ""


class Whitelist:
    """A set of rules. ``allows(url)`` is True only for a canonical URL under some rule."""

    def __init__(self, rules: Iterable[Rule | str]) -> None:
        self.rules: tuple[Rule, ...] = tuple(
            rule if isinstance(rule, Rule) else Rule(rule) for rule in rules
        )

    def check(self, url: object) -> Verdict:
        """The verdict with its reason (for staff and for the visit log)."""
        try:
            canonical = canonicalize(url)
        except URLRefused as refused:
            return Verdict(False, refused.reason, detail=str(refused))
        for rule in self.rules:
            if rule.matches(canonical):
                return Verdict(True, Reason.ALLOWED, canonical, rule)
        place = (canonical.scheme, canonical.host, canonical.port)
        if not canonical.default_port and all(
            (r.url.scheme, r.url.host, r.url.port) != place for r in self.rules
        ):
            return Verdict(False, Reason.PORT, canonical)
        return Verdict(False, Reason.NO_RULE, canonical)

    def allows(self, url: str) -> bool:
        """True when ``url`` is canonical and lies under one of the rules."""
        return self.check(url).allowed

    def __len__(self) -> int:
        return len(self.rules)
