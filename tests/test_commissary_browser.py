"""The commissary end to end in Chromium: an inmate orders without script, staff pack and
deliver, the inmate sees the final balance and the receipt; the pages pass axe-core."""

from __future__ import annotations

from typing import Any

import pytest
from commissary_helpers import add_product, clerks, credit
from conftest import World, fresh
from flask import Flask
from playwright.sync_api import expect
from test_browser import axe_violations, browser, live, shot  # noqa: F401 - fixtures

from kiosk.clock import FrozenClock
from kiosk.models import Category
from kiosk.security import totp
from kiosk.services import ledger

pytestmark = pytest.mark.browser


def test_an_inmate_orders_staff_deliver_and_the_inmate_sees_the_receipt(
    browser: Any,  # noqa: F811 - the fixture
    live: tuple[str, str],  # noqa: F811 - the fixture
    kiosk_app: Flask,
    world: World,
    clock: FrozenClock,
    db: Any,
) -> None:
    kiosk_url, admin_url = live
    person = world.inmates["2026-0001"]
    credit(kiosk_app, person.id, 20_000, clock.now())
    add_product(
        kiosk_app, world.facility, name="Coffee", price=4_950, max_per_order=3, now=clock.now()
    )
    add_product(
        kiosk_app,
        world.facility,
        name="Toothpaste",
        price=2_500,
        category=Category.HYGIENE,
        now=clock.now(),
    )
    clerk, _ = clerks(kiosk_app, world, clock.now())

    inmate = browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}, locale="en-GB"
    )
    inmate.add_cookies(
        [{"name": "kiosk_terminal", "value": world.terminals["a1"][1], "url": kiosk_url}]
    )
    inmate.set_default_timeout(15_000)
    page = inmate.new_page()
    page.goto(f"{kiosk_url}/sign-in")
    page.get_by_label("Booking number").fill(person.booking)
    page.get_by_label("PIN", exact=True).fill(person.pin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Commissary").click()
    expect(page.get_by_role("heading", name="Commissary", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024

    coffee = page.locator("li.product", has_text="Coffee")
    coffee.get_by_label("How many").fill("0")
    coffee.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Type a whole number from 1 to 3.").first).to_be_visible()
    page.locator("li.product", has_text="Coffee").get_by_label("How many").fill("2")
    page.locator("li.product", has_text="Coffee").get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Coffee is in your cart (2).")).to_be_visible()
    page.get_by_role("link", name="Hygiene").click()
    page.locator("li.product", has_text="Toothpaste").get_by_role(
        "button", name="Add to cart"
    ).click()
    page.get_by_role("navigation", name="Commissary").get_by_role("link", name="My cart").click()
    expect(page.get_by_text("124.00").first).to_be_visible()  # 2 x 49,50 + 25,00
    shot(page, "commissary-cart")
    page.get_by_role("button", name="Place order for").click()
    expect(page.get_by_text("Your order is placed and the money is on hold.")).to_be_visible()
    expect(page.get_by_text("is on hold for this order")).to_be_visible()
    order_url = page.url
    page.get_by_role("navigation", name="Commissary").get_by_role("link", name="My money").click()
    expect(page.get_by_text("76.00").first).to_be_visible()  # what can still be spent

    staff = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    staff.set_default_timeout(15_000)
    desk = staff.new_page()
    desk.goto(f"{admin_url}/sign-in")
    desk.get_by_label("User name").fill(clerk.username)
    desk.get_by_label("Password").fill(clerk.password)
    desk.get_by_role("button", name="Continue").click()
    desk.get_by_label("Code").fill(totp.current_code(clerk.secret, clock.now()))
    desk.get_by_role("button", name="Sign in").click()
    desk.get_by_role("navigation", name="Main menu").get_by_role("link", name="Commissary").click()
    assert axe_violations(desk) == []
    desk.get_by_role("link", name="Order 1").click()
    desk.get_by_role("button", name="Mark as packed").click()
    expect(desk.get_by_text("The order is packed.")).to_be_visible()
    desk.get_by_label("Delivered of Toothpaste (sv)").fill("0")
    desk.get_by_role("button", name="Deliver and charge").click()
    expect(desk.get_by_text("99.00 was charged")).to_be_visible()
    assert axe_violations(desk) == []
    for path in (
        "/commissary/products",
        "/commissary/pick-list",
        "/accounts/",
        f"/accounts/{person.id}",
    ):
        desk.goto(admin_url + path)
        assert axe_violations(desk) == [], path
    staff.close()

    page.goto(order_url)
    expect(page.get_by_role("heading", name="Receipt")).to_be_visible()
    expect(page.get_by_text("1 missing, not charged")).to_be_visible()
    shot(page, "commissary-receipt")
    page.get_by_role("navigation", name="Commissary").get_by_role("link", name="My money").click()
    expect(page.get_by_text("101.00").first).to_be_visible()  # 200 - 99
    inmate.close()
    account = ledger.inmate_account(fresh(db), person.id)
    assert (account.balance, account.held) == (10_100, 0)
    assert ledger.verify(db) == []


def test_the_commissary_pages_pass_axe_and_keep_touch_targets_large(
    browser: Any,  # noqa: F811 - the fixture
    live: tuple[str, str],  # noqa: F811 - the fixture
    kiosk_app: Flask,
    world: World,
    clock: FrozenClock,
) -> None:
    kiosk_url, _ = live
    person = world.inmates["2026-0002"]
    credit(kiosk_app, person.id, 5_000, clock.now())
    add_product(
        kiosk_app, world.facility, name="Coffee", price=4_950, max_per_order=3, now=clock.now()
    )
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="sv-SE")
    context.set_default_timeout(15_000)
    context.add_cookies(
        [{"name": "kiosk_terminal", "value": world.terminals["a1"][1], "url": kiosk_url}]
    )
    page = context.new_page()
    page.goto(f"{kiosk_url}/sign-in")
    page.get_by_label("Booking number").fill(person.booking)
    page.get_by_label("PIN", exact=True).fill(person.pin)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{kiosk_url}/shop/")
    page.get_by_role("button", name="Svenska").click()
    page.locator("li.product").get_by_label("Antal").fill("abc")
    page.locator("li.product").get_by_role("button", name="Lägg i varukorgen").click()
    expect(page.get_by_text("Skriv ett heltal från 1 till 3.").first).to_be_visible()
    assert axe_violations(page) == []
    page.locator("li.product").get_by_label("Antal").fill("1")
    page.locator("li.product").get_by_role("button", name="Lägg i varukorgen").click()
    for path in ("/shop/", "/shop/cart", "/money/", "/shop/orders"):
        page.goto(kiosk_url + path)
        assert axe_violations(page) == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= 1024, path
        for target in page.locator(
            "main button, main a.button, main input:not([type=hidden])"
        ).all():
            box = target.bounding_box()
            if box and target.is_visible():
                assert box["height"] >= 44, f"{path}: {target.evaluate('e => e.outerHTML')}"
    page.goto(kiosk_url + "/shop/cart")
    page.get_by_role("button", name="Beställ för").click()
    expect(page.get_by_role("heading", name="Beställning 1")).to_be_visible()
    assert axe_violations(page) == []
    shot(page, "commissary-order-sv")
    context.close()
