"""Commissary and money: a catalogue per facility, 1,000,000 ledger entries, and the pages.

The ledger is generated as the service would have written it, transaction by
transaction in time order: every transaction balances (an inmate leg and a
facility leg), every entry carries the running balance of its account, no
inmate balance ever dips below zero, and the cached balances equal the sums.
``kiosk ledger verify`` accepts the generated ledger (the order benchmark runs it).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from bench.data import Context, area, bulk_insert, fix_sequence, next_id
from bench.pages import Page, PageData, add_page
from bench.sessions import Client

TABLES = (
    "commissary_products",
    "commissary_settings",
    "commissary_cart_items",
    "commissary_orders",
    "ledger_accounts",
    "ledger_transactions",
    "ledger_entries",
)
CATEGORIES = ("food", "snacks", "drinks", "hygiene", "stationery", "tobacco", "other")
WORDS = ("Coffee", "Noodles", "Soap", "Stamps", "Rice", "Chocolate", "Tea", "Shampoo", "Juice")
# Every inmate ends with at least this much (öre), so an order of the cheapest
# products always fits; the order benchmark relies on it.
MIN_BALANCE = 10_000
# The order benchmark's carts hold one product of at most this price.
CART_PRICE_MAX = 2_000


@area("commissary", *TABLES)
def generate_commissary(ctx: Context) -> None:
    """Products and always-open settings per facility, then the ledger."""
    conn = ctx.conn
    rng = ctx.rng
    per_facility = ctx.scale.products
    first = next_id(conn, "commissary_products")
    rows: list[dict[str, Any]] = []
    cheap: dict[int, list[tuple[int, int]]] = {}
    pid = first
    for facility in ctx.result.facilities:
        for n in range(per_facility):
            # Every tenth product is cheap: the order benchmark puts those in carts.
            price = rng.randrange(500, CART_PRICE_MAX) if n % 10 == 0 else rng.randrange(900, 9900)
            rows.append(
                {
                    "id": pid,
                    "facility_id": facility,
                    "name_sv": f"{rng.choice(WORDS)} {n}",
                    "name_en": f"{rng.choice(WORDS)} {n}",
                    "category": CATEGORIES[n % len(CATEGORIES)],
                    "price": price,
                    "stock": 1_000_000,
                    "max_per_order": 5,
                    "weekly_limit": None,
                    "active": True,
                    "picture_id": None,
                    "created_at": ctx.now,
                    "updated_at": ctx.now,
                }
            )
            if price <= CART_PRICE_MAX:
                cheap.setdefault(facility, []).append((pid, price))
            pid += 1
    bulk_insert(conn, "commissary_products", rows)
    fix_sequence(conn, "commissary_products")
    existing = set(conn.scalars(select(_table("commissary_settings").c.facility_id)))
    bulk_insert(
        conn,
        "commissary_settings",
        (
            {
                "facility_id": f,
                "weekly_limit": 50_000,
                # Equal ends: the order window is always open (the benchmark runs any day).
                "open_weekday": 0,
                "open_minute": 0,
                "close_weekday": 0,
                "close_minute": 0,
                "delivery_weekday": 3,
                "updated_at": ctx.now,
            }
            for f in ctx.result.facilities
            if f not in existing
        ),
    )
    ctx.result.extra.setdefault("cheap_products", {}).update(
        {str(f): items for f, items in cheap.items()}
    )
    ctx.result.counts["products"] = ctx.result.counts.get("products", 0) + len(rows)
    _generate_ledger(ctx)


def _table(name: str) -> Any:
    from bench.data import table

    return table(name)


def _generate_ledger(ctx: Context) -> None:
    conn = ctx.conn
    rng = ctx.rng
    facilities = ctx.result.facilities
    inmates = ctx.result.inmates
    inmate_facility = {i: ctx.result.unit_facility[u] for i, u in ctx.result.inmate_unit.items()}
    accounts_table = _table("ledger_accounts")
    known = {
        row.key: (row.id, row.balance)
        for row in conn.execute(
            select(accounts_table.c.key, accounts_table.c.id, accounts_table.c.balance)
        )
    }
    account_rows: list[dict[str, Any]] = []
    aid = next_id(conn, "ledger_accounts")
    balance: dict[int, int] = {}

    def account(key: str, kind: str, facility: int, inmate: int | None = None) -> int:
        nonlocal aid
        if key in known:
            found, amount = known[key]
            balance.setdefault(found, int(amount))
            return int(found)
        known[key] = (aid, 0)
        balance[aid] = 0
        account_rows.append(
            {
                "id": aid,
                "key": key,
                "kind": kind,
                "facility_id": facility,
                "inmate_id": inmate,
                "balance": 0,
                "held": 0,
                "weekly_limit": None,
                "created_at": ctx.now,
            }
        )
        aid += 1
        return aid - 1

    inmate_account = {i: account(f"inmate:{i}", "inmate", inmate_facility[i], i) for i in inmates}
    sources = {
        f: {
            kind: account(f"{kind}:{f}", kind, f)
            for kind in ("sales", "wages", "deposits", "adjustments")
        }
        for f in facilities
    }
    ctx.result.extra.setdefault("inmate_accounts", {}).update(
        {str(i): a for i, a in inmate_account.items()}
    )

    # Accounts first: the entries refer to them (PostgreSQL checks at once).
    bulk_insert(conn, "ledger_accounts", account_rows)
    transactions = max(1, ctx.scale.ledger_entries // 2)
    tx_first = next_id(conn, "ledger_transactions")
    entry_id = next_id(conn, "ledger_entries")
    start = ctx.now - dt.timedelta(days=730)
    step = dt.timedelta(days=730) / transactions
    tx_rows: list[dict[str, Any]] = []
    entry_rows: list[dict[str, Any]] = []

    def flush() -> None:
        bulk_insert(conn, "ledger_transactions", tx_rows)
        bulk_insert(conn, "ledger_entries", entry_rows)
        tx_rows.clear()
        entry_rows.clear()

    def post(tx: int, kind: str, inmate: int, amount: int, when: dt.datetime) -> None:
        """A two-leg transaction: ``amount`` into the inmate's account from a facility's."""
        nonlocal entry_id
        facility = inmate_facility[inmate]
        source = sources[facility][
            {"deposit": "deposits", "wage": "wages", "purchase": "sales"}.get(kind, "adjustments")
        ]
        mine = inmate_account[inmate]
        tx_rows.append(
            {
                "id": tx,
                "kind": kind,
                "facility_id": facility,
                "memo": "" if kind != "wage" else "Work in the kitchen",
                "order_id": None,
                "proposal_id": None,
                "created_at": when,
            }
        )
        for acc, delta in ((mine, amount), (source, -amount)):
            balance[acc] += delta
            entry_rows.append(
                {
                    "id": entry_id,
                    "transaction_id": tx,
                    "account_id": acc,
                    "amount": delta,
                    "balance_after": balance[acc],
                }
            )
            entry_id += 1

    tx = tx_first
    for n in range(transactions):
        inmate = inmates[n % len(inmates)] if n % 7 else inmates[(n // 7) % min(10, len(inmates))]
        mine = inmate_account[inmate]
        when = start + step * n
        have = balance[mine]
        if have < 5_000 or rng.random() < 0.35:
            kind = "wage" if rng.random() < 0.6 else "deposit"
            post(tx, kind, inmate, rng.randrange(2_000, 40_000), when)
        else:
            post(tx, "purchase", inmate, -rng.randrange(100, min(have, 20_000)), when)
        tx += 1
        if len(entry_rows) >= 20_000:
            flush()
    # Everyone ends with enough for a small order.
    for inmate in inmates:
        mine = inmate_account[inmate]
        if balance[mine] < MIN_BALANCE:
            post(tx, "deposit", inmate, MIN_BALANCE - balance[mine] + 5_000, ctx.now)
            tx += 1
    flush()
    _set_balances(conn, balance)
    fix_sequence(conn, "ledger_accounts")
    fix_sequence(conn, "ledger_transactions")
    fix_sequence(conn, "ledger_entries")
    ctx.result.counts["ledger_entries"] = ctx.result.counts.get("ledger_entries", 0) + (
        2 * (tx - tx_first)
    )


def _set_balances(conn: Connection, balance: dict[int, int]) -> None:
    """Write the final balances (the cache the verifier compares with the entries)."""
    accounts = _table("ledger_accounts")
    stmt = (
        update(accounts)
        .where(accounts.c.id == bindparam("acc"))
        .values(balance=bindparam("amount"))
    )
    conn.execute(stmt, [{"acc": a, "amount": v} for a, v in balance.items()])


# Pages ---------------------------------------------------------------------------------


def fill_cart(conn: Connection, client: Client, data: PageData) -> None:
    """Put one cheap product of the inmate's facility in the inmate's cart (only it)."""
    carts = _table("commissary_cart_items")
    facility = data.unit_facility[data.inmate_unit[client.user_id]]
    cheap = data.extra["cheap_products"][str(facility)]
    product_id, _price = cheap[client.user_id % len(cheap)]
    conn.execute(carts.delete().where(carts.c.inmate_id == client.user_id))
    conn.execute(
        carts.insert().values(
            inmate_id=client.user_id,
            product_id=product_id,
            quantity=1,
            added_at=dt.datetime.now(dt.UTC),
        )
    )


def _order_form(client: Client, _data: PageData) -> dict[str, str]:
    # A fresh key per prepared request: each is a new order, not a double submit.
    return {"key": f"bench{client.session_id}x{secrets.token_hex(8)}"}


add_page(
    Page(
        "commissary catalogue",
        "kiosk",
        "/shop/",
        needs=TABLES,
        mix=1.5,
        list_page=True,
        list_item='<li class="product panel"',
        per_page=20,
    )
)
add_page(
    Page(
        "balance page",
        "kiosk",
        "/money/",
        needs=TABLES,
        mix=1.0,
        list_page=True,
        list_item="<tr>",
        per_page=26,  # 25 entries and the heading row
    )
)
add_page(
    Page(
        "order placement",
        "kiosk",
        "/shop/order",
        method="POST",
        form=_order_form,
        expect=(303,),
        needs=TABLES,
        # Orders need a filled cart: measured by the order benchmark (bench/orders.py),
        # which fills the carts first; the page run and terminal mix leave it out.
        tags=("orders",),
        prepare=fill_cart,
    )
)
