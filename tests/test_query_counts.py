"""Pages send the same number of SQL statements however much data there is.

Each benchmarked page (``bench/pages.py``) is requested by the same signed-in
inmate or staff member twice: on a small database, and after the benchmark's
generator has added many more rows of every area, to that same person too. A
page whose count grows loads rows one by one (N+1) or unpaginated lists. List
pages must show one page of rows and a link to the next.
"""

from __future__ import annotations

import pytest
from flask import Flask

from bench import pages as registry
from bench.config import Scale
from bench.data import AREAS, Generated, existing_tables, generate
from bench.pages import Page
from bench.queries import Counted, engine_of, measure
from bench.run import pick_staff
from bench.sessions import Client, create_sessions
from kiosk.clock import FrozenClock

SMALL = Scale(
    facilities=1,
    units_per_facility=2,
    inmates=6,
    staff=9,
    terminals=3,
    products=3,
    courses=2,
    lessons_per_course=2,
    requests=12,
    ledger_entries=24,
)
# What is added on top: many more rows of every kind, spread over the same people.
MORE = Scale(
    facilities=1,
    units_per_facility=2,
    inmates=120,
    staff=60,
    terminals=3,
    products=70,
    courses=30,
    lessons_per_course=3,
    requests=2000,
    ledger_entries=4000,
)


def _world(kiosk_app: Flask, clock: FrozenClock) -> tuple[Generated, list[Client]]:
    state = kiosk_app.extensions["kiosk"]
    engine = engine_of(kiosk_app)
    data = generate(engine, SMALL, hasher=state.hasher, vault=state.vault, now=clock.now())
    clients = create_sessions(
        engine,
        state.secrets,
        now=clock.now(),
        terminals=data.terminals[:2],
        staff=pick_staff(data, per_role=1),
    )
    return data, clients


def _grow(kiosk_app: Flask, clock: FrozenClock, data: Generated) -> None:
    state = kiosk_app.extensions["kiosk"]
    generate(
        engine_of(kiosk_app),
        MORE,
        hasher=state.hasher,
        vault=state.vault,
        now=clock.now(),
        # Same facilities and terminals; more of everything else, for the same people too.
        areas=[a for a in AREAS if a.name not in ("places", "terminals")],
        result=data,
        seed=7,
    )


def _measure_all(
    apps: dict[str, Flask], pages: list[Page], clients: list[Client], data: Generated
) -> dict[str, Counted]:
    counted: dict[str, Counted] = {}
    for page in pages:
        who = registry.clients_for(page, clients, data)
        assert who, f"no session can request {page.name!r}"
        counted[page.name] = measure(apps[page.app], who[0], page, data)
    return counted


def _pages(kiosk_app: Flask, admin_app: Flask) -> list[Page]:
    tables = existing_tables(engine_of(kiosk_app))
    endpoints = {
        "kiosk": set(kiosk_app.view_functions),
        "admin": set(admin_app.view_functions),
    }
    return [p for p in registry.PAGES if p.available(tables, endpoints)]


def test_every_benchmarked_page_answers_a_generated_session_as_expected(
    kiosk_app: Flask, admin_app: Flask, clock: FrozenClock
) -> None:
    data, clients = _world(kiosk_app, clock)
    apps = {"kiosk": kiosk_app, "admin": admin_app}
    pages = _pages(kiosk_app, admin_app)
    assert any(p.name == "inmate home" for p in pages)
    for name, counted in _measure_all(apps, pages, clients, data).items():
        page = registry.find(name)
        assert counted.status in page.expect, f"{name}: status {counted.status}"
    home = _measure_all(apps, [registry.find("inmate home")], clients, data)["inmate home"]
    assert home.queries > 0


def test_sql_statements_per_page_do_not_grow_with_the_data(
    kiosk_app: Flask, admin_app: Flask, clock: FrozenClock
) -> None:
    data, clients = _world(kiosk_app, clock)
    apps = {"kiosk": kiosk_app, "admin": admin_app}
    pages = _pages(kiosk_app, admin_app)
    before = _measure_all(apps, pages, clients, data)
    _grow(kiosk_app, clock, data)
    after = _measure_all(apps, pages, clients, data)
    grown = {
        name: (before[name].queries, after[name].queries)
        for name in before
        if after[name].queries != before[name].queries
    }
    assert not grown, f"statements per request grew with the data (before, after): {grown}"
    for name, counted in after.items():
        assert counted.status in registry.find(name).expect, f"{name}: status {counted.status}"


@pytest.mark.parametrize("page", [p for p in registry.PAGES if p.list_page], ids=lambda p: p.name)
def test_list_pages_show_one_page_of_rows_and_link_to_the_next(
    kiosk_app: Flask, admin_app: Flask, clock: FrozenClock, page: Page
) -> None:
    if page not in _pages(kiosk_app, admin_app):
        pytest.skip(f"{page.name}: its area is not on this branch yet")
    data, clients = _world(kiosk_app, clock)
    _grow(kiosk_app, clock, data)
    apps = {"kiosk": kiosk_app, "admin": admin_app}
    who = registry.clients_for(page, clients, data)[0]
    client = apps[page.app].test_client()
    for name, value in who.cookies.items():
        client.set_cookie(name, value)
    response = client.get(page.list_path or page.path_for(who, data))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'rel="next"' in html, f"{page.name} shows everything on one page"
    rows = html.count(page.list_item)
    assert 0 < rows <= page.per_page, f"{page.name} shows {rows} rows"
