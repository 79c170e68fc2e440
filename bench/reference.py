"""Reference 1: the framework's own ceiling for a page like ours.

A bare Flask + Jinja app: a signed-in user loaded from the database by the id
in Flask's signed cookie, 50 rows read through SQLAlchemy, a template that loops
over them into a page of about 8 KB. It runs under the same gunicorn settings as
the portal (``kiosk/gunicorn.conf.py``) on the same database, so the ratio of a
page to it says what our features cost over plain Flask.

Run: ``BENCH_REF_DATABASE_URL=... gunicorn -c kiosk/gunicorn.conf.py \
'bench.reference:create_app()'``
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, abort, render_template, session
from jinja2 import DictLoader
from sqlalchemy import ForeignKey, Integer, String, create_engine, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

SECRET_KEY_ENV = "BENCH_REF_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
DATABASE_ENV = "BENCH_REF_DATABASE_URL"
ITEMS = 50


class RefBase(DeclarativeBase):
    """Tables of the reference app only (prefixed, in the benchmark's database)."""


class RefUser(RefBase):
    """A signed-in user."""

    __tablename__ = "bench_ref_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8))


class RefItem(RefBase):
    """One of the 50 rows on the page."""

    __tablename__ = "bench_ref_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("bench_ref_users.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(Integer)


PAGE = """<!doctype html>
<html lang="{{ user.language }}">
<head><meta charset="utf-8"><title>Items of {{ user.name }}</title>
<link rel="stylesheet" href="/static/ref.css"></head>
<body>
<header><p>Signed in as {{ user.name }}</p>
<nav><a href="/">Start</a> <a href="/items">Items</a></nav></header>
<main>
<h1>Items</h1>
<table>
<thead><tr><th>Number</th><th>Title</th><th>Text</th><th>Amount</th></tr></thead>
<tbody>
{%- for item in items %}
<tr><td>{{ item.id }}</td><td><a href="/items/{{ item.id }}">{{ item.title }}</a></td>
<td>{{ item.body }}</td><td>{{ "%.2f"|format(item.amount / 100) }} kr</td></tr>
{%- endfor %}
</tbody>
</table>
</main>
<footer><p>Reference page for the benchmark.</p></footer>
</body>
</html>
"""


def setup(url: str, users: int = 100) -> None:
    """Create and fill the reference tables (idempotent)."""
    engine = create_engine(url)
    RefBase.metadata.drop_all(engine)
    RefBase.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(RefUser),
            [
                {"id": i, "name": f"Reference user {i}", "language": "sv"}
                for i in range(1, users + 1)
            ],
        )
        conn.execute(
            insert(RefItem),
            [
                {
                    "id": n,
                    "owner_id": 1 + (n - 1) // ITEMS,
                    "title": f"Item number {n}",
                    "body": f"A short description of item {n}, long enough to look like a row.",
                    "amount": n * 137,
                }
                for n in range(1, users * ITEMS + 1)
            ],
        )
    engine.dispose()


def create_app(database_url: str | None = None, secret_key: str | None = None) -> Flask:
    """The reference app."""
    url = database_url or os.environ[DATABASE_ENV]
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret_key or os.environ.get(SECRET_KEY_ENV, "bench-reference")
    # A template file as the portal's are: compiled once, then cached by Jinja.
    app.jinja_loader = DictLoader({"items.html": PAGE})
    kwargs: dict[str, Any] = {"pool_size": 5, "max_overflow": 5}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    factory = sessionmaker(engine, expire_on_commit=False)
    app.extensions["bench_ref_engine"] = engine

    @app.get("/items")
    def items() -> str:
        user_id = session.get("user_id")
        if not isinstance(user_id, int):
            abort(403)
        with factory() as db:
            user = db.get(RefUser, user_id)
            if user is None:
                abort(403)
            rows = list(
                db.scalars(
                    select(RefItem)
                    .where(RefItem.owner_id == user.id)
                    .order_by(RefItem.id)
                    .limit(ITEMS)
                )
            )
        return render_template("items.html", user=user, items=rows)

    return app


def session_cookie(app: Flask, user_id: int) -> tuple[str, str]:
    """The (name, value) of a signed-in cookie for ``user_id``."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None  # noqa: S101 - the app has a secret key
    return app.config.get("SESSION_COOKIE_NAME", "session"), str(
        serializer.dumps({"user_id": user_id})
    )
