"""Demo data of the commissary: products in both languages, balances and a few orders.

Called once from ``kiosk.services.demo.load`` inside its unit of work; safe to run again
(it only adds what is missing).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.models import (
    Category,
    CommissarySettings,
    Facility,
    Inmate,
    LedgerEntry,
    LedgerProposal,
    Order,
    Product,
    Staff,
    TransactionKind,
    Unit,
)
from kiosk.services import commissary, ledger
from kiosk.services.audit import Actor

# (Swedish name, English name, category, price in öre, stock, max per order, weekly limit)
PRODUCTS: list[tuple[str, str, Category, int, int, int, int | None]] = [
    ("Snabbkaffe 200 g", "Instant coffee 200 g", Category.FOOD, 6_490, 40, 2, None),
    ("Te, 20 påsar", "Tea, 20 bags", Category.FOOD, 2_450, 60, 3, None),
    ("Havregryn 1 kg", "Rolled oats 1 kg", Category.FOOD, 2_190, 30, 2, None),
    ("Knäckebröd", "Crispbread", Category.FOOD, 2_990, 25, 2, None),
    ("Jordnötssmör", "Peanut butter", Category.FOOD, 3_990, 20, 1, None),
    ("Mjölkchoklad 100 g", "Milk chocolate 100 g", Category.SNACKS, 2_200, 80, 5, None),
    ("Salta chips", "Salted crisps", Category.SNACKS, 2_900, 50, 3, None),
    ("Mineralvatten 1,5 l", "Sparkling water 1.5 l", Category.DRINKS, 1_500, 100, 6, None),
    ("Tandkräm", "Toothpaste", Category.HYGIENE, 2_590, 40, 2, None),
    ("Schampo", "Shampoo", Category.HYGIENE, 3_490, 30, 2, None),
    ("Deodorant", "Deodorant", Category.HYGIENE, 3_290, 30, 2, None),
    ("Frimärken, 5 st", "Stamps, 5", Category.STATIONERY, 6_500, 200, 2, 2),
    ("Kuvert, 10 st", "Envelopes, 10", Category.STATIONERY, 1_990, 100, 2, None),
    ("Skrivblock A4", "Writing pad A4", Category.STATIONERY, 2_490, 50, 2, None),
    ("Snus, en dosa", "Snus, one tin", Category.TOBACCO, 5_900, 60, 1, 1),
]
# Money on each demo inmate's account on the first run: deposit and pay for work.
OPENING = {
    "2026-0001": (35_000, 12_000),
    "2026-0002": (20_000, 8_000),
    "2026-0003": (50_000, 0),
    "2026-0004": (5_000, 15_000),
}


def load(
    session: Session, *, actor: Actor, facility: Facility, units: dict[str, Unit], now: dt.datetime
) -> None:
    """Add the commissary's demo data where missing (inside the caller's unit of work)."""
    if session.get(CommissarySettings, facility.id) is None:
        session.add(
            CommissarySettings(
                facility_id=facility.id,
                weekly_limit=CommissarySettings.DEFAULT_WEEKLY_LIMIT,
                open_weekday=0,
                open_minute=0,
                close_weekday=0,
                close_minute=0,
                delivery_weekday=3,
                updated_at=now,
            )
        )
    have = set(session.scalars(select(Product.name_en).where(Product.facility_id == facility.id)))
    for name_sv, name_en, category, price, stock, most, weekly in PRODUCTS:
        if name_en in have:
            continue
        commissary.save_product(
            session,
            actor=actor,
            facility=facility,
            data=commissary.ProductData(
                name_sv=name_sv,
                name_en=name_en,
                category=category,
                price=price,
                stock=stock,
                max_per_order=most,
                weekly_limit=weekly,
                active=True,
            ),
            now=now,
        )
    session.flush()
    inmates = {
        i.booking_number: i
        for i in session.scalars(select(Inmate).where(Inmate.booking_number.in_(OPENING)))
    }
    for booking, (deposit, wage) in OPENING.items():
        inmate = inmates.get(booking)
        if inmate is None:
            continue
        account = ledger.inmate_account(session, inmate.id)
        if account is not None and session.scalar(
            select(LedgerEntry.id).where(LedgerEntry.account_id == account.id).limit(1)
        ):
            continue
        if deposit:
            ledger.post_system_credit(
                session,
                actor=actor,
                inmate=inmate,
                kind=TransactionKind.DEPOSIT,
                amount=deposit,
                memo="Insättning från anhörig",
                now=now - dt.timedelta(days=3),
            )
        if wage:
            ledger.post_system_credit(
                session,
                actor=actor,
                inmate=inmate,
                kind=TransactionKind.WAGE,
                amount=wage,
                memo="Arbetsersättning vecka 47",
                now=now - dt.timedelta(days=2),
            )
    _orders(session, actor=actor, facility=facility, inmates=inmates, now=now)
    _proposal(session, actor=actor, inmates=inmates, now=now)


def _proposal(
    session: Session, *, actor: Actor, inmates: dict[str, Inmate], now: dt.datetime
) -> None:
    """A deposit proposed by the commissary clerk, for another person (admin) to approve."""
    clerk = session.scalars(select(Staff).where(Staff.username == "commissary")).first()
    inmate = inmates.get("2026-0003")
    if clerk is None or inmate is None:
        return
    if session.scalar(select(LedgerProposal.id).where(LedgerProposal.inmate_id == inmate.id)):
        return
    ledger.propose(
        session,
        actor=actor,
        staff=clerk,
        inmate=inmate,
        kind=TransactionKind.DEPOSIT,
        amount=15_000,
        memo="Insättning via Kriminalvårdens bankgiro",
        now=now,
    )


def _orders(
    session: Session,
    *,
    actor: Actor,
    facility: Facility,
    inmates: dict[str, Inmate],
    now: dt.datetime,
) -> None:
    """One delivered order (with a receipt) and one open order, made once."""
    products = {
        p.name_en: p
        for p in session.scalars(select(Product).where(Product.facility_id == facility.id))
    }
    clerk = session.scalars(select(Staff).where(Staff.username == "commissary")).first()
    plan = [
        ("2026-0001", "demo-order-delivered-0001", {"Instant coffee 200 g": 1, "Toothpaste": 1}),
        ("2026-0002", "demo-order-placed-00000002", {"Milk chocolate 100 g": 2, "Tea, 20 bags": 1}),
    ]
    for booking, key, wanted in plan:
        inmate = inmates.get(booking)
        if inmate is None or any(name not in products for name in wanted):
            continue
        done = session.scalar(
            select(Order.id).where(Order.inmate_id == inmate.id, Order.idempotency_key == key)
        )
        if done is not None:
            continue
        order, _ = commissary.place_order(
            session,
            actor=actor,
            inmate=inmate,
            items={products[name].id: count for name, count in wanted.items()},
            key=key,
            now=now,
        )
        if booking == "2026-0001" and clerk is not None:
            commissary.pack_order(session, actor=actor, staff=clerk, order_id=order.id, now=now)
            commissary.deliver_order(
                session, actor=actor, staff=clerk, order_id=order.id, delivered=None, now=now
            )
