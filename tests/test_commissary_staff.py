"""The commissary as staff use it: order queue, delivery, rejection, catalogue, rules, money."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from commissary_helpers import SYSTEM, add_product, clerks, credit
from conftest import Portal, StaffBrowser, World, audit_actions, fresh
from flask import Flask
from sqlalchemy import func, select

from kiosk.clock import FrozenClock
from kiosk.models import (
    CommissarySettings,
    Inmate,
    LedgerProposal,
    Order,
    OrderStatus,
    Product,
    ProductRestriction,
    ProposalStatus,
)
from kiosk.services import commissary, ledger

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def clerk_pair(kiosk_app: Flask, world: World, clock: FrozenClock) -> Any:
    """Two commissary clerks of NRB."""
    return clerks(kiosk_app, world, clock.now())


def signed_in(admin_app: Flask, clock: FrozenClock, member: Any) -> StaffBrowser:
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(member)
    return browser


def _placed_order(
    kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> tuple[int, int, int]:
    """Inmate 2026-0001 with 100 kr orders 2 coffee (2 x 20 kr) and 1 soap (15 kr)."""
    person = world.inmates["2026-0001"]
    credit(kiosk_app, person.id, 10_000, clock.now())
    coffee = add_product(kiosk_app, world.facility, name="Coffee", price=2_000, now=clock.now())
    soap = add_product(kiosk_app, world.facility, name="Soap", price=1_500, now=clock.now())
    with kiosk_app.app_context():
        order, _ = commissary.place_order(
            db,
            actor=SYSTEM,
            inmate=fresh(db).get(Inmate, person.id),
            items={coffee: 2, soap: 1},
            key="staff-test-order-0001",
            now=clock.now(),
        )
    return order.id, coffee, soap


def test_a_clerk_packs_and_delivers_part_of_an_order_and_the_missing_item_is_not_charged(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    order_id, _coffee, _soap = _placed_order(kiosk_app, world, clock, db)
    browser = signed_in(admin_app, clock, clerk_pair[0])
    queue = browser.get("/commissary/").get_data(as_text=True)
    assert f"Order {order_id}" in queue
    assert "2026-0001" in queue
    assert (
        browser.post(
            f"/commissary/orders/{order_id}/pack", {}, f"/commissary/orders/{order_id}"
        ).status_code
        == 303
    )
    page = browser.get(f"/commissary/orders/{order_id}").get_data(as_text=True)
    lines = re.findall(r'name="(line-\d+)" value="(\d+)"', page)
    assert [q for _, q in lines] == ["2", "1"]
    delivered = browser.post(
        f"/commissary/orders/{order_id}/deliver",
        {lines[0][0]: "1", lines[1][0]: "1"},
        f"/commissary/orders/{order_id}",
    )
    assert delivered.status_code == 303
    order = fresh(db).get(Order, order_id)
    assert order.status is OrderStatus.DELIVERED
    assert order.charged == 3_500
    account = ledger.inmate_account(db, world.inmates["2026-0001"].id)
    assert (account.balance, account.held) == (6_500, 0)
    assert ledger.verify(db) == []
    actions = audit_actions(db)
    assert "commissary.order_pack" in actions
    assert "commissary.order_deliver" in actions
    # The inmate's receipt says what was missing and not charged.
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.sign_in(world.inmates["2026-0001"].booking, world.inmates["2026-0001"].pin)
    receipt = portal.get(f"/shop/orders/{order_id}").get_data(as_text=True)
    assert "Receipt" in receipt
    assert "1 missing, not charged" in receipt
    assert "35.00" in receipt


def test_a_delivered_count_that_is_not_a_whole_number_in_range_changes_nothing(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    order_id, _, _ = _placed_order(kiosk_app, world, clock, db)
    browser = signed_in(admin_app, clock, clerk_pair[0])
    page = browser.get(f"/commissary/orders/{order_id}").get_data(as_text=True)
    first = re.findall(r'name="(line-\d+)"', page)[0]
    for bad in ("3", "-1", "1.5", "x", ""):
        response = browser.post(
            f"/commissary/orders/{order_id}/deliver", {first: bad}, f"/commissary/orders/{order_id}"
        )
        assert response.status_code == 422, bad
        assert "Type a whole number from 0 to 2." in response.get_data(as_text=True)
    assert fresh(db).get(Order, order_id).status is OrderStatus.PLACED


def test_a_rejected_order_releases_the_money_and_the_inmate_reads_the_reason(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    order_id, coffee, _ = _placed_order(kiosk_app, world, clock, db)
    browser = signed_in(admin_app, clock, clerk_pair[0])
    empty = browser.post(
        f"/commissary/orders/{order_id}/reject", {"reason": "  "}, f"/commissary/orders/{order_id}"
    )
    assert empty.status_code == 422
    assert "Write the reason the inmate will see." in empty.get_data(as_text=True)
    done = browser.post(
        f"/commissary/orders/{order_id}/reject",
        {"reason": "Coffee is out until next week."},
        f"/commissary/orders/{order_id}",
    )
    assert done.status_code == 303
    order = fresh(db).get(Order, order_id)
    assert order.status is OrderStatus.REJECTED
    assert ledger.inmate_account(db, world.inmates["2026-0001"].id).held == 0
    assert db.get(Product, coffee).stock == 100
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.sign_in(world.inmates["2026-0001"].booking, world.inmates["2026-0001"].pin)
    assert "Coffee is out until next week." in portal.get(f"/shop/orders/{order_id}").get_data(
        as_text=True
    )
    # Rejecting again is a conflict, not a crash.
    again = browser.post(
        f"/commissary/orders/{order_id}/reject",
        {"reason": "again"},
        f"/commissary/orders/{order_id}",
    )
    assert again.status_code == 409


def test_a_clerk_adds_a_product_with_a_picture_and_inmates_see_both_names(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    browser = signed_in(admin_app, clock, clerk_pair[0])
    path = f"/commissary/products/new?facility={world.facility}"
    base = {
        "name_sv": "Tvål",
        "name_en": "Soap",
        "category": "hygiene",
        "price": "12,50",
        "stock": "40",
        "max_per_order": "2",
        "weekly_limit": "",
        "active": "y",
    }
    bad = browser.post(path, {**base, "price": "twelve"}, path)
    assert bad.status_code == 422
    assert "Type an amount in kronor" in bad.get_data(as_text=True)
    svg = browser.post(
        path,
        {**base, "picture": (io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "x.png")},
        path,
    )
    assert svg.status_code == 415
    assert fresh(db).scalar(select(func.count(Product.id))) == 0
    made = browser.post(path, {**base, "picture": (io.BytesIO(PNG), "soap.png")}, path)
    assert made.status_code == 303, made.get_data(as_text=True)[:2000]
    product = fresh(db).scalars(select(Product)).one()
    assert (product.price, product.stock, product.picture_id is not None) == (1_250, 40, True)
    assert "commissary.product_create" in audit_actions(db)
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.sign_in(world.inmates["2026-0001"].booking, world.inmates["2026-0001"].pin)
    assert "Soap" in portal.get("/shop/").get_data(as_text=True)
    picture = portal.get(f"/shop/products/{product.id}/picture")
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/png"
    assert picture.headers["X-Content-Type-Options"] == "nosniff"
    portal.post("/account/language", {"lang": "sv", "next": "/shop/"})
    assert "Tvål" in portal.get("/shop/").get_data(as_text=True)


def test_a_unit_restriction_hides_the_product_from_that_unit_only(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    nuts = add_product(kiosk_app, world.facility, name="Peanuts", now=clock.now())
    browser = signed_in(admin_app, clock, clerk_pair[0])
    page = f"/commissary/products/{nuts}"
    response = browser.post(
        f"/commissary/products/{nuts}/restrictions",
        {"unit": str(world.unit_a), "reason": "Allergy"},
        page,
    )
    assert response.status_code == 303
    assert fresh(db).scalars(select(ProductRestriction)).one().unit_id == world.unit_a
    unknown = browser.post(
        f"/commissary/products/{nuts}/restrictions",
        {"unit": "0", "booking_number": "2026-0009"},
        page,
    )
    assert unknown.status_code == 422  # an inmate of another facility
    in_a = Portal(kiosk_app, world.terminals["a1"][1])
    in_a.sign_in(world.inmates["2026-0001"].booking, world.inmates["2026-0001"].pin)
    assert "Peanuts" not in in_a.get("/shop/").get_data(as_text=True)
    in_b = Portal(kiosk_app, world.terminals["b1"][1])
    in_b.sign_in(world.inmates["2026-0003"].booking, world.inmates["2026-0003"].pin)
    assert "Peanuts" in in_b.get("/shop/").get_data(as_text=True)


def test_the_order_window_is_saved_and_a_bad_time_is_refused(
    admin_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    browser = signed_in(admin_app, clock, clerk_pair[0])
    path = f"/commissary/settings/{world.facility}"
    data = {
        "weekly_limit": "400",
        "open_weekday": "0",
        "open_time": "06:00",
        "close_weekday": "1",
        "close_time": "12:00",
        "delivery_weekday": "3",
    }
    bad = browser.post(path, {**data, "open_time": "25:00"}, path)
    assert bad.status_code == 422
    assert "Type a time like 12:00." in bad.get_data(as_text=True)
    assert browser.post(path, data, path).status_code == 303
    rules = fresh(db).get(CommissarySettings, world.facility)
    assert (rules.weekly_limit, rules.open_minute, rules.close_weekday, rules.close_minute) == (
        40_000,
        360,
        1,
        720,
    )
    other = browser.get(f"/commissary/settings/{world.other_facility}")
    assert other.status_code == 404


def test_an_officer_stops_ordering_in_a_unit_and_lifts_it(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any
) -> None:
    browser = signed_in(admin_app, clock, world.staff["officer"])
    made = browser.post(
        "/commissary/stops",
        {"where": f"u{world.unit_a}", "message": "Lockdown on unit A."},
        "/commissary/stops",
    )
    assert made.status_code == 303
    portal = Portal(kiosk_app, world.terminals["a1"][1])
    portal.sign_in(world.inmates["2026-0001"].booking, world.inmates["2026-0001"].pin)
    assert "Lockdown on unit A." in portal.get("/shop/").get_data(as_text=True)
    page = browser.get("/commissary/stops").get_data(as_text=True)
    stop_id = re.search(r"/commissary/stops/(\d+)/end", page).group(1)  # type: ignore[union-attr]
    assert (
        browser.post(f"/commissary/stops/{stop_id}/end", {}, "/commissary/stops").status_code == 303
    )
    assert "Lockdown on unit A." not in portal.get("/shop/").get_data(as_text=True)
    actions = audit_actions(db)
    assert "commissary.stop" in actions
    assert "commissary.stop_end" in actions
    # An officer does not run the commissary.
    assert browser.get("/commissary/").status_code == 403


def test_a_deposit_needs_a_second_clerk_and_the_proposer_cannot_approve_it(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    person = world.inmates["2026-0001"]
    one = signed_in(admin_app, clock, clerk_pair[0])
    account_page = f"/accounts/{person.id}"
    bad = one.post(
        f"{account_page}/propose", {"kind": "deposit", "amount": "-5", "memo": "x"}, account_page
    )
    assert bad.status_code == 422
    assert (
        one.post(
            f"{account_page}/propose",
            {"kind": "deposit", "amount": "250", "memo": "From family"},
            account_page,
        ).status_code
        == 303
    )
    proposal = fresh(db).scalars(select(LedgerProposal)).one()
    listing = one.get("/accounts/proposals").get_data(as_text=True)
    assert f"/accounts/proposals/{proposal.id}/approve" not in listing
    own = one.post(f"/accounts/proposals/{proposal.id}/approve", {}, "/accounts/proposals")
    assert own.status_code == 303
    assert "you proposed it yourself" in one.get("/accounts/proposals").get_data(as_text=True)
    assert fresh(db).get(LedgerProposal, proposal.id).status is ProposalStatus.PENDING
    assert ledger.inmate_account(db, person.id).balance == 0
    two = signed_in(admin_app, clock, clerk_pair[1])
    assert (
        two.post(
            f"/accounts/proposals/{proposal.id}/approve", {}, "/accounts/proposals"
        ).status_code
        == 303
    )
    assert fresh(db).get(LedgerProposal, proposal.id).status is ProposalStatus.APPROVED
    assert ledger.inmate_account(db, person.id).balance == 25_000
    history = two.get(account_page).get_data(as_text=True)
    assert "From family" in history
    assert "ledger.view" in audit_actions(db)
    assert "No orders." in history  # the account page lists the inmate's latest orders
    assert ledger.verify(db) == []


def test_staff_of_another_facility_and_staff_without_the_role_see_nothing(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    order_id, coffee, _ = _placed_order(kiosk_app, world, clock, db)
    person = world.inmates["2026-0001"]
    elsewhere = signed_in(admin_app, clock, world.staff["otheradmin"])
    for path in (
        f"/commissary/orders/{order_id}",
        f"/commissary/products/{coffee}",
        f"/accounts/{person.id}",
        f"/commissary/settings/{world.facility}",
    ):
        assert elsewhere.get(path).status_code == 404, path
    assert (
        elsewhere.post(f"/commissary/orders/{order_id}/pack", {}, "/commissary/").status_code == 404
    )
    assert f"Order {order_id}" not in elsewhere.get("/commissary/?status=all").get_data(
        as_text=True
    )
    teacher = signed_in(admin_app, clock, world.staff["teacher"])
    assert teacher.get("/commissary/").status_code == 403
    assert teacher.get(f"/accounts/{person.id}").status_code == 403
    assert fresh(db).get(Order, order_id).status is OrderStatus.PLACED


def test_the_pick_list_groups_open_orders_by_unit(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    order_id, _, _ = _placed_order(kiosk_app, world, clock, db)
    browser = signed_in(admin_app, clock, clerk_pair[0])
    page = browser.get(f"/commissary/pick-list?facility={world.facility}").get_data(as_text=True)
    assert "Unit A" in page
    assert f"Order {order_id}" in page
    assert "2 \u00d7 Coffee (sv)" in page


def test_the_weekly_report_sums_what_was_delivered_and_credited(
    admin_app: Flask, kiosk_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    order_id, _, _ = _placed_order(kiosk_app, world, clock, db)
    browser = signed_in(admin_app, clock, clerk_pair[0])
    page = f"/commissary/orders/{order_id}"
    browser.post(f"{page}/deliver", {}, page)
    report = browser.get(f"/commissary/report?facility={world.facility}").get_data(as_text=True)
    assert "Orders delivered" in report
    assert "55.00" in report  # 2 x 20 + 15 charged
    assert "100.00" in report  # the deposit of the test set-up
    assert "Coffee (sv)" in report
    last_week = browser.get(f"/commissary/report?facility={world.facility}&week=2026-11-16")
    assert "Nothing delivered this week." in last_week.get_data(as_text=True)
    assert (
        browser.get(f"/commissary/report?facility={world.facility}&week=garbage").status_code == 200
    )


def test_a_product_picture_larger_than_a_form_may_be_is_accepted(
    admin_app: Flask, world: World, clock: FrozenClock, db: Any, clerk_pair: Any
) -> None:
    """Pages refuse bodies over 1 MB; the picture forms raise that before CSRF reads them."""
    browser = signed_in(admin_app, clock, clerk_pair[0])
    path = f"/commissary/products/new?facility={world.facility}"
    big = PNG + b"\0" * (3 * 1024 * 1024)
    made = browser.post(
        path,
        {
            "name_sv": "Affisch",
            "name_en": "Poster",
            "category": "hygiene",
            "price": "5",
            "stock": "3",
            "max_per_order": "1",
            "weekly_limit": "",
            "active": "y",
            "picture": (io.BytesIO(big), "poster.png"),
        },
        path,
    )
    assert made.status_code == 303, made.get_data(as_text=True)[:500]
    product = fresh(db).scalars(select(Product)).one()
    assert product.picture_id is not None
