"""The inmate home page: a tile for each area of the product."""

from __future__ import annotations

from flask import Blueprint, render_template

from kiosk.i18n import _l
from kiosk.routes.tiles import TILES, Tile, register_tile
from kiosk.security.policy import can
from kiosk.web import access
from kiosk.web.context import user

bp = Blueprint("home", __name__)

register_tile(
    Tile(
        endpoint="account.index",
        title=_l("My account"),
        description=_l("Change your PIN and language."),
        icon="person",
        order=900,
    )
)


@bp.get("/")
@access.inmate()
def index() -> str:
    """Tiles for the areas this inmate may use."""
    inmate = user()
    tiles = [t for t in TILES if can(inmate, t.perm)]
    return render_template("home/index.html", tiles=tiles, inmate=inmate)
