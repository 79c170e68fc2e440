"""The commissary: catalogue, rules, carts and orders (money moves through ``ledger``).

Placing an order is one transaction that locks the inmate's account row, then the
products in id order, checks every rule against what it locked, and writes the
order, the stock change and the hold together. Cancelling and rejecting release
the hold and put the stock back; delivering captures the hold (only what was
handed over is charged).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session, defaultload, joinedload, lazyload

from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _l
from kiosk.models import (
    AccountKind,
    CartItem,
    Category,
    CommissarySettings,
    Facility,
    Inmate,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    MediaFile,
    Order,
    OrderingStop,
    OrderLine,
    OrderStatus,
    Product,
    ProductRestriction,
    Staff,
    TransactionKind,
    Unit,
)
from kiosk.models.commissary import COUNTED_ORDER_STATUSES
from kiosk.security.policy import Perm, can
from kiosk.services import audit, ledger
from kiosk.services.audit import Actor

WEEK_MINUTES = 7 * 24 * 60
# Quantities are typed as at most this many digits: anything longer is refused before int().
_QUANTITY = re.compile(r"[0-9]{1,4}")
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Most distinct products one order (and one cart) may hold.
MAX_LINES = 50


class CommissaryError(DomainError):
    """A commissary rule said no."""


class BadQuantity(CommissaryError):
    """A quantity that is not a whole number from 1 to the product's maximum."""


class OrderingStopped(CommissaryError):
    """Ordering is stopped in the facility or unit (lockdown)."""

    status = 409
    default_message = _l("Ordering is stopped for now.")


class WindowClosed(CommissaryError):
    """Outside the facility's order window."""

    status = 409
    default_message = _l("The order window is closed.")


class OutOfStock(CommissaryError):
    """Not enough in stock."""

    status = 409


class LimitReached(CommissaryError):
    """A weekly limit (money or product) would be passed."""

    status = 409


class WrongStatus(CommissaryError):
    """The order is not in a state that allows this."""

    status = 409


def parse_quantity(raw: object, maximum: int) -> int:
    """A quantity typed by a person: a whole number from 1 to ``maximum``, or a clear error."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not _QUANTITY.fullmatch(text):
        raise BadQuantity(_l("Type a whole number from 1 to %(n)d.", n=maximum), field="quantity")
    value = int(text)
    if value < 1 or value > maximum:
        raise BadQuantity(_l("Type a whole number from 1 to %(n)d.", n=maximum), field="quantity")
    return value


def new_order_key() -> str:
    """A fresh idempotency key for an order form."""
    return secrets.token_urlsafe(24)


# Rules of a facility ------------------------------------------------------------------------


def settings_of(session: Session, facility_id: int) -> CommissarySettings:
    """A facility's commissary rules (defaults when none were saved)."""
    found = session.get(CommissarySettings, facility_id)
    if found is not None:
        return found
    return default_settings(facility_id)


def default_settings(facility_id: int) -> CommissarySettings:
    """The rules of a facility that saved none."""
    return CommissarySettings(
        facility_id=facility_id,
        weekly_limit=CommissarySettings.DEFAULT_WEEKLY_LIMIT,
        open_weekday=0,
        open_minute=0,
        close_weekday=0,
        close_minute=0,
        delivery_weekday=3,
    )


@dataclass(frozen=True)
class Window:
    """The order window as an inmate sees it."""

    is_open: bool
    always_open: bool
    closes_at: dt.datetime | None  # local time
    opens_at: dt.datetime | None  # local time, when closed
    delivery: dt.date


def _next_weekday(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


def window(rules: CommissarySettings, tz: str, now: dt.datetime) -> Window:
    """Is ordering open now, until when, and which day is the next delivery?"""
    local = now.astimezone(ZoneInfo(tz)).replace(second=0, microsecond=0)
    minute = local.weekday() * 1440 + local.hour * 60 + local.minute
    start = rules.open_weekday * 1440 + rules.open_minute
    end = rules.close_weekday * 1440 + rules.close_minute
    if start == end:
        delivery = _next_weekday(local.date() + dt.timedelta(days=1), rules.delivery_weekday)
        return Window(True, True, None, None, delivery)
    length = (end - start) % WEEK_MINUTES
    since_open = (minute - start) % WEEK_MINUTES
    if since_open < length:
        closes = local + dt.timedelta(minutes=length - since_open)
        return Window(
            True, False, closes, None, _next_weekday(closes.date(), rules.delivery_weekday)
        )
    opens = local + dt.timedelta(minutes=(start - minute) % WEEK_MINUTES)
    closes = opens + dt.timedelta(minutes=length)
    return Window(False, False, closes, opens, _next_weekday(closes.date(), rules.delivery_weekday))


def week_start(tz: str, now: dt.datetime) -> dt.date:
    """Monday of the facility-local week of ``now``."""
    local = now.astimezone(ZoneInfo(tz)).date()
    return local - dt.timedelta(days=local.weekday())


def _active_stop_where(facility_id: Any, unit_id: Any) -> tuple[ColumnElement[bool], ...]:
    return (
        OrderingStop.facility_id == facility_id,
        OrderingStop.ended_at.is_(None),
        or_(OrderingStop.unit_id.is_(None), OrderingStop.unit_id == unit_id),
    )


def active_stop(session: Session, inmate: Inmate) -> OrderingStop | None:
    """The lockdown that stops this inmate's ordering now, if any."""
    return session.scalars(
        _active_stop_stmt(), {"facility_id": inmate.facility_id, "unit_id": inmate.unit_id}
    ).first()


@functools.cache
def _active_stop_stmt() -> Select[OrderingStop]:
    # The pages' statements are built once with bound parameters (building one costs
    # more than running it); see _order_probe_stmt.
    return (
        select(OrderingStop)
        .where(*_active_stop_where(bindparam("facility_id"), bindparam("unit_id")))
        .order_by(OrderingStop.id)
    )


@dataclass(frozen=True)
class Summary:
    """What an inmate sees at every step: money, limits, window, stop."""

    balance: int
    held: int
    available: int
    weekly_limit: int
    weekly_spent: int
    weekly_left: int
    window: Window
    stop: OrderingStop | None


def weekly_spent_stmt(inmate_id: Any, week: Any) -> Select[Any]:
    """What counts against the weekly limit: open orders in full, delivered ones as charged."""
    return select(func.coalesce(func.sum(func.coalesce(Order.charged, Order.total)), 0)).where(
        Order.inmate_id == inmate_id,
        Order.week_start == week,
        Order.status.in_(COUNTED_ORDER_STATUSES),
    )


def weekly_spent(session: Session, inmate_id: int, week: dt.date) -> int:
    """What counts against the weekly limit: open orders in full, delivered ones as charged."""
    return int(session.scalar(_weekly_spent_bound(), {"inmate_id": inmate_id, "week": week}) or 0)


@functools.cache
def _weekly_spent_bound() -> Select[Any]:
    return weekly_spent_stmt(bindparam("inmate_id"), bindparam("week"))


def summary(session: Session, inmate: Inmate, now: dt.datetime) -> Summary:
    """The money and rules box of the shop and balance pages (a fixed number of queries)."""
    account = ledger.inmate_account(session, inmate.id)
    rules = settings_of(session, inmate.facility_id)
    tz = inmate.facility.timezone
    spent = weekly_spent(session, inmate.id, week_start(tz, now))
    limit = rules.weekly_limit
    if account is not None and account.weekly_limit is not None:
        limit = account.weekly_limit
    balance = account.balance if account else 0
    held = account.held if account else 0
    return Summary(
        balance=balance,
        held=held,
        available=balance - held,
        weekly_limit=limit,
        weekly_spent=spent,
        weekly_left=max(limit - spent, 0),
        window=window(rules, tz, now),
        stop=active_stop(session, inmate),
    )


# Catalogue for inmates ---------------------------------------------------------------------


def visible_products(
    session: Session,
    inmate: Inmate,
    *,
    category: Category | None,
    query: str,
    lang: str,
    limit: int,
    offset: int,
) -> list[Product]:
    """Active products of the inmate's facility that no restriction keeps from them, in
    the catalogue's order, ``limit`` of them from ``offset``."""
    stmt = _visible_products_stmt(lang == "en", category is not None, bool(query))
    params: dict[str, Any] = {
        "facility_id": inmate.facility_id,
        "unit_id": inmate.unit_id,
        "inmate_id": inmate.id,
        "limit": limit,
        "offset": offset,
    }
    if category is not None:
        params["category"] = category
    if query:
        # What autoescape=True would do; it needs the text when the statement is built.
        params["query"] = query.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return list(session.scalars(stmt, params))


@functools.cache
def _visible_products_stmt(english: bool, by_category: bool, searched: bool) -> Select[Any]:
    # One statement per shape of the list, built once with bound parameters.
    restricted = select(ProductRestriction.id).where(
        ProductRestriction.product_id == Product.id,
        or_(
            ProductRestriction.unit_id == bindparam("unit_id"),
            ProductRestriction.inmate_id == bindparam("inmate_id"),
        ),
    )
    name = Product.name_en if english else Product.name_sv
    stmt = (
        select(Product)
        .where(
            Product.facility_id == bindparam("facility_id"),
            Product.active.is_(True),
            ~restricted.exists(),
        )
        .order_by(Product.category, name, Product.id)
        # The list shows picture_id only, and the NOT EXISTS above already applied the
        # restrictions; lazyload, not noload, so a later policy check still sees them.
        .options(lazyload(Product.picture), lazyload(Product.restrictions))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    if by_category:
        stmt = stmt.where(Product.category == bindparam("category", type_=Product.category.type))
    if searched:
        words: Any = bindparam("query", type_=String())
        stmt = stmt.where(
            or_(
                Product.name_sv.icontains(words, escape="/"),
                Product.name_en.icontains(words, escape="/"),
            )
        )
    return stmt


def product_for_inmate(session: Session, inmate: Inmate, product_id: int) -> Product:
    """A product this inmate may buy, else NotFound."""
    product = session.get(Product, product_id)
    if product is None or not can(inmate, Perm.PORTAL_USE, product):
        raise NotFound()
    return product


# Cart ---------------------------------------------------------------------------------------


def cart_items(session: Session, inmate_id: int) -> list[CartItem]:
    """The cart, products loaded in the same query."""
    # The pages show names and prices: the picture row and the restrictions are not needed
    # (lazyload: whoever does touch them still gets them, e.g. the policy).
    return list(session.scalars(_cart_stmt(), {"inmate_id": inmate_id}))


@functools.cache
def _cart_stmt() -> Select[CartItem]:
    return (
        select(CartItem)
        .where(CartItem.inmate_id == bindparam("inmate_id"))
        .order_by(CartItem.id)
        .options(
            defaultload(CartItem.product).lazyload(Product.picture),
            defaultload(CartItem.product).lazyload(Product.restrictions),
        )
    )


def cart_quantities(session: Session, inmate_id: int) -> dict[int, int]:
    """The cart as product id -> quantity (one light query, for placing the order)."""
    rows = session.execute(
        select(CartItem.product_id, CartItem.quantity).where(CartItem.inmate_id == inmate_id)
    )
    return {int(product_id): int(quantity) for product_id, quantity in rows}


def add_to_cart(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    product_id: int,
    raw_quantity: object,
    replace: bool = False,
    now: dt.datetime,
) -> CartItem:
    """Put a quantity of a product in the cart (added to what is there, or replacing it)."""
    product = product_for_inmate(session, inmate, product_id)
    quantity = parse_quantity(raw_quantity, product.max_per_order)
    with unit_of_work(session):
        item = session.scalar(
            select(CartItem)
            .where(CartItem.inmate_id == inmate.id, CartItem.product_id == product.id)
            .with_for_update(of=CartItem)
        )
        if item is None:
            count = session.scalar(
                select(func.count(CartItem.id)).where(CartItem.inmate_id == inmate.id)
            )
            if (count or 0) >= MAX_LINES:
                raise CommissaryError(
                    _l("The cart can hold %(n)d different products.", n=MAX_LINES),
                    field="quantity",
                )
            item = CartItem(inmate_id=inmate.id, product_id=product.id, quantity=0, added_at=now)
            session.add(item)
        total = quantity if replace else item.quantity + quantity
        if total > product.max_per_order:
            raise BadQuantity(
                _l(
                    "You can order at most %(n)d of this product at a time.",
                    n=product.max_per_order,
                ),
                field="quantity",
            )
        item.quantity = total
        audit.record(
            session,
            "commissary.cart",
            actor=actor,
            obj=product,
            at=now,
            details={"quantity": total},
        )
    return item


def remove_from_cart(
    session: Session, *, actor: Actor, inmate: Inmate, product_id: int, now: dt.datetime
) -> None:
    """Take a product out of the cart."""
    with unit_of_work(session):
        result = session.execute(
            delete(CartItem).where(
                CartItem.inmate_id == inmate.id, CartItem.product_id == product_id
            )
        )
        if not getattr(result, "rowcount", 0):
            raise NotFound()
        audit.record(
            session,
            "commissary.cart",
            actor=actor,
            object_type="product",
            object_id=product_id,
            facility_id=inmate.facility_id,
            at=now,
            details={"quantity": 0},
        )


# Orders ---------------------------------------------------------------------------------------


def _order_for_update(session: Session, order_id: int) -> Order:
    order = session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound()
    return order


@functools.cache
def _order_probe_stmt() -> Select[Any]:
    """One statement: the order made earlier with a key, a lockdown, the facility's rules.

    Built once (with bound parameters): building statements costs more than running them.
    """
    existing = (
        select(Order.id)
        .where(
            Order.inmate_id == bindparam("inmate_id"),
            Order.idempotency_key == bindparam("key"),
        )
        .scalar_subquery()
    )
    stop = (
        select(OrderingStop.id)
        .where(*_active_stop_where(bindparam("facility_id"), bindparam("unit_id")))
        .order_by(OrderingStop.id)
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(CommissarySettings, existing, stop)
        .select_from(Facility)
        .outerjoin(CommissarySettings, CommissarySettings.facility_id == Facility.id)
        .where(Facility.id == bindparam("facility_id"))
    )


@functools.cache
def _order_products_stmt() -> Select[Any]:
    """One statement: the products locked in id order, with their restrictions, how many of
    each the inmate bought this week and what counts against the weekly money limit.

    A line delivered short counts what was handed over.
    """
    inmate_id: Any = bindparam("inmate_id")
    week: Any = bindparam("week")
    bought = (
        select(func.sum(func.coalesce(OrderLine.delivered, OrderLine.quantity)))
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.inmate_id == inmate_id,
            Order.week_start == week,
            Order.status.in_(COUNTED_ORDER_STATUSES),
            OrderLine.product_id == Product.id,
        )
        .correlate(Product)
        .scalar_subquery()
    )
    spent = weekly_spent_stmt(inmate_id, week).scalar_subquery()
    return (
        select(Product, bought, spent)
        .where(Product.id.in_(bindparam("product_ids", expanding=True)))
        .order_by(Product.id)
        .with_for_update(of=Product)
        # The restrictions in the same statement; the picture is not needed here.
        .options(joinedload(Product.restrictions), lazyload(Product.picture))
        .execution_options(populate_existing=True)
    )


def place_order(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    items: Mapping[int, int],
    key: str,
    now: dt.datetime,
) -> tuple[Order, bool]:
    """Place an order for ``items`` (product id -> quantity): hold the money and the stock.

    Returns the order and True, or the order made earlier with the same key and False.
    """
    if not _KEY.fullmatch(key or ""):
        raise CommissaryError(_l("The form had expired. Please try again."))
    created = False
    with unit_of_work(session):
        account = ledger.lock_inmate_account(session, inmate)
        # After the account lock, so it sees an order placed with this key while we waited.
        saved_rules, existing_order, stop_found = session.execute(
            _order_probe_stmt(),
            {
                "inmate_id": inmate.id,
                "facility_id": inmate.facility_id,
                "unit_id": inmate.unit_id,
                "key": key,
            },
        ).one()
        if existing_order is not None:
            existing = session.get(Order, existing_order)
            assert existing is not None  # noqa: S101 - found under the account lock
            return existing, False
        if stop_found is not None:
            stop = session.get(OrderingStop, stop_found)
            raise OrderingStopped(stop.message if stop is not None and stop.message else None)
        rules = saved_rules or default_settings(inmate.facility_id)
        tz = inmate.facility.timezone
        win = window(rules, tz, now)
        if not win.is_open:
            raise WindowClosed()
        if not items:
            raise CommissaryError(_l("Your cart is empty."))
        if len(items) > MAX_LINES:
            raise CommissaryError(_l("The cart can hold %(n)d different products.", n=MAX_LINES))
        week = week_start(tz, now)
        # The inmate's orders cannot change from here on: every writer of them holds the
        # account lock taken above, and this statement's snapshot is taken after that lock.
        rows = (
            session.execute(
                _order_products_stmt(),
                {"inmate_id": inmate.id, "week": week, "product_ids": sorted(items)},
            )
            .unique()
            .all()
        )
        by_id = {row[0].id: row[0] for row in rows}
        bought: dict[int, int] = {row[0].id: int(row[1] or 0) for row in rows}
        spent = int(rows[0][2] or 0) if rows else weekly_spent(session, inmate.id, week)
        total = 0
        for product_id, quantity in items.items():
            product = by_id.get(product_id)
            if product is None or not can(inmate, Perm.PORTAL_USE, product):
                raise CommissaryError(
                    _l("A product in your cart can no longer be ordered. Remove it and try again.")
                )
            name = product.name(inmate.preferred_language)
            if type(quantity) is not int or not 1 <= quantity <= product.max_per_order:
                raise BadQuantity(
                    _l("Type a whole number from 1 to %(n)d.", n=product.max_per_order),
                    field="quantity",
                )
            if product.stock < quantity:
                raise OutOfStock(_l("Only %(n)d of %(name)s are left.", n=product.stock, name=name))
            if product.weekly_limit is not None:
                already = int(bought.get(product_id) or 0)
                if already + quantity > product.weekly_limit:
                    raise LimitReached(
                        _l(
                            "You can buy %(n)d of %(name)s a week; you have %(left)d left.",
                            n=product.weekly_limit,
                            name=name,
                            left=max(product.weekly_limit - already, 0),
                        )
                    )
            total += product.price * quantity
        limit = rules.weekly_limit if account.weekly_limit is None else account.weekly_limit
        if spent + total > limit:
            raise LimitReached(_l("This order would pass your weekly limit."))
        if account.available < total:
            raise ledger.InsufficientFunds()
        order = Order(
            inmate_id=inmate.id,
            facility_id=inmate.facility_id,
            unit_id=inmate.unit_id,
            account_id=account.id,
            idempotency_key=key,
            status=OrderStatus.PLACED,
            total=total,
            week_start=week,
            delivery_date=win.delivery,
            placed_at=now,
        )
        for product_id in sorted(items):
            product = by_id[product_id]
            quantity = items[product_id]
            product.stock -= quantity
            order.lines.append(
                OrderLine(
                    product_id=product.id,
                    name_sv=product.name_sv,
                    name_en=product.name_en,
                    unit_price=product.price,
                    quantity=quantity,
                )
            )
        session.add(order)
        session.flush()
        ledger.place_hold(session, account=account, order_id=order.id, amount=total, now=now)
        session.execute(
            delete(CartItem).where(
                CartItem.inmate_id == inmate.id, CartItem.product_id.in_(sorted(items))
            )
        )
        audit.record(
            session,
            "commissary.order_place",
            actor=actor,
            obj=order,
            at=now,
            details={"total": total, "lines": len(items), "inmate_id": inmate.id},
        )
        created = True
    return order, created


def _put_back(session: Session, order: Order, quantities: Mapping[int, int]) -> None:
    if not quantities:
        return
    products = session.scalars(
        select(Product)
        .where(Product.id.in_(sorted(quantities)))
        .order_by(Product.id)
        .with_for_update(of=Product)
        .execution_options(populate_existing=True)
    ).all()
    for product in products:
        product.stock += quantities[product.id]


def _release(session: Session, order: Order, now: dt.datetime) -> None:
    account = ledger.lock_accounts(session, [order.account_id])[order.account_id]
    locked = _order_for_update(session, order.id)
    if not locked.is_open:
        raise WrongStatus(_l("This order is closed already."))
    ledger.release_hold(session, account=account, order_id=locked.id, now=now)
    _put_back(session, locked, {line.product_id: line.quantity for line in locked.lines})
    locked.closed_at = now


def cancel_order(
    session: Session, *, actor: Actor, inmate: Inmate, order_id: int, now: dt.datetime
) -> Order:
    """The inmate cancels an order that is not packed yet: money and stock come back."""
    with unit_of_work(session):
        order = session.get(Order, order_id)
        if order is None or order.inmate_id != inmate.id:
            raise NotFound()
        account = ledger.lock_accounts(session, [order.account_id])[order.account_id]
        order = _order_for_update(session, order_id)
        if order.status is not OrderStatus.PLACED:
            raise WrongStatus(_l("Only an order that is not packed yet can be cancelled."))
        ledger.release_hold(session, account=account, order_id=order.id, now=now)
        _put_back(session, order, {line.product_id: line.quantity for line in order.lines})
        order.status = OrderStatus.CANCELLED
        order.closed_at = now
        audit.record(
            session,
            "commissary.order_cancel",
            actor=actor,
            obj=order,
            at=now,
            details={"released": order.total},
        )
    return order


def pack_order(
    session: Session, *, actor: Actor, staff: Staff, order_id: int, now: dt.datetime
) -> Order:
    """Staff packed the order: the inmate can no longer cancel it."""
    with unit_of_work(session):
        order = _order_for_update(session, order_id)
        if order.status is not OrderStatus.PLACED:
            raise WrongStatus(_l("Only a placed order can be packed."))
        order.status = OrderStatus.PACKED
        order.packed_at = now
        order.handled_by_id = staff.id
        audit.record(session, "commissary.order_pack", actor=actor, obj=order, at=now)
    return order


def reject_order(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    order_id: int,
    reason: str,
    now: dt.datetime,
) -> Order:
    """Staff reject an open order with a reason the inmate sees: money and stock come back."""
    text = " ".join((reason or "").split())
    if not text:
        raise CommissaryError(_l("Write the reason the inmate will see."), field="reason")
    if len(text) > Order.REASON_MAX:
        raise CommissaryError(
            _l("Write at most %(n)d characters.", n=Order.REASON_MAX), field="reason"
        )
    with unit_of_work(session):
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound()
        _release(session, order, now)
        order = _order_for_update(session, order_id)
        order.status = OrderStatus.REJECTED
        order.reason = text
        order.handled_by_id = staff.id
        audit.record(
            session,
            "commissary.order_reject",
            actor=actor,
            obj=order,
            at=now,
            details={"released": order.total, "reason": text},
        )
    return order


def deliver_order(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    order_id: int,
    delivered: Mapping[int, int] | None,
    now: dt.datetime,
) -> Order:
    """Hand the order over: charge what was delivered (line id -> quantity; None: all)."""
    with unit_of_work(session):
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound()
        account = ledger.lock_accounts(session, [order.account_id])[order.account_id]
        order = _order_for_update(session, order_id)
        if not order.is_open:
            raise WrongStatus(_l("This order is closed already."))
        charge = 0
        missing: dict[int, int] = {}
        for line in order.lines:
            count = line.quantity if delivered is None else delivered.get(line.id, line.quantity)
            if type(count) is not int or not 0 <= count <= line.quantity:
                raise BadQuantity(
                    _l("Type a whole number from 0 to %(n)d.", n=line.quantity),
                    field=f"line-{line.id}",
                )
            line.delivered = count
            charge += count * line.unit_price
            if count < line.quantity:
                missing[line.product_id] = line.quantity - count
        ledger.capture_hold(session, account=account, order=order, charge=charge, now=now)
        order.status = OrderStatus.DELIVERED
        order.charged = charge
        order.closed_at = now
        order.handled_by_id = staff.id
        audit.record(
            session,
            "commissary.order_deliver",
            actor=actor,
            obj=order,
            at=now,
            details={"charged": charge, "not_charged": order.total - charge, "missing": missing},
        )
    return order


# Staff: catalogue and rules ---------------------------------------------------------------


@dataclass
class ProductData:
    """What the product form gives."""

    name_sv: str
    name_en: str
    category: Category
    price: int
    stock: int
    max_per_order: int
    weekly_limit: int | None
    active: bool


def _check_product(data: ProductData) -> None:
    for field, value in (("name_sv", data.name_sv), ("name_en", data.name_en)):
        if not value.strip() or len(value) > Product.NAME_MAX:
            raise CommissaryError(
                _l("Give a name of at most %(n)d characters.", n=Product.NAME_MAX), field=field
            )
    if not 0 < data.price <= Product.PRICE_MAX:
        raise CommissaryError(_l("The price must be more than zero."), field="price")
    if not 0 <= data.stock <= Product.STOCK_MAX:
        raise CommissaryError(_l("Stock cannot be negative."), field="stock")
    if not 1 <= data.max_per_order <= Product.MAX_PER_ORDER_MAX:
        raise CommissaryError(
            _l("Type a whole number from 1 to %(n)d.", n=Product.MAX_PER_ORDER_MAX),
            field="max_per_order",
        )
    if data.weekly_limit is not None and not 1 <= data.weekly_limit <= 999:
        raise CommissaryError(
            _l("Type a whole number from 1 to %(n)d.", n=999), field="weekly_limit"
        )


def save_product(
    session: Session,
    *,
    actor: Actor,
    facility: Facility,
    data: ProductData,
    product_id: int | None = None,
    picture: MediaFile | None = None,
    remove_picture: bool = False,
    now: dt.datetime,
) -> Product:
    """Add a product or change one (stock is set, not added)."""
    _check_product(data)
    with unit_of_work(session):
        if product_id is None:
            product = Product(facility_id=facility.id, created_at=now)
            session.add(product)
        else:
            found = session.scalar(
                select(Product)
                .where(Product.id == product_id, Product.facility_id == facility.id)
                .with_for_update(of=Product)
                .execution_options(populate_existing=True)
            )
            if found is None:
                raise NotFound()
            product = found
        before = {"price": product.price, "stock": product.stock, "active": product.active}
        product.name_sv = " ".join(data.name_sv.split())
        product.name_en = " ".join(data.name_en.split())
        product.category = data.category
        product.price = data.price
        product.stock = data.stock
        product.max_per_order = data.max_per_order
        product.weekly_limit = data.weekly_limit
        product.active = data.active
        product.updated_at = now
        if picture is not None:
            product.picture_id = picture.id
        elif remove_picture:
            product.picture_id = None
        session.flush()
        audit.record(
            session,
            "commissary.product_create" if product_id is None else "commissary.product_update",
            actor=actor,
            obj=product,
            at=now,
            details={
                "name": product.name_en,
                "price": product.price,
                "stock": product.stock,
                "active": product.active,
                "before": before if product_id is not None else None,
            },
        )
    return product


def add_restriction(
    session: Session,
    *,
    actor: Actor,
    product: Product,
    unit: Unit | None,
    inmate: Inmate | None,
    reason: str,
    now: dt.datetime,
) -> None:
    """Keep a unit or an inmate from buying a product."""
    if (unit is None) == (inmate is None):
        raise CommissaryError(_l("Choose a unit or an inmate."), field="unit")
    where = unit.facility_id if unit is not None else inmate.facility_id  # type: ignore[union-attr]
    if where != product.facility_id:
        raise CommissaryError(
            _l("Choose a unit or inmate of the product's facility."), field="unit"
        )
    text = " ".join((reason or "").split())[: ProductRestriction.REASON_MAX]
    with unit_of_work(session):
        if unit is not None:
            who = ProductRestriction.unit_id == unit.id
        else:
            assert inmate is not None  # noqa: S101 - checked above
            who = ProductRestriction.inmate_id == inmate.id
        exists = session.scalar(
            select(ProductRestriction.id).where(ProductRestriction.product_id == product.id, who)
        )
        if exists is not None:
            return
        row = ProductRestriction(
            product_id=product.id,
            unit_id=unit.id if unit else None,
            inmate_id=inmate.id if inmate else None,
            reason=text,
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            "commissary.restriction_add",
            actor=actor,
            obj=product,
            at=now,
            details={
                "unit_id": row.unit_id,
                "inmate_id": row.inmate_id,
                "reason": text,
            },
        )


def remove_restriction(
    session: Session, *, actor: Actor, product: Product, restriction_id: int, now: dt.datetime
) -> None:
    """Lift a restriction."""
    with unit_of_work(session):
        row = session.get(ProductRestriction, restriction_id)
        if row is None or row.product_id != product.id:
            raise NotFound()
        session.delete(row)
        audit.record(
            session,
            "commissary.restriction_remove",
            actor=actor,
            obj=product,
            at=now,
            details={"unit_id": row.unit_id, "inmate_id": row.inmate_id},
        )


def save_settings(
    session: Session,
    *,
    actor: Actor,
    facility: Facility,
    weekly_limit: int,
    open_weekday: int,
    open_minute: int,
    close_weekday: int,
    close_minute: int,
    delivery_weekday: int,
    now: dt.datetime,
) -> CommissarySettings:
    """A facility's weekly limit, order window and delivery day."""
    if not 0 <= weekly_limit <= CommissarySettings.WEEKLY_LIMIT_MAX:
        raise CommissaryError(
            _l("Type an amount in kronor, for example 150 or 49,50."), field="weekly_limit"
        )
    for day in (open_weekday, close_weekday, delivery_weekday):
        if not 0 <= day <= 6:
            raise CommissaryError(_l("Choose a weekday."), field="delivery_weekday")
    for minute in (open_minute, close_minute):
        if not 0 <= minute < 1440:
            raise CommissaryError(_l("Type a time like 12:00."), field="open_time")
    with unit_of_work(session):
        row = session.get(
            CommissarySettings, facility.id, with_for_update={"of": CommissarySettings}
        )
        if row is None:
            row = CommissarySettings(facility_id=facility.id)
            session.add(row)
        row.weekly_limit = weekly_limit
        row.open_weekday = open_weekday
        row.open_minute = open_minute
        row.close_weekday = close_weekday
        row.close_minute = close_minute
        row.delivery_weekday = delivery_weekday
        row.updated_at = now
        audit.record(
            session,
            "commissary.settings",
            actor=actor,
            obj=facility,
            at=now,
            details={
                "weekly_limit": weekly_limit,
                "window": [open_weekday, open_minute, close_weekday, close_minute],
                "delivery_weekday": delivery_weekday,
            },
        )
    return row


def set_inmate_limit(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    weekly_limit: int | None,
    now: dt.datetime,
) -> None:
    """Give one inmate their own weekly limit (None: the facility's)."""
    if weekly_limit is not None and not 0 <= weekly_limit <= CommissarySettings.WEEKLY_LIMIT_MAX:
        raise CommissaryError(
            _l("Type an amount in kronor, for example 150 or 49,50."), field="weekly_limit"
        )
    with unit_of_work(session):
        account_id = ledger.ensure_inmate_account(session, inmate)
        account = ledger.lock_accounts(session, [account_id])[account_id]
        before = account.weekly_limit
        account.weekly_limit = weekly_limit
        audit.record(
            session,
            "commissary.inmate_limit",
            actor=actor,
            obj=inmate,
            at=now,
            details={"before": before, "after": weekly_limit},
        )


def start_stop(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    facility: Facility,
    unit: Unit | None,
    message: str,
    now: dt.datetime,
) -> OrderingStop:
    """Stop ordering in a facility or unit at once (lockdown), with a message to inmates."""
    text = " ".join((message or "").split())
    if len(text) > OrderingStop.MESSAGE_MAX:
        raise CommissaryError(
            _l("Write at most %(n)d characters.", n=OrderingStop.MESSAGE_MAX), field="message"
        )
    if unit is not None and unit.facility_id != facility.id:
        raise NotFound()
    with unit_of_work(session):
        stop = OrderingStop(
            facility_id=facility.id,
            unit_id=unit.id if unit else None,
            message=text,
            started_at=now,
            started_by_id=staff.id,
        )
        session.add(stop)
        session.flush()
        audit.record(
            session,
            "commissary.stop",
            actor=actor,
            obj=stop,
            at=now,
            details={"unit_id": stop.unit_id, "message": text},
        )
    return stop


def end_stop(
    session: Session, *, actor: Actor, staff: Staff, stop_id: int, now: dt.datetime
) -> None:
    """Let ordering start again."""
    with unit_of_work(session):
        stop = session.get(OrderingStop, stop_id, with_for_update={"of": OrderingStop})
        if stop is None or stop.ended_at is not None:
            raise NotFound()
        stop.ended_at = now
        stop.ended_by_id = staff.id
        audit.record(session, "commissary.stop_end", actor=actor, obj=stop, at=now)


def account_snapshot(session: Session, inmate: Inmate) -> LedgerAccount | None:
    """The inmate's account row as it is now (for staff pages)."""
    return ledger.inmate_account(session, inmate.id)


@dataclass(frozen=True)
class ReportLine:
    """Sales of one product in a week."""

    product_id: int
    name_sv: str
    name_en: str
    quantity: int
    amount: int


@dataclass(frozen=True)
class WeekReport:
    """A facility's commissary week: delivered sales, open and closed orders, money in."""

    week: dt.date
    delivered_orders: int
    charged: int
    not_charged: int
    open_orders: int
    open_amount: int
    rejected_or_cancelled: int
    lines: list[ReportLine]
    credits: dict[str, int]


def week_report(session: Session, facility: Facility, week: dt.date) -> WeekReport:
    """Figures of one facility-local week (Monday ``week``), in a fixed number of queries."""
    start_local = dt.datetime.combine(week, dt.time(0), tzinfo=ZoneInfo(facility.timezone))
    start = start_local.astimezone(dt.UTC)
    end = (start_local + dt.timedelta(days=7)).astimezone(dt.UTC)
    delivered = (
        Order.facility_id == facility.id,
        Order.status == OrderStatus.DELIVERED,
        Order.closed_at >= start,
        Order.closed_at < end,
    )
    count, charged, total = session.execute(
        select(
            func.count(Order.id),
            func.coalesce(func.sum(Order.charged), 0),
            func.coalesce(func.sum(Order.total), 0),
        ).where(*delivered)
    ).one()
    open_count, open_amount = session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.total), 0)).where(
            Order.facility_id == facility.id,
            Order.status.in_((OrderStatus.PLACED, OrderStatus.PACKED)),
        )
    ).one()
    closed = session.scalar(
        select(func.count(Order.id)).where(
            Order.facility_id == facility.id,
            Order.status.in_((OrderStatus.REJECTED, OrderStatus.CANCELLED)),
            Order.closed_at >= start,
            Order.closed_at < end,
        )
    )
    rows = session.execute(
        select(
            OrderLine.product_id,
            func.min(OrderLine.name_sv),
            func.min(OrderLine.name_en),
            func.sum(OrderLine.delivered),
            func.sum(OrderLine.delivered * OrderLine.unit_price),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*delivered)
        .group_by(OrderLine.product_id)
        .order_by(func.sum(OrderLine.delivered * OrderLine.unit_price).desc(), OrderLine.product_id)
    ).all()
    credits = {
        kind.value: int(amount or 0)
        for kind, amount in session.execute(
            select(
                LedgerTransaction.kind,
                func.sum(LedgerEntry.amount),
            )
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(
                LedgerTransaction.facility_id == facility.id,
                LedgerTransaction.created_at >= start,
                LedgerTransaction.created_at < end,
                LedgerTransaction.kind != TransactionKind.PURCHASE,
                LedgerAccount.kind == AccountKind.INMATE,
            )
            .group_by(LedgerTransaction.kind)
        )
    }
    return WeekReport(
        week=week,
        delivered_orders=int(count or 0),
        charged=int(charged or 0),
        not_charged=int(total or 0) - int(charged or 0),
        open_orders=int(open_count or 0),
        open_amount=int(open_amount or 0),
        rejected_or_cancelled=int(closed or 0),
        lines=[ReportLine(pid, sv, en, int(q or 0), int(a or 0)) for pid, sv, en, q, a in rows],
        credits=credits,
    )
