"""Helpers shared by the commissary tests: products, money and commissary staff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import StaffMember, World, add_staff
from flask import Flask

from kiosk.models import Category, Facility, Inmate, Role, Staff, TransactionKind
from kiosk.services import commissary, ledger
from kiosk.services.audit import Actor

SYSTEM = Actor.system("test")


def state(app: Flask) -> Any:
    """The app's services."""
    return app.extensions["kiosk"]


def add_product(
    app: Flask,
    facility_id: int,
    *,
    name: str = "Coffee",
    price: int = 4950,
    stock: int = 100,
    max_per_order: int = 5,
    weekly_limit: int | None = None,
    category: Category = Category.FOOD,
    active: bool = True,
    now: dt.datetime,
) -> int:
    """A product in a facility's catalogue; returns its id."""
    with app.app_context(), state(app).database.session() as session:
        facility = session.get(Facility, facility_id)
        product = commissary.save_product(
            session,
            actor=SYSTEM,
            facility=facility,
            data=commissary.ProductData(
                name_sv=f"{name} (sv)",
                name_en=name,
                category=category,
                price=price,
                stock=stock,
                max_per_order=max_per_order,
                weekly_limit=weekly_limit,
                active=active,
            ),
            now=now,
        )
        return product.id


def credit(app: Flask, inmate_id: int, amount: int, now: dt.datetime) -> None:
    """Money on an inmate's account (as the payroll integration would post it)."""
    with app.app_context(), state(app).database.session() as session:
        inmate = session.get(Inmate, inmate_id)
        ledger.post_system_credit(
            session,
            actor=SYSTEM,
            inmate=inmate,
            kind=TransactionKind.DEPOSIT,
            amount=amount,
            memo="Deposit",
            now=now,
        )


def clerks(app: Flask, world: World, now: dt.datetime) -> tuple[StaffMember, StaffMember]:
    """Two commissary clerks of facility NRB (two people for the two-person rule)."""
    with app.app_context(), state(app).database.session() as session:
        one = add_staff(session, state(app), "clerk", [Role.COMMISSARY], [world.facility], now)
        two = add_staff(session, state(app), "clerk2", [Role.COMMISSARY], [world.facility], now)
    world.staff["clerk"] = one
    world.staff["clerk2"] = two
    return one, two


def staff_row(session: Any, member: StaffMember) -> Staff:
    """The Staff row of a test staff member."""
    row = session.get(Staff, member.id)
    assert row is not None
    return row
