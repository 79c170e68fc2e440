"""The whitelist as configuration for a network proxy (defence in depth).

The server's own checks are the real gate; a proxy in front of the server's outgoing
traffic, configured from the same rules, stops anything that slips past them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from kiosk.whitelist.urls import DEFAULT_PORTS, Rule

FORMATS: Final = ("nginx", "squid")
# Characters a canonical prefix may hold that need no quoting in either format.
_PLAIN: Final = re.compile(r"[A-Za-z0-9._~:/%!$&'()*+,;=@-]+", re.ASCII)
_META: Final = re.compile(r"([.\[\]{}()\\*+?^$|])")


def _escape(text: str) -> str:
    """Escape regex metacharacters the same way for PCRE (nginx) and POSIX ERE (squid)."""
    return _META.sub(r"\\\1", text)


def prefix_regex(rule: Rule) -> str:
    """An anchored regex matching exactly the URLs under ``rule`` (segment boundary kept)."""
    url = rule.url
    port = url.port
    default = DEFAULT_PORTS[url.scheme]
    port_part = f"(:{port})?" if port == default else f":{port}"
    path = url.path
    head = f"^{url.scheme}://{_escape(url.host)}{port_part}"
    if path.endswith("/"):
        return head + _escape(path)
    return head + _escape(path) + "([/?#]|$)"


def render(rules: Iterable[Rule], fmt: str, *, generated: str) -> str:
    """Configuration text for ``fmt`` ("nginx" or "squid")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    usable: list[Rule] = []
    skipped: list[str] = []
    for rule in rules:
        if _PLAIN.fullmatch(rule.canonical):
            usable.append(rule)
        else:
            skipped.append(rule.canonical.encode("ascii", "replace").decode("ascii"))
    lines = [f"# Kiosk whitelist for {fmt}, generated {generated}: {len(usable)} rules in force."]
    lines += [f"# skipped (cannot be written safely): {s!r}" for s in skipped]
    if fmt == "nginx":
        lines += [
            "# Include in the http {} block of the egress proxy, then in its server:",
            "#   if ($kiosk_whitelist_allowed = 0) { return 403; }",
            "map $scheme://$host$request_uri $kiosk_whitelist_allowed {",
            "    default 0;",
        ]
        lines += [f'    "~{prefix_regex(rule)}" 1;' for rule in usable]
        lines.append("}")
    else:
        hosts = sorted({rule.url.host for rule in usable})
        lines += [
            "# Hosts (for CONNECT without TLS interception) and URL prefixes (for plain HTTP",
            "# or with ssl_bump), then allow only those.",
        ]
        lines += [f"acl kiosk_whitelist_hosts dstdomain {host}" for host in hosts]
        lines += [f"acl kiosk_whitelist_urls url_regex {prefix_regex(rule)}" for rule in usable]
        if usable:
            lines += [
                "http_access allow CONNECT kiosk_whitelist_hosts",
                "http_access allow kiosk_whitelist_urls",
            ]
        lines.append("http_access deny all")
    return "\n".join(lines) + "\n"
