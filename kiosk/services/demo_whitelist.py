"""Demo whitelist: approved learning sites, one proposal waiting, an inmate's request with
the refusals behind it, and a small offline library (a ZIM file made here with libzim).

Loaded by ``kiosk demo`` (``kiosk.services.demo``); made once, left alone on later runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.config import ConfigError, Settings
from kiosk.models import (
    Facility,
    Inmate,
    OfflineLibrary,
    Staff,
    VisitVerdict,
    WhitelistRule,
)
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor

log = logging.getLogger(__name__)

LIBRARY_FILE = "demo-encyclopaedia.zim"

# (prefix, title, approved?)
SITES = [
    ("https://sv.wikipedia.org/", "Wikipedia på svenska", True),
    ("https://en.wikipedia.org/", "Wikipedia (English)", True),
    ("https://www.khanacademy.org/math/", "Khan Academy: matematik", True),
    ("https://arbetsformedlingen.se/for-arbetssokande/", "Arbetsförmedlingen: söka jobb", True),
    ("https://www.1177.se/", "1177 Vårdguiden", True),
    ("https://www.gutenberg.org/", "Project Gutenberg", False),
]

ARTICLES = [
    (
        "Fotosyntes",
        "Fotosyntes",
        "<h1>Fotosyntes</h1><p>Växter använder <b>klorofyll</b> för att göra socker av "
        "ljus, vatten och koldioxid. Syre blir över.</p><p>Läs också om "
        "<a href='Cell'>cellen</a> och <a href='https://sv.wikipedia.org/wiki/Fotosyntes'>"
        "artikeln på Wikipedia</a>.</p>",
    ),
    (
        "Cell",
        "Cell",
        "<h1>Cell</h1><p>Cellen är den minsta delen av allt levande. Växtceller har "
        "kloroplaster, där <a href='Fotosyntes'>fotosyntesen</a> sker.</p>",
    ),
    (
        "Multiplikation",
        "Multiplikation",
        "<h1>Multiplikation</h1><p>Att multiplicera är att lägga ihop samma tal flera gånger: "
        "3 · 4 = 4 + 4 + 4 = 12.</p><table><tr><th>·</th><th>2</th><th>3</th></tr>"
        "<tr><th>2</th><td>4</td><td>6</td></tr><tr><th>3</th><td>6</td><td>9</td></tr></table>",
    ),
    (
        "Sveriges_landskap",
        "Sveriges landskap",
        "<h1>Sveriges landskap</h1><p>Sverige har 25 landskap, från Skåne i söder till "
        "Lappland i norr.</p>",
    ),
]


def build_library(path: Path) -> None:
    """A small ZIM file with a main page and a few linked articles (title and full-text index)."""
    from libzim.writer import (  # type: ignore[import-untyped]
        Creator,
        Hint,
        Item,
        StringProvider,
    )

    class Article(Item):  # type: ignore[misc]
        def __init__(self, entry_path: str, title: str, html: str) -> None:
            super().__init__()
            self.entry_path, self.title, self.html = entry_path, title, html

        def get_path(self) -> str:
            return self.entry_path

        def get_title(self) -> str:
            return self.title

        def get_mimetype(self) -> str:
            return "text/html"

        def get_contentprovider(self) -> StringProvider:
            page = f"<html><head><title>{self.title}</title></head><body>{self.html}</body></html>"
            return StringProvider(page)

        def get_hints(self) -> dict[object, bool]:
            return {Hint.FRONT_ARTICLE: True}

    links = "".join(f"<li><a href='{p}'>{t}</a></li>" for p, t, _h in ARTICLES)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with _quiet_stdout(), Creator(str(partial)).config_indexing(True, "swe") as creator:
        creator.set_mainpath("Start")
        creator.add_metadata("Title", "Demo-uppslagsverk")
        creator.add_metadata("Language", "swe")
        creator.add_item(Article("Start", "Start", f"<h1>Demo-uppslagsverk</h1><ul>{links}</ul>"))
        for entry_path, title, html in ARTICLES:
            creator.add_item(Article(entry_path, title, html))
    partial.replace(path)


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """libzim's writer prints progress straight to file descriptor 1: keep the demo's output
    readable by pointing it at /dev/null meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _zim_folder() -> Path | None:
    try:
        return Settings.from_env().zim_folder
    except ConfigError:
        return None


def load(session: Session, *, now: dt.datetime) -> None:
    """Demo rules, a request with refusals, and the demo library (each only once)."""
    facility = session.scalars(select(Facility).order_by(Facility.id)).first()
    teacher = session.scalars(select(Staff).where(Staff.username == "teacher")).first()
    security = session.scalars(select(Staff).where(Staff.username == "security")).first()
    admin = session.scalars(select(Staff).where(Staff.username == "admin")).first()
    if facility is None or teacher is None or security is None or admin is None:
        return
    actor = Actor.system("kiosk demo")
    if session.scalars(select(WhitelistRule.id)).first() is None:
        for prefix, title, approve in SITES:
            rule = service.propose_rule(
                session,
                actor=actor,
                staff=teacher,
                prefix=prefix,
                title=title,
                note="Demo",
                facility_id=facility.id,
                now=now,
            )
            if approve:
                service.approve_rule(session, actor=actor, staff=security, rule_id=rule.id, now=now)
        inmate = session.scalars(select(Inmate).order_by(Inmate.id)).first()
        if inmate is not None:
            for url, reason in (
                ("https://www.duolingo.com/course/en/sv/", "no_rule"),
                ("https://www.khanacademy.org/science/biology", "no_rule"),
                ("https://en.wikipedia.org./wiki/Cell", "trailing_dot"),
            ):
                service.record_visit(
                    session,
                    inmate=inmate,
                    terminal_id=None,
                    url=url,
                    verdict=VisitVerdict.REFUSED,
                    reason=reason,
                    now=now - dt.timedelta(minutes=30),
                )
            service.ask_for_site(
                session,
                actor=Actor(kind="inmate", id=inmate.id, label=inmate.booking_number),
                inmate=inmate,
                url="https://www.khanacademy.org/science/",
                reason="Jag läser biologi på komvux.",
                now=now - dt.timedelta(minutes=20),
            )
    folder = _zim_folder()
    if folder is None:
        return
    if session.scalars(select(OfflineLibrary.id)).first() is None:
        target = folder / LIBRARY_FILE
        if not target.exists():
            try:
                build_library(target)
            except (OSError, RuntimeError) as exc:
                log.warning("demo library not built: %s", exc)
                return
        service.add_library(
            session,
            actor=actor,
            staff=admin,
            folder=folder,
            file_name=LIBRARY_FILE,
            name="Demo-uppslagsverk",
            facility_id=None,
            now=now,
        )
