"""The pages that matter, as the benchmark and the query-count test request them.

Each area adds its pages here when it lands. A page names the tables it needs:
on a database without them (the area is not on main yet) it is reported as not
measured instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from bench.data import Generated
from bench.sessions import Client

PageData = Generated


@dataclass(frozen=True)
class Page:
    """One request the benchmark repeats."""

    name: str
    app: str  # "kiosk" (inmate portal) or "admin" (staff app)
    path: str | Callable[[Client, PageData], str]
    method: str = "GET"
    # For POST: the form fields besides the CSRF token.
    form: Callable[[Client, PageData], Mapping[str, str]] | None = None
    # Statuses that count as success (a POST answers with a redirect to the result).
    expect: tuple[int, ...] = (200,)
    # Inmate pages are held to the 0.8-of-bare-Flask target.
    inmate: bool = True
    needs: tuple[str, ...] = ()
    # The Flask endpoint that serves it: a page whose area has no route yet is skipped.
    endpoint: str | None = None
    # Weight in the terminal model's page mix (0: not part of the mix).
    mix: float = 0.0
    # Which staff role's session requests it (staff pages).
    role: str | None = None
    # A list page: the query-count test checks it shows at most one page of rows.
    list_page: bool = False
    # How a list page marks each row, and how many rows one page may show.
    list_item: str = "<tr>"
    per_page: int = 50
    # Where the pagination test looks, when the page itself may hold fewer rows (a queue
    # of open requests); defaults to the page's own path.
    list_path: str | None = None
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    # Called (in a transaction) before each in-process request: e.g. fill the cart.
    prepare: Callable[[Connection, Client, PageData], None] | None = None

    def path_for(self, client: Client, data: PageData) -> str:
        """The URL path for this client."""
        return self.path(client, data) if callable(self.path) else self.path

    def form_for(self, client: Client, data: PageData) -> dict[str, str]:
        """The POST body for this client, CSRF token included."""
        fields = dict(self.form(client, data)) if self.form else {}
        return {"csrf_token": client.csrf, **fields}

    def available(self, tables: set[str], endpoints: Mapping[str, set[str]] | None = None) -> bool:
        """True when the database has the page's tables and its app the page's route."""
        if not all(t in tables for t in self.needs):
            return False
        if self.endpoint is None or endpoints is None:
            return True
        return self.endpoint in endpoints.get(self.app, set())


PAGES: list[Page] = []


def add_page(page: Page) -> Page:
    """Register a page (areas call this once)."""
    if all(p.name != page.name for p in PAGES):
        PAGES.append(page)
    return page


def find(name: str) -> Page:
    """A registered page by name."""
    for page in PAGES:
        if page.name == name:
            return page
    raise KeyError(name)


# The foundation -----------------------------------------------------------------

add_page(Page("inmate home", "kiosk", "/", mix=4.0))
add_page(Page("inmate account", "kiosk", "/account/", mix=0.5))
add_page(
    Page(
        "staff inmate list",
        "admin",
        "/inmates/",
        inmate=False,
        role="officer",
        list_page=True,
        per_page=51,  # 50 rows and the heading row
    )
)


def staff_client(clients: list[Client], data: PageData, role: str | None) -> list[Client]:
    """The staff sessions whose member holds ``role`` (all staff sessions when None)."""
    staff = [c for c in clients if c.app == "admin"]
    if role is None:
        return staff
    return [c for c in staff if data.staff_roles.get(c.user_id) == role]


def clients_for(page: Page, clients: list[Client], data: PageData) -> list[Client]:
    """The sessions that request a page."""
    if page.app == "admin":
        return staff_client(clients, data, page.role)
    return [c for c in clients if c.app == "kiosk"]


def extra(data: PageData, key: str, default: Any = None) -> Any:
    """A fact an area's generator left for its pages."""
    return data.extra.get(key, default)


# Every area registers its pages (and generator) on import.
import bench.areas  # noqa: E402, F401
