"""SQL statements per request, counted in-process with the test client.

The count comes from a SQLAlchemy ``before_cursor_execute`` listener on the
app's engine, so nothing in the product has to know about benchmarks. The
benchmark runs it against its big database; ``tests/test_query_counts.py`` runs
it against a small and a larger one and requires the same count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event

from bench.pages import Page, PageData
from bench.sessions import Client

_TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass(frozen=True)
class Counted:
    """One request: its status, size and the statements it sent."""

    status: int
    size: int
    statements: tuple[str, ...]

    @property
    def queries(self) -> int:
        """Statements other than transaction control."""
        return sum(1 for s in self.statements if not s.lstrip().upper().startswith(_TRANSACTION))


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """Collect every statement sent through ``engine`` inside the block."""
    statements: list[str] = []

    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def engine_of(app: Flask) -> Engine:
    """The engine of a kiosk or admin app."""
    engine: Engine = app.extensions["kiosk"].database.engine
    return engine


def measure(app: Flask, client: Client, page: Page, data: PageData) -> Counted:
    """Send the page's request as ``client`` and count the statements it caused."""
    test_client = app.test_client()
    for name, value in client.cookies.items():
        test_client.set_cookie(name, value)
    path = page.path_for(client, data)
    if page.prepare is not None:
        with engine_of(app).begin() as conn:
            page.prepare(conn, client, data)
    with counting(engine_of(app)) as statements:
        if page.method == "POST":
            response = test_client.post(path, data=page.form_for(client, data))
        else:
            response = test_client.get(path)
        body = response.get_data()
    location = response.headers.get("Location")
    if page.method == "POST" and location:
        # As a browser would: open the page the POST led to, which shows (and so removes)
        # the flashed message. Not counted; the next page measured starts clean.
        test_client.get(location)
    return Counted(response.status_code, len(body), tuple(statements))
