"""Whitelisted learning resources: URL rules, the fetching reader, offline libraries.

``from kiosk.whitelist import Whitelist``: ``Whitelist(rules).allows(url)`` works on its
own, with no database, no app and no network.
"""

from kiosk.whitelist.urls import (
    MAX_URL_LENGTH,
    CanonicalURL,
    Reason,
    Rule,
    URLRefused,
    Verdict,
    Whitelist,
    canonicalize,
)

__all__ = [
    "MAX_URL_LENGTH",
    "CanonicalURL",
    "Reason",
    "Rule",
    "URLRefused",
    "Verdict",
    "Whitelist",
    "canonicalize",
]
