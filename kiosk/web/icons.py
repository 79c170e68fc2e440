"""Inline SVG icons of both apps, as a template global: ``{{ icon('home', 28) }}``.

Inline, so that the portal loads nothing more for them and they take the text's colour.
Made once per (name, size) in Python: as a Jinja macro with a chain of name tests, the
dozen icons of a page cost more than its rows did. Decorative (``aria-hidden``): the text
beside an icon says what it means.
"""

from __future__ import annotations

import functools

from markupsafe import Markup

_SHAPES = {
    "person": '<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-8 8-8s8 3.6 8 8"/>',
    "book": (
        '<path d="M4 4h7a3 3 0 0 1 3 3v13a2 2 0 0 0-2-2H4z"/><path d="M20 4h-5a3 3 0 0 0-3 3"/>'
        '<path d="M20 4v14h-6"/>'
    ),
    "cart": (
        '<circle cx="9" cy="20" r="1.5"/><circle cx="18" cy="20" r="1.5"/>'
        '<path d="M2 3h3l2.7 12.4a2 2 0 0 0 2 1.6h8.6a2 2 0 0 0 2-1.6L22 7H6"/>'
    ),
    "form": '<rect x="4" y="3" width="16" height="18" rx="2"/><path d="M8 8h8M8 12h8M8 16h5"/>',
    "mail": '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="m3 7 9 6 9-6"/>',
    "news": '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 8h10M7 12h10M7 16h6"/>',
    "globe": (
        '<circle cx="12" cy="12" r="9"/>'
        '<path d="M3 12h18M12 3a14 14 0 0 1 0 18M12 3a14 14 0 0 0 0 18"/>'
    ),
    "scale": '<path d="M12 3v18M5 21h14M4 8l-2 6a3 3 0 0 0 4 0zM20 8l-2 6a3 3 0 0 0 4 0zM4 8h16"/>',
    "money": '<rect x="2" y="6" width="20" height="12" rx="2"/><circle cx="12" cy="12" r="3"/>',
    "lock": '<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "terminal": '<rect x="3" y="4" width="18" height="13" rx="2"/><path d="M8 21h8M12 17v4"/>',
    "shield": '<path d="M12 3 4 6v6c0 5 3.5 8 8 9 4.5-1 8-4 8-9V6z"/>',
    "list": '<path d="M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01"/>',
    "home": '<path d="M3 11 12 3l9 8"/><path d="M5 10v10h14V10"/>',
}
_UNKNOWN = '<circle cx="12" cy="12" r="9"/>'
NAMES = frozenset(_SHAPES)


@functools.lru_cache(maxsize=256)
def icon(name: str, size: int = 32) -> Markup:
    """The icon ``name`` (a plain circle for a name not drawn) at ``size`` pixels."""
    shape = _SHAPES.get(name, _UNKNOWN)
    return Markup(
        '<svg class="icon icon--{name}" width="{size}" height="{size}" viewBox="0 0 24 24"'
        ' aria-hidden="true" focusable="false" fill="none" stroke="currentColor"'
        ' stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
        "{shape}</svg>"
    ).format(name=name, size=int(size), shape=Markup(shape))  # noqa: S704 - our own SVG
