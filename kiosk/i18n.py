"""Languages of the product. Every word a user reads goes through Flask-Babel."""

from __future__ import annotations

from pathlib import Path

from flask_babel import gettext, lazy_gettext, ngettext

TRANSLATIONS_DIR = Path(__file__).parent / "translations"

# Each language names itself, so a reader finds their own language in the switch.
LANGUAGE_NAMES = {"sv": "Svenska", "en": "English", "ar": "العربية", "fi": "Suomi"}
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur"})

_ = gettext
_l = lazy_gettext
__all__ = ["LANGUAGE_NAMES", "RIGHT_TO_LEFT", "TRANSLATIONS_DIR", "_", "_l", "ngettext"]


def direction(lang: str) -> str:
    """``rtl`` for right-to-left languages, else ``ltr``."""
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"
