"""Translations, dates and money in templates, at a price a list page can pay.

Flask-Babel looks up the request's locale and catalogue afresh for every
``_()`` in a template, and Babel parses and applies a CLDR pattern for every
date and amount: on a page of 50 ledger rows or 25 products that was most of
the time the page took (``python -m bench.profile``). The functions here give
the same text as Flask-Babel and Babel (``tests/test_formatting.py`` compares
them) but look the catalogue up once per request and keep the formatted parts
that repeat: a day, a minute of the day, an amount, per language.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from functools import lru_cache
from typing import Any

import flask_babel
from babel import dates
from flask import Flask, g

from kiosk.i18n import translations
from kiosk.services.ledger import format_money

# Formats whose time part shows no time zone: the text depends only on the wall time.
_NAMED_WITHOUT_ZONE: frozenset[Any] = frozenset({"short", "medium"})
_NAMED = frozenset({"short", "medium", "long", "full"})


def _gettext(message: str) -> str:
    return str(translations().ugettext(message))


def _ngettext(singular: str, plural: str, n: int) -> str:
    return str(translations().ungettext(singular, plural, n))


def _pgettext(context: str, message: str) -> str:
    return str(translations().upgettext(context, message))


def _npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return str(translations().unpgettext(context, singular, plural, n))


@lru_cache(maxsize=4096)
def _date_part(day: dt.date, fmt: str, locale: Any) -> str:
    return str(dates.format_date(day, fmt, locale=locale))


@lru_cache(maxsize=8192)
def _time_part(wall: dt.time, fmt: str, locale: Any) -> str:
    return str(dates.format_time(wall, fmt, tzinfo=None, locale=locale))


@lru_cache(maxsize=64)
def _joiner(fmt: Any, locale: Any) -> str:
    return str(dates.get_datetime_format(fmt, locale=locale)).replace("'", "")


def _reader() -> tuple[Any, Any, Any]:
    """The request's locale, time zone and the app's date formats, looked up once."""
    try:
        ctx = g._flask_babel  # Flask-Babel's per-request namespace
        cached = ctx.kiosk_reader
        if cached[0] is ctx.babel_locale and cached[1] is ctx.babel_tzinfo:
            return cached  # type: ignore[no-any-return]
    except (AttributeError, RuntimeError):  # nothing kept yet, or outside a request
        pass
    reader = (
        flask_babel.get_locale(),
        flask_babel.get_timezone(),
        flask_babel.get_babel().instance.date_formats,
    )
    with contextlib.suppress(AttributeError, RuntimeError):
        g._flask_babel.kiosk_reader = reader
    return reader


def _named_format(formats: Any, key: str, fmt: str | None) -> str | None:
    # As Flask-Babel's _get_format: the app's default for the kind, then its named override.
    if fmt is None:
        fmt = formats[key]
    if fmt in _NAMED:
        override = formats[f"{key}.{fmt}"]
        if override is not None:
            fmt = override
    return fmt


def _local(value: dt.datetime, tz: Any) -> dt.datetime:
    # As Flask-Babel's to_user_timezone: naive means UTC; pytz needs its normalize().
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return tz.normalize(value.astimezone(tz))  # type: ignore[no-any-return]


def datetimeformat(value: dt.datetime | None, fmt: str | None = None) -> str:
    """A date and time in the reader's language and time zone (Flask-Babel's filter)."""
    locale, tz, formats = _reader()
    resolved = _named_format(formats, "datetime", fmt)
    if value is None or resolved not in _NAMED_WITHOUT_ZONE:
        return str(flask_babel.format_datetime(value, fmt))
    local = _local(value, tz)
    wall = dt.time(local.hour, local.minute, local.second)
    # Babel's own composition of a named format: the locale's joining pattern with the
    # time as {0} and the date as {1}.
    return (
        _joiner(resolved, locale)
        .replace("{0}", _time_part(wall, resolved, locale))
        .replace("{1}", _date_part(local.date(), resolved, locale))
    )


def dateformat(value: dt.date | dt.datetime | None, fmt: str | None = None) -> str:
    """A date in the reader's language (a date and time on the reader's calendar day)."""
    locale, tz, formats = _reader()
    resolved = _named_format(formats, "date", fmt)
    if value is None or resolved is None:
        return str(flask_babel.format_date(value, fmt))
    if isinstance(value, dt.datetime):
        value = _local(value, tz).date()
    return _date_part(value, resolved, locale)


def install(app: Flask) -> None:
    """Use these in the app's templates (after Flask-Babel has set up Jinja)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        newstyle=True,
        pgettext=_pgettext,
        npgettext=_npgettext,
    )
    app.jinja_env.filters.update(
        datetimeformat=datetimeformat, dateformat=dateformat, money=format_money
    )
