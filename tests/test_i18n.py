"""Every text in Swedish and English; Swedish by default; the language is remembered."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from conftest import Portal, World, load
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import Inmate

ROOT = Path(__file__).resolve().parent.parent


def _catalog_module() -> Any:
    spec = importlib.util.spec_from_file_location("catalog", ROOT / "scripts" / "catalog.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_message_has_a_swedish_translation_and_the_mo_file_is_fresh() -> None:
    assert _catalog_module().problems("sv") == []


PLURAL_POT = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\\n"

msgid "%(n)d apple"
msgid_plural "%(n)d apples"
msgstr[0] ""
msgstr[1] ""
"""


def test_the_catalog_check_handles_plural_messages_and_sees_a_stale_mo(
    tmp_path: Path, monkeypatch: Any
) -> None:
    catalog = _catalog_module()
    monkeypatch.setattr(catalog, "ROOT", tmp_path)
    monkeypatch.setattr(catalog, "TRANSLATIONS", tmp_path)
    (tmp_path / "messages.pot").write_text(PLURAL_POT, encoding="utf-8")
    po = catalog.po_path("sv")
    po.parent.mkdir(parents=True)
    header = PLURAL_POT.split("\n\n")[0] + '\n"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n'
    body = 'msgid "%(n)d apple"\nmsgid_plural "%(n)d apples"\n'
    po.write_text(
        header + "\n" + body + 'msgstr[0] "%(n)d äpple"\nmsgstr[1] "%(n)d äpplen"\n',
        encoding="utf-8",
    )
    po.with_suffix(".mo").write_bytes(catalog.compiled("sv"))
    assert catalog.problems("sv") == []
    po.write_text(po.read_text(encoding="utf-8").replace("äpplen", "äpplena"), encoding="utf-8")
    assert [p.split(":")[1].strip() for p in catalog.problems("sv")] == [
        "sv/LC_MESSAGES/messages.mo is not compiled from the .po (make translations)"
    ]


def test_the_catalog_template_covers_every_text_in_the_code() -> None:
    """Re-extracting finds nothing that messages.pot lacks (run `make translations`)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    with (ROOT / "kiosk" / "translations" / "messages.pot").open("rb") as fh:
        known = {m.id for m in read_po(fh) if m.id}
    method_map = [
        ("kiosk/**.py", "python"),
        ("admin/**.py", "python"),
        ("kiosk/**/templates/**.html", "jinja2"),
        ("admin/templates/**.html", "jinja2"),
    ]
    options = {
        "kiosk/**/templates/**.html": {"extensions": "jinja2.ext.do"},
        "admin/templates/**.html": {"extensions": "jinja2.ext.do"},
    }
    keywords = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    assert found - known == set()


def test_the_portal_speaks_swedish_by_default(
    settings: Any, clock: FrozenClock, world: World
) -> None:
    from kiosk import create_app

    app = create_app(settings.replace(default_language="sv"), clock=clock)
    page = Portal(app, world.terminals["a1"][1]).get("/sign-in")
    html = page.get_data(as_text=True)
    assert '<html lang="sv" dir="ltr">' in html
    assert "Logga in" in html
    assert "Inskrivningsnummer" in html
    app.extensions["kiosk"].database.dispose()


def test_an_inmate_who_switches_language_keeps_it(kiosk_app: Flask, world: World, db: Any) -> None:
    person = world.inmates["2026-0001"]
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.sign_in(person.booking, person.pin)
    switched = portal.post("/account/language", {"lang": "sv", "next": "/account/"})
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/account/"
    assert "Mitt konto" in portal.get("/account/").get_data(as_text=True)
    assert load(db, Inmate, person.id).preferred_language == "sv"
    portal.post("/sign-out")
    again = Portal(kiosk_app, world.terminals["a2"][1])
    again.sign_in(person.booking, person.pin)
    assert "Byt min PIN-kod" in again.get("/account/").get_data(as_text=True)


def test_the_language_switch_never_redirects_off_site(kiosk_app: Flask, world: World) -> None:
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"):
        response = portal.post("/account/language", {"lang": "en", "next": target}, "/sign-in")
        assert response.headers["Location"] == "/", target


def test_an_unknown_language_is_ignored(kiosk_app: Flask, world: World) -> None:
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.post("/account/language", {"lang": "xx", "next": "/sign-in"}, "/sign-in")
    assert '<html lang="en"' in portal.get("/sign-in").get_data(as_text=True)


def test_right_to_left_languages_set_the_direction(
    settings: Any, clock: FrozenClock, world: World
) -> None:
    from kiosk import create_app

    app = create_app(settings.replace(languages=("sv", "en", "ar")), clock=clock)
    portal = Portal(app, world.terminals["a1"][1])
    portal.post("/account/language", {"lang": "ar", "next": "/sign-in"}, "/sign-in")
    assert '<html lang="ar" dir="rtl">' in portal.get("/sign-in").get_data(as_text=True)
    app.extensions["kiosk"].database.dispose()
