"""Inline icons: decorative, escaped, and every name the apps use is drawn."""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.web.icons import NAMES, icon

ROOT = Path(__file__).resolve().parent.parent


def test_an_icon_is_hidden_from_screen_readers_and_sized() -> None:
    svg = str(icon("home", 28))
    assert svg.startswith('<svg class="icon icon--home" width="28" height="28"')
    assert 'aria-hidden="true"' in svg
    assert 'focusable="false"' in svg
    assert '<path d="M3 11 12 3l9 8"/>' in svg
    assert svg.endswith("</svg>")


def test_an_unknown_name_is_a_circle_and_cannot_inject_markup() -> None:
    svg = str(icon('x"><script>alert(1)</script>'))
    assert "<script>" not in svg
    assert "&#34;&gt;&lt;script&gt;" in svg
    assert '<circle cx="12" cy="12" r="9"/></svg>' in svg


def test_every_icon_the_apps_name_is_drawn() -> None:
    used: set[str] = set()
    for folder in ("kiosk", "admin"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix == ".html":
                used |= set(re.findall(r"icon\('(\w+)'", path.read_text()))
            elif path.suffix == ".py":
                used |= set(re.findall(r'\bicon="(\w+)"', path.read_text()))
    assert len(used) >= 8, used
    assert used <= NAMES, used - NAMES
