"""The stylesheet both apps share, served by each app under ``/assets/``."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("assets", __name__, static_folder="static", static_url_path="/assets")
