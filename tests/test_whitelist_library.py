"""Offline libraries: a ZIM file made here with libzim's writer, searched and read in the portal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import START, Portal, StaffBrowser, World, fresh
from flask import Flask
from libzim.writer import Creator, Hint, Item, StringProvider  # type: ignore[import-untyped]
from sqlalchemy import select
from upstream import PNG

from kiosk.clock import FrozenClock
from kiosk.models import OfflineLibrary, Staff, VisitVerdict, WhitelistVisit
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor
from kiosk.whitelist.library import Library

ACTOR = Actor.system("test")

ARTICLE = """<html><head><title>Photosynthesis</title>
<script src="https://evil.example/x.js"></script><link rel="stylesheet" href="../-/style.css">
</head><body onload="go()">
<h1>Photosynthesis</h1>
<p>Plants use <b>chlorophyll</b> to turn light into sugar. See <a href="Leaf">leaf</a>,
<a href="https://en.wikipedia.org/wiki/Photosynthesis">the online article</a> and
<a href="https://evil.example/">a forum</a>.</p>
<img src="I/leaf.png" alt="A leaf"><img src="https://upload.example.org/x.png" alt="remote">
<iframe src="https://evil.example/"></iframe>
</body></html>"""


class _Item(Item):  # type: ignore[misc]
    def __init__(self, path: str, title: str, content: str | bytes, mimetype: str) -> None:
        super().__init__()
        self._path, self._title, self._content, self._mimetype = path, title, content, mimetype

    def get_path(self) -> str:
        return self._path

    def get_title(self) -> str:
        return self._title

    def get_mimetype(self) -> str:
        return self._mimetype

    def get_contentprovider(self) -> StringProvider:
        return StringProvider(self._content)

    def get_hints(self) -> dict[Any, bool]:
        return {Hint.FRONT_ARTICLE: self._mimetype == "text/html"}


def make_zim(path: Path) -> Path:
    """A small archive: a main page, two articles, a picture, a script."""
    with Creator(str(path)).config_verbose(False).config_indexing(True, "eng") as creator:
        creator.set_mainpath("Main_Page")
        creator.add_metadata("Title", "Test encyclopaedia")
        creator.add_metadata("Language", "eng")
        items = [
            _Item(
                "Main_Page",
                "Main page",
                "<h1>Welcome</h1><a href='Photosynthesis'>P</a>",
                "text/html",
            ),
            _Item("Photosynthesis", "Photosynthesis", ARTICLE, "text/html"),
            _Item("Leaf", "Leaf", "<h1>Leaf</h1><p>A leaf is green.</p>", "text/html"),
            _Item("I/leaf.png", "", PNG, "image/png"),
            _Item("-/app.js", "", "alert(1)", "application/javascript"),
        ]
        for item in items:
            creator.add_item(item)
    return path


@pytest.fixture
def zim_library(kiosk_app: Flask, world: World, db: Any) -> OfflineLibrary:
    """The test archive offered to facility NRB."""
    folder = kiosk_app.extensions["kiosk"].settings.zim_folder
    folder.mkdir(parents=True, exist_ok=True)
    make_zim(folder / "test_wiki.zim")
    return service.add_library(
        db,
        actor=ACTOR,
        staff=db.get(Staff, world.staff["security"].id),
        folder=folder,
        file_name="test_wiki.zim",
        name="Test encyclopaedia",
        facility_id=world.facility,
        now=START,
    )


@pytest.fixture
def inmate(portal: Portal, world: World) -> Portal:
    """Inmate 2026-0001 signed in on tablet A1."""
    person = world.inmates["2026-0001"]
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    return portal


def test_the_library_reads_titles_search_and_entries(tmp_path: Path) -> None:
    make_zim(tmp_path / "w.zim")
    library = Library(tmp_path, "w.zim")
    assert library.title == "Test encyclopaedia"
    assert library.main_path() == "Main_Page"
    assert [h.path for h in library.search("chlorophyll")] == ["Photosynthesis"]
    assert library.get("Photosynthesis") is not None
    assert library.get("../../etc/passwd") is None


@pytest.mark.parametrize("name", ["../w.zim", "/etc/passwd", ".hidden.zim", "w.txt", "a/w.zim"])
def test_only_bare_zim_file_names_in_the_folder_open(tmp_path: Path, name: str) -> None:
    from kiosk.whitelist.library import LibraryMissing

    with pytest.raises(LibraryMissing):
        Library(tmp_path, name)


def test_a_zim_article_is_found_by_search_and_read_through_the_portal(
    inmate: Portal, zim_library: OfflineLibrary, db: Any
) -> None:
    assert "Test encyclopaedia" in inmate.get("/reader/").get_data(as_text=True)
    results = inmate.get(f"/library/{zim_library.id}/search?q=chlorophyll")
    assert results.status_code == 200
    link = f"/library/{zim_library.id}/a/Photosynthesis"
    assert f'href="{link}"' in results.get_data(as_text=True)
    page = inmate.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "turn light into sugar" in html
    assert f'href="/library/{zim_library.id}/a/Leaf"' in html
    assert f'src="/library/{zim_library.id}/a/I/leaf.png"' in html
    assert "a forum<small> (not available)</small>" in html
    visits = list(fresh(db).scalars(select(WhitelistVisit)))
    assert [v.verdict for v in visits] == [VisitVerdict.ALLOWED]
    assert visits[0].kind == "library"


def test_a_zim_page_loads_nothing_from_outside_and_runs_nothing(
    inmate: Portal, zim_library: OfflineLibrary
) -> None:
    html = inmate.get(f"/library/{zim_library.id}/a/Photosynthesis").get_data(as_text=True)
    article = html.split('<article class="reader-page"', 1)[1].split("</article>", 1)[0]
    for text in ("<script", "<link", "<iframe", "onload", "evil.example", "upload.example.org"):
        assert text not in article
    # The online article is not whitelisted for this inmate: plain text, marked.
    assert "the online article<small> (not available)</small>" in article


def test_a_zim_link_to_a_whitelisted_site_goes_through_the_reader(
    inmate: Portal, zim_library: OfflineLibrary, db: Any, world: World
) -> None:
    rule = service.propose_rule(
        db,
        actor=ACTOR,
        staff=db.get(Staff, world.staff["teacher"].id),
        prefix="https://en.wikipedia.org/",
        title="Wikipedia",
        facility_id=world.facility,
        now=START,
    )
    service.approve_rule(
        db, actor=ACTOR, staff=db.get(Staff, world.staff["security"].id), rule_id=rule.id, now=START
    )
    html = inmate.get(f"/library/{zim_library.id}/a/Photosynthesis").get_data(as_text=True)
    assert 'href="/reader/view?url=https://en.wikipedia.org/wiki/Photosynthesis"' in html


def test_pictures_come_from_the_archive_and_scripts_are_not_served(
    inmate: Portal, zim_library: OfflineLibrary
) -> None:
    picture = inmate.get(f"/library/{zim_library.id}/a/I/leaf.png")
    assert (picture.status_code, picture.data) == (200, PNG)
    assert picture.headers["Content-Type"] == "image/png"
    assert inmate.get(f"/library/{zim_library.id}/a/-/app.js").status_code == 404
    assert inmate.get(f"/library/{zim_library.id}/a/Nothing_here").status_code == 404


def test_the_main_page_opens_from_the_library_link(
    inmate: Portal, zim_library: OfflineLibrary
) -> None:
    response = inmate.get(f"/library/{zim_library.id}/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/library/{zim_library.id}/a/Main_Page")


def test_a_closed_library_or_one_of_another_facility_is_not_found(
    kiosk_app: Flask, inmate: Portal, zim_library: OfflineLibrary, db: Any, world: World
) -> None:
    other = Portal(kiosk_app, world.terminals["other"][1])
    person = world.inmates["2026-0009"]
    other.sign_in(person.booking, person.pin)
    assert other.get(f"/library/{zim_library.id}/a/Photosynthesis").status_code == 404
    service.set_library_enabled(
        db,
        actor=ACTOR,
        staff=db.get(Staff, world.staff["security"].id),
        library_id=zim_library.id,
        enabled=False,
        now=START,
    )
    assert inmate.get(f"/library/{zim_library.id}/a/Photosynthesis").status_code == 404


def test_staff_offer_a_zim_file_from_the_folder(
    admin_app: Flask, clock: FrozenClock, world: World, db: Any
) -> None:
    folder = admin_app.extensions["kiosk"].settings.zim_folder
    folder.mkdir(parents=True, exist_ok=True)
    make_zim(folder / "dictionary.zim")
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff["security"])
    page = browser.get("/whitelist/libraries").get_data(as_text=True)
    assert 'value="dictionary.zim"' in page
    bad = browser.post(
        "/whitelist/libraries",
        {"name": "Dictionary", "file_name": "../secret.zim", "scope": f"f:{world.facility}"},
        "/whitelist/libraries",
    )
    assert bad.status_code == 422
    added = browser.post(
        "/whitelist/libraries",
        {"name": "Dictionary", "file_name": "dictionary.zim", "scope": f"f:{world.facility}"},
        "/whitelist/libraries",
    )
    assert added.status_code == 303
    (row,) = fresh(db).scalars(select(OfflineLibrary))
    assert (row.name, row.facility_id, row.enabled) == ("Dictionary", world.facility, True)
    teacher = StaffBrowser(admin_app, clock)
    teacher.sign_in(world.staff["teacher"])
    assert (
        teacher.post(f"/whitelist/libraries/{row.id}/close", {}, "/whitelist/libraries").status_code
        == 403
    )
