"""Tiles on the inmate home page: each area of the product adds its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.security.policy import Perm


@dataclass(frozen=True)
class Tile:
    """One area of the product, as a big button on the home page."""

    endpoint: str
    title: Any
    description: Any
    icon: str
    order: int
    perm: Perm = Perm.PORTAL_USE


TILES: list[Tile] = []


def register_tile(tile: Tile) -> None:
    """Show this tile on the home page (once)."""
    if all(t.endpoint != tile.endpoint for t in TILES):
        TILES.append(tile)
        TILES.sort(key=lambda t: t.order)
