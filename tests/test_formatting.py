"""The templates' fast translations, dates and money say exactly what Flask-Babel says."""

from __future__ import annotations

import datetime as dt
import random

import flask_babel
import pytest
from flask import Flask, render_template_string

from kiosk.services.ledger import format_money
from kiosk.web import formatting

FORMATS = [None, "short", "medium", "long", "full", "yyyy-MM-dd HH:mm", "EEEE d MMMM HH:mm"]


def _moments(n: int = 150) -> list[dt.datetime]:
    rnd = random.Random(8)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    moments = [start + dt.timedelta(seconds=rnd.randrange(0, 3 * 365 * 86400)) for _ in range(n)]
    # Both sides of the daylight-saving changes in Stockholm, and midnight there.
    moments += [
        dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 0, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 3, 23, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 3, 22, 59, 59, tzinfo=dt.UTC),
    ]
    return moments


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_dates_read_as_flask_babel_writes_them(kiosk_app: Flask, lang: str) -> None:
    with kiosk_app.test_request_context("/"), flask_babel.force_locale(lang):
        for moment in _moments():
            for fmt in FORMATS:
                assert formatting.datetimeformat(moment, fmt) == flask_babel.format_datetime(
                    moment, fmt
                ), (moment, fmt)
                if fmt is None or fmt in ("short", "medium", "long", "full"):
                    assert formatting.dateformat(moment, fmt) == flask_babel.format_date(
                        moment, fmt
                    ), (moment, fmt)
                    day = moment.date()
                    assert formatting.dateformat(day, fmt) == flask_babel.format_date(day, fmt)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_money_reads_as_babel_writes_it(kiosk_app: Flask, lang: str) -> None:
    with kiosk_app.test_request_context("/"), flask_babel.force_locale(lang):
        for ore in [0, 1, 50, 99, 100, 4950, 123456, -2500, 10**9, None]:
            expected = "" if ore is None else flask_babel.format_currency(ore / 100, "SEK")
            assert format_money(ore) == expected


@pytest.mark.parametrize("lang", ["sv", "en", "de", "fr", "hi"])
def test_money_written_from_the_languages_shape_matches_babel_for_any_amount(lang: str) -> None:
    from babel import numbers

    from kiosk.services.ledger import _format_kronor, _money_shape

    rnd = random.Random(3)
    amounts = [rnd.randrange(-(10**k), 10**k) for k in range(1, 13) for _ in range(200)]
    for ore in amounts:
        expected = numbers.format_currency(ore / 100, "SEK", locale=lang)
        assert _format_kronor(ore, lang) == expected, (lang, ore)
    # Every language here but Hindi takes the shortcut; Hindi groups by two and takes
    # Babel's way.
    assert (_money_shape(lang) is None) == (lang == "hi")


def test_amounts_follow_the_language_of_each_request(kiosk_app: Flask) -> None:
    with kiosk_app.test_request_context("/"), flask_babel.force_locale("sv"):
        swedish = format_money(123456)
    with kiosk_app.test_request_context("/"), flask_babel.force_locale("en"):
        english = format_money(123456)
    assert swedish.endswith("kr")
    assert "1,234.56" in english
    assert swedish != english


def test_template_texts_follow_a_change_of_language_within_a_request(kiosk_app: Flask) -> None:
    page = "{{ _('Sign in') }}|{{ _('Search') }}"
    with kiosk_app.test_request_context("/"):
        with flask_babel.force_locale("sv"):
            swedish = render_template_string(page)
        with flask_babel.force_locale("en"):
            english = render_template_string(page)
        with flask_babel.force_locale("sv"):
            again = render_template_string(page)
    assert english == "Sign in|Search"
    assert swedish == again == "Logga in|Sök"


def test_the_catalogue_is_looked_up_once_per_request(
    kiosk_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = flask_babel.get_translations

    def counting() -> object:
        calls.append(1)
        return real()

    monkeypatch.setattr(flask_babel, "get_translations", counting)
    with kiosk_app.test_request_context("/"), flask_babel.force_locale("sv"):
        first = formatting.translations()
        for _ in range(20):
            assert formatting.translations() is first
    assert len(calls) == 1


def test_wtforms_own_messages_are_translated_and_read_from_disk_once(
    kiosk_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from babel import support
    from wtforms import StringField
    from wtforms.validators import InputRequired

    from kiosk.web import forms

    class NameForm(forms.BaseForm):
        name = StringField(validators=[InputRequired()])

    loads = []
    real_load = support.Translations.load

    def counting_load(*args: object, **kwargs: object) -> object:
        loads.append(args)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    forms._wtforms_catalogue.cache_clear()
    monkeypatch.setattr(support.Translations, "load", counting_load)
    for lang, expected in (
        ("sv", "Det här fältet är obligatoriskt."),
        ("en", "This field is required."),
    ):
        for _ in range(3):
            with (
                kiosk_app.test_request_context("/", method="POST", data={}),
                flask_babel.force_locale(lang),
            ):
                form = NameForm(meta={"csrf": False})
                assert not form.validate()
                assert form.name.errors == [expected]
    assert len(loads) == 2  # once per language, not once per request
