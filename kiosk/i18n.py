"""Languages of the product. Every word a user reads goes through Flask-Babel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_babel
from flask import g
from flask_babel import LazyString, ngettext

TRANSLATIONS_DIR = Path(__file__).parent / "translations"

# Each language names itself, so a reader finds their own language in the switch.
LANGUAGE_NAMES = {"sv": "Svenska", "en": "English", "ar": "العربية", "fi": "Suomi"}
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur"})

_CACHE = "kiosk_translations"


def translations() -> Any:
    """The request's catalogue, looked up once per request and locale.

    Flask-Babel looks the locale and catalogue up again for every text; a list page
    translates hundreds. This keeps the catalogue on Flask-Babel's own per-request
    namespace, next to the locale it belongs to.
    """
    try:
        ctx = g._flask_babel  # Flask-Babel's per-request namespace
    except (AttributeError, RuntimeError):  # not yet made, or no app context at all
        return flask_babel.get_translations()
    locale = getattr(ctx, "babel_locale", None)
    cached = getattr(ctx, _CACHE, None)
    if locale is not None and cached is not None and cached[0] is locale:
        return cached[1]
    found = flask_babel.get_translations()
    # Flask-Babel selected the locale now if nobody had yet; refresh() and force_locale()
    # replace that object, which makes the next call look the catalogue up again.
    locale = getattr(ctx, "babel_locale", None)
    if locale is not None:
        setattr(ctx, _CACHE, (locale, found))
    return found


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the request's language (Flask-Babel's gettext, with the catalogue kept)."""
    text = str(translations().ugettext(string))
    return text if not variables else text % variables


def lazy_gettext(string: str, **variables: Any) -> Any:
    """Translated when used, in the language of the request that uses it."""
    return LazyString(gettext, string, **variables)


_ = gettext
_l = lazy_gettext
__all__ = [
    "LANGUAGE_NAMES",
    "RIGHT_TO_LEFT",
    "TRANSLATIONS_DIR",
    "_",
    "_l",
    "gettext",
    "lazy_gettext",
    "ngettext",
    "translations",
]


def direction(lang: str) -> str:
    """``rtl`` for right-to-left languages, else ``ltr``."""
    return "rtl" if lang in RIGHT_TO_LEFT else "ltr"
