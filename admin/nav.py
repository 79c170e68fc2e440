"""The staff app's main menu and overview cards: each area adds its own entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiosk.security.policy import Perm


@dataclass(frozen=True)
class NavItem:
    """One entry of the main menu, shown to staff holding ``perm``."""

    endpoint: str
    label: Any
    perm: Perm | None
    order: int


@dataclass(frozen=True)
class Card:
    """One figure on the overview page: ``count(staff)`` gives the number, or None to hide it."""

    key: str
    label: Any
    endpoint: str
    count: Callable[[Any], int | None]
    order: int


NAV: list[NavItem] = []
CARDS: list[Card] = []


def add_nav(item: NavItem) -> None:
    """Put an entry in the main menu (once)."""
    if all(n.endpoint != item.endpoint for n in NAV):
        NAV.append(item)
        NAV.sort(key=lambda n: n.order)


def add_card(card: Card) -> None:
    """Put a figure on the overview page (once)."""
    if all(c.key != card.key for c in CARDS):
        CARDS.append(card)
        CARDS.sort(key=lambda c: c.order)
