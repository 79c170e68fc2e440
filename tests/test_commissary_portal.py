"""The commissary as inmates use it: catalogue, cart, orders, holds, balance."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from commissary_helpers import SYSTEM, add_product, clerks, credit, staff_row, state
from conftest import Portal, World, fresh
from flask import Flask
from sqlalchemy import event, func, select

from kiosk.clock import FrozenClock
from kiosk.models import (
    AuditEvent,
    CartItem,
    Category,
    Facility,
    Inmate,
    LedgerAccount,
    Order,
    OrderStatus,
    Product,
    Unit,
)
from kiosk.services import commissary, ledger

_KEY = re.compile(r'name="key" value="([^"]+)"')


@pytest.fixture
def shopper(portal: Portal, world: World, kiosk_app: Flask, clock: FrozenClock) -> Portal:
    """Inmate 2026-0001 signed in at tablet A1 with 200 kronor."""
    person = world.inmates["2026-0001"]
    credit(kiosk_app, person.id, 20_000, clock.now())
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    return portal


@pytest.fixture
def coffee(kiosk_app: Flask, world: World, clock: FrozenClock) -> int:
    """Coffee at 49,50 kr, 10 in stock, at most 3 per order."""
    return add_product(
        kiosk_app,
        world.facility,
        name="Coffee",
        price=4_950,
        stock=10,
        max_per_order=3,
        now=clock.now(),
    )


def _add(p: Portal, product_id: int, quantity: str) -> Any:
    return p.post("/shop/cart/add", {"product_id": str(product_id), "quantity": quantity}, "/shop/")


def _place(p: Portal) -> Any:
    page = p.get("/shop/cart").get_data(as_text=True)
    match = _KEY.search(page)
    assert match, page[:3000]
    return p.post("/shop/order", {"key": match.group(1)}, "/shop/cart")


def _account(db: Any, inmate_id: int) -> LedgerAccount:
    account = ledger.inmate_account(fresh(db), inmate_id)
    assert account is not None
    return account


def test_the_catalogue_shows_what_the_inmate_may_buy_and_nothing_else(
    shopper: Portal, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    now = clock.now()
    add_product(kiosk_app, world.facility, name="Coffee", now=now)
    add_product(kiosk_app, world.facility, name="Toothpaste", category=Category.HYGIENE, now=now)
    add_product(kiosk_app, world.facility, name="Retired soap", active=False, now=now)
    add_product(kiosk_app, world.other_facility, name="Elsewhere tea", now=now)
    nuts = add_product(kiosk_app, world.facility, name="Peanuts", category=Category.SNACKS, now=now)
    with kiosk_app.app_context():
        commissary.add_restriction(
            db,
            actor=SYSTEM,
            product=db.get(Product, nuts),
            unit=db.get(Unit, world.unit_a),
            inmate=None,
            reason="Allergy on the unit",
            now=now,
        )
    page = shopper.get("/shop/").get_data(as_text=True)
    assert "Coffee" in page
    assert "Toothpaste" in page
    assert "Retired soap" not in page
    assert "Elsewhere tea" not in page
    assert "Peanuts" not in page
    assert "200.00" in page  # the balance, in English
    hygiene = shopper.get("/shop/?category=hygiene").get_data(as_text=True)
    assert "Toothpaste" in hygiene
    assert "Coffee" not in hygiene
    found = shopper.get("/shop/?q=tooth").get_data(as_text=True)
    assert "Toothpaste" in found
    assert "Coffee" not in found
    assert "Toothpaste" in shopper.get("/shop/?q=TOOTH").get_data(as_text=True)
    assert "Toothpaste" in shopper.get("/shop/?q=tooth&category=hygiene").get_data(as_text=True)
    assert "Toothpaste" not in shopper.get("/shop/?q=tooth&category=food").get_data(as_text=True)
    # Wildcards are searched for as they are, not as LIKE patterns.
    for wildcard in ("%", "_", "t_oth", "/"):
        page = shopper.get(f"/shop/?q={quote(wildcard)}").get_data(as_text=True)
        assert "Toothpaste" not in page, wildcard
        assert "Coffee" not in page, wildcard
    # A restricted product cannot be put in the cart by posting its id either.
    assert _add(shopper, nuts, "1").status_code == 404


def test_an_inmate_fills_the_cart_orders_and_sees_the_money_on_hold(
    shopper: Portal, coffee: int, world: World, db: Any
) -> None:
    person = world.inmates["2026-0001"]
    added = _add(shopper, coffee, "2")
    assert added.status_code == 303
    cart = shopper.get("/shop/cart").get_data(as_text=True)
    assert "99.00" in cart  # 2 x 49,50
    assert "101.00" in cart  # left to spend after the order
    placed = _place(shopper)
    assert placed.status_code == 303
    order = fresh(db).scalars(select(Order)).one()
    assert order.status is OrderStatus.PLACED
    assert order.total == 9_900
    receipt = shopper.get(placed.headers["Location"]).get_data(as_text=True)
    assert "is on hold for this order" in receipt
    account = _account(db, person.id)
    assert (account.balance, account.held, account.available) == (20_000, 9_900, 10_100)
    assert db.get(Product, coffee).stock == 8
    assert db.scalars(select(CartItem)).all() == []
    money = shopper.get("/money/").get_data(as_text=True)
    assert "101.00" in money
    assert "99.00" in money
    assert ledger.verify(db) == []


def test_the_same_order_form_submitted_five_times_makes_one_order(
    shopper: Portal, coffee: int, db: Any
) -> None:
    _add(shopper, coffee, "1")
    page = shopper.get("/shop/cart").get_data(as_text=True)
    key = _KEY.search(page).group(1)  # type: ignore[union-attr]
    answers = [shopper.post("/shop/order", {"key": key}, "/shop/cart") for _ in range(5)]
    assert {a.status_code for a in answers} == {303}
    assert len({a.headers["Location"] for a in answers}) == 1
    assert fresh(db).scalar(select(func.count(Order.id))) == 1
    assert db.get(Product, coffee).stock == 9


MALFORMED = [
    "0",
    "-1",
    "-0",
    "4",  # more than the product's maximum of 3
    "99999",
    "1000000000000000000000",
    "1.5",
    "1,5",
    "2.0",
    "1e2",
    "abc",
    "",
    " ",
    "0x10",
    "½",
    "٣",  # an Arabic-Indic digit
    "NaN",
    "+1",
    "1 1",
    "\uff11",  # a full-width digit
]


@pytest.mark.parametrize("quantity", MALFORMED)
def test_a_malformed_quantity_gets_a_clear_error_on_the_same_page_and_changes_nothing(
    shopper: Portal, coffee: int, db: Any, quantity: str
) -> None:
    events_before = fresh(db).scalar(select(func.count(AuditEvent.seq)))
    response = _add(shopper, coffee, quantity)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Type a whole number from 1 to 3." in page
    assert 'aria-invalid="true"' in page
    assert "There is a problem" in page
    assert fresh(db).scalars(select(CartItem)).all() == []
    assert db.scalar(select(func.count(AuditEvent.seq))) == events_before


@pytest.mark.parametrize("quantity", ["0", "-2", "2.5", "x", "4"])
def test_a_malformed_quantity_in_the_cart_leaves_the_cart_as_it_was(
    shopper: Portal, coffee: int, db: Any, quantity: str
) -> None:
    _add(shopper, coffee, "2")
    response = shopper.post(f"/shop/cart/{coffee}", {"quantity": quantity}, "/shop/cart")
    assert response.status_code == 422
    assert "Type a whole number from 1 to 3." in response.get_data(as_text=True)
    assert fresh(db).scalars(select(CartItem.quantity)).all() == [2]


def test_the_quantity_error_is_in_swedish_for_a_swedish_reader(
    shopper: Portal, coffee: int
) -> None:
    shopper.post("/account/language", {"lang": "sv", "next": "/shop/"})
    response = _add(shopper, coffee, "0")
    assert response.status_code == 422
    assert "Skriv ett heltal från 1 till 3." in response.get_data(as_text=True)


def test_an_order_over_the_balance_is_refused_and_nothing_is_held(
    shopper: Portal, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    radio = add_product(kiosk_app, world.facility, name="Radio", price=25_000, now=clock.now())
    _add(shopper, radio, "1")
    response = _place(shopper)
    assert response.status_code == 409
    assert "There is not enough money on the account." in response.get_data(as_text=True)
    assert fresh(db).scalars(select(Order)).all() == []
    assert _account(db, world.inmates["2026-0001"].id).held == 0
    assert db.get(Product, radio).stock == 100


def test_weekly_limits_of_money_and_of_a_product_are_kept(
    shopper: Portal, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    tobacco = add_product(
        kiosk_app, world.facility, name="Tobacco", price=6_000, weekly_limit=1, now=clock.now()
    )
    _add(shopper, tobacco, "1")
    assert _place(shopper).status_code == 303
    _add(shopper, tobacco, "1")
    refused = _place(shopper)
    assert refused.status_code == 409
    assert "You can buy 1 of Tobacco a week; you have 0 left." in refused.get_data(as_text=True)
    # A personal limit of 100 kronor: 60 spent, 49,50 more would pass it.
    with kiosk_app.app_context():
        commissary.set_inmate_limit(
            db,
            actor=SYSTEM,
            inmate=db.get(Inmate, world.inmates["2026-0001"].id),
            weekly_limit=10_000,
            now=clock.now(),
        )
    shopper.post(f"/shop/cart/{tobacco}/remove", {}, "/shop/cart")
    coffee = add_product(kiosk_app, world.facility, name="Coffee", price=4_950, now=clock.now())
    _add(shopper, coffee, "1")
    over = _place(shopper)
    assert over.status_code == 409
    assert "This order would pass your weekly limit." in over.get_data(as_text=True)
    assert fresh(db).scalar(select(func.count(Order.id))) == 1


def test_a_product_restricted_after_it_went_into_the_cart_cannot_be_ordered(
    shopper: Portal, coffee: int, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    """The restrictions are read with the locked products, not from the cart page."""
    other = add_product(kiosk_app, world.facility, name="Tea", price=1_000, now=clock.now())
    _add(shopper, coffee, "1")
    _add(shopper, other, "1")
    with kiosk_app.app_context():
        commissary.add_restriction(
            db,
            actor=SYSTEM,
            product=db.get(Product, coffee),
            unit=db.get(Unit, world.unit_a),
            inmate=None,
            reason="Allergy on the unit",
            now=clock.now(),
        )
    refused = _place(shopper)
    assert refused.status_code == 422
    assert "can no longer be ordered" in refused.get_data(as_text=True)
    assert fresh(db).scalars(select(Order)).all() == []
    assert db.get(Product, coffee).stock == 10
    assert _account(db, world.inmates["2026-0001"].id).held == 0


def test_restrictions_on_others_and_weekly_limits_count_each_product_once(
    shopper: Portal, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    """Several restrictions per product (for other people) neither block nor double a line."""
    now = clock.now()
    snus = add_product(kiosk_app, world.facility, name="Snus", price=1_000, weekly_limit=3, now=now)
    gum = add_product(kiosk_app, world.facility, name="Gum", price=500, weekly_limit=2, now=now)
    with kiosk_app.app_context():
        others = [i for b, i in world.inmates.items() if b != "2026-0001"]
        for product_id in (snus, gum):
            for person in others[:2]:
                commissary.add_restriction(
                    db,
                    actor=SYSTEM,
                    product=db.get(Product, product_id),
                    unit=None,
                    inmate=db.get(Inmate, person.id),
                    reason="Not for this person",
                    now=now,
                )
    _add(shopper, snus, "2")
    _add(shopper, gum, "1")
    assert _place(shopper).status_code == 303
    order = fresh(db).scalars(select(Order)).one()
    assert order.total == 2_500
    assert sorted((line.product_id, line.quantity) for line in order.lines) == sorted(
        [(snus, 2), (gum, 1)]
    )
    assert (db.get(Product, snus).stock, db.get(Product, gum).stock) == (98, 99)
    # What was bought this week is counted per product: 1 snus and 1 gum are left.
    _add(shopper, snus, "2")
    _add(shopper, gum, "1")
    refused = _place(shopper)
    assert refused.status_code == 409
    assert "You can buy 3 of Snus a week; you have 1 left." in refused.get_data(as_text=True)
    shopper.post(f"/shop/cart/{snus}", {"quantity": "1"}, "/shop/cart")
    assert _place(shopper).status_code == 303
    assert fresh(db).scalar(select(func.count(Order.id))) == 2
    assert ledger.verify(db) == []


def test_an_inmate_cancels_an_order_before_it_is_packed_but_not_after(
    shopper: Portal, coffee: int, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    clerk, _ = clerks(kiosk_app, world, clock.now())
    _add(shopper, coffee, "1")
    first = _place(shopper).headers["Location"]
    cancelled = shopper.post(f"{first}/cancel", {}, first)
    assert cancelled.status_code == 303
    assert "You cancelled this order" in shopper.get(first).get_data(as_text=True)
    assert _account(db, world.inmates["2026-0001"].id).held == 0
    assert db.get(Product, coffee).stock == 10
    _add(shopper, coffee, "1")
    second = _place(shopper).headers["Location"]
    order_id = int(second.rsplit("/", 1)[1])
    with kiosk_app.app_context():
        commissary.pack_order(
            db, actor=SYSTEM, staff=staff_row(db, clerk), order_id=order_id, now=clock.now()
        )
    refused = shopper.post(f"{second}/cancel", {}, second)
    assert refused.status_code == 409
    assert "Only an order that is not packed yet can be cancelled." in refused.get_data(
        as_text=True
    )
    assert fresh(db).get(Order, order_id).status is OrderStatus.PACKED
    assert ledger.verify(db) == []


def test_another_inmates_order_does_not_exist_for_you(
    shopper: Portal, coffee: int, kiosk_app: Flask, world: World, clock: FrozenClock
) -> None:
    _add(shopper, coffee, "1")
    mine = _place(shopper).headers["Location"]
    other = Portal(kiosk_app, world.terminals["b1"][1])
    person = world.inmates["2026-0003"]
    other.sign_in(person.booking, person.pin)
    assert other.get(mine).status_code == 404
    assert other.post(f"{mine}/cancel", {}, "/shop/").status_code == 404


def test_a_lockdown_stops_ordering_at_once_with_a_message(
    shopper: Portal, coffee: int, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    clerk, _ = clerks(kiosk_app, world, clock.now())
    _add(shopper, coffee, "1")
    with kiosk_app.app_context():
        commissary.start_stop(
            db,
            actor=SYSTEM,
            staff=staff_row(db, clerk),
            facility=db.get(Facility, world.facility),
            unit=db.get(Unit, world.unit_a),
            message="Search of the unit today.",
            now=clock.now(),
        )
    assert "Search of the unit today." in shopper.get("/shop/").get_data(as_text=True)
    refused = _place(shopper)
    assert refused.status_code == 409
    assert "Search of the unit today." in refused.get_data(as_text=True)
    assert fresh(db).scalars(select(Order)).all() == []


def test_outside_the_order_window_the_next_window_and_delivery_day_are_shown(
    shopper: Portal, coffee: int, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    # Open Monday 00:00 to Tuesday 12:00, delivered Thursday. The test clock is Monday 11:00.
    with kiosk_app.app_context():
        commissary.save_settings(
            db,
            actor=SYSTEM,
            facility=db.get(Facility, world.facility),
            weekly_limit=50_000,
            open_weekday=0,
            open_minute=0,
            close_weekday=1,
            close_minute=720,
            delivery_weekday=3,
            now=clock.now(),
        )
    page = shopper.get("/shop/").get_data(as_text=True)
    assert "You can order until Tuesday 12:00. Delivery: Thursday, November 26, 2026." in page
    _add(shopper, coffee, "1")
    clock.advance(days=1, hours=2)  # Tuesday 13:00
    shopper.sign_in(world.inmates["2026-0001"].booking, world.inmates["2026-0001"].pin)
    closed = shopper.get("/shop/").get_data(as_text=True)
    assert "The order window is closed. It opens Monday 30 November 00:00" in closed
    assert "Thursday, December 3, 2026" in closed
    refused = _place(shopper)
    assert refused.status_code == 409
    assert fresh(db).scalars(select(Order)).all() == []


def _count_queries(kiosk_app: Flask, action: Any) -> int:
    engine = state(kiosk_app).database.engine
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(seen)


def test_pages_make_the_same_number_of_queries_whatever_the_amount_of_data(
    shopper: Portal, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    person = world.inmates["2026-0001"]
    ids = [
        add_product(kiosk_app, world.facility, name=f"P{i}", price=100, now=clock.now())
        for i in range(3)
    ]
    for pid in ids:
        _add(shopper, pid, "1")
    small = {
        path: _count_queries(kiosk_app, lambda path=path: shopper.get(path))
        for path in ("/shop/", "/shop/cart", "/money/", "/shop/orders")
    }
    with kiosk_app.app_context():
        for i in range(30):
            pid = add_product(kiosk_app, world.facility, name=f"Q{i}", price=100, now=clock.now())
            ids.append(pid)
        for i in range(30):
            credit(kiosk_app, person.id, 100, clock.now())
            commissary.place_order(
                db,
                actor=SYSTEM,
                inmate=fresh(db).get(Inmate, person.id),
                items={ids[i + 3]: 1},
                key=f"bulk-order-{i:04d}-xxxxxx",
                now=clock.now(),
            )
    for pid in ids[3:20]:
        _add(shopper, pid, "1")
    large = {
        path: _count_queries(kiosk_app, lambda path=path: shopper.get(path))
        for path in ("/shop/", "/shop/cart", "/money/", "/shop/orders")
    }
    assert large == small
