"""Small helpers of the staff views: the signed-in staff member, visible objects, pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from flask import request
from sqlalchemy import Select
from sqlalchemy.orm import Session

from kiosk.errors import NotFound
from kiosk.models import Staff
from kiosk.security.policy import Perm, require
from kiosk.web.context import db, user

T = TypeVar("T")

PER_PAGE = 50


def me() -> Staff:
    """The signed-in staff member (routes are declared staff-only)."""
    staff = user()
    if not isinstance(staff, Staff):
        raise NotFound()
    return staff


def visible(model: type[T], object_id: int, perm: Perm) -> T:
    """Load an object the signed-in staff member may act on, else 404."""
    obj = db().get(model, object_id)
    if obj is None:
        raise NotFound()
    require(me(), perm, obj)
    return obj


@dataclass
class Page:
    """One page of a list."""

    items: list[Any]
    number: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        """True after the first page."""
        return self.number > 1


def page_number() -> int:
    """The ?page= of this request, 1 if missing or malformed."""
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        return 1
    return max(int(raw), 1)


def paginate(session: Session, stmt: Select[Any], per_page: int = PER_PAGE) -> Page:
    """Fetch one page (one row more than shown, to know whether there is a next)."""
    number = page_number()
    rows = list(session.scalars(stmt.limit(per_page + 1).offset((number - 1) * per_page)))
    return Page(items=rows[:per_page], number=number, has_next=len(rows) > per_page)
