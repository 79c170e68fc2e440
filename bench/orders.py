"""Order placement rate, and a check under concurrency that no balance is overspent.

1. Every benchmark inmate gets a cart with one cheap product (written directly).
2. Rate: wrk posts "place order" (``POST /shop/order``, a fresh key each) for those
   inmates, one order per cart, as fast as the server takes them. The rate counted
   is the orders the database holds afterwards, per second.
3. Race: for a set of other inmates the balance is brought down (by a balanced
   adjustment in the ledger) so that it covers one cart but not two; each then
   posts two orders at the same moment with different keys. At most one may win.
4. ``kiosk ledger verify``'s checks run over the whole ledger, and no inmate account
   may show more on hold than its balance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, func, insert, select, text, update

from bench import wrk
from bench.data import next_id, table
from bench.pages import find
from bench.sessions import Client, refresh_sessions
from bench.terminals import raw_request, wait_until_idle

if TYPE_CHECKING:
    from bench.config import BenchConfig
    from bench.run import Prepared
    from bench.servers import Server

NEEDS = ("commissary_products", "commissary_orders", "ledger_entries", "commissary_cart_items")
RACE_INMATES = 200


def unique_inmates(clients: Sequence[Client]) -> list[Client]:
    """One kiosk session per inmate (carts and balances belong to inmates)."""
    seen: set[int] = set()
    out: list[Client] = []
    for c in clients:
        if c.app == "kiosk" and c.user_id not in seen:
            seen.add(c.user_id)
            out.append(c)
    return out


def fill_carts(conn: Connection, clients: Sequence[Client], prep: Prepared) -> dict[int, int]:
    """One cheap product in each inmate's cart; returns inmate id -> cart total (öre)."""
    carts = table("commissary_cart_items")
    ids = [c.user_id for c in clients]
    for start in range(0, len(ids), 900):
        conn.execute(carts.delete().where(carts.c.inmate_id.in_(ids[start : start + 900])))
    cheap = prep.data.extra["cheap_products"]
    now = dt.datetime.now(dt.UTC)
    rows, totals = [], {}
    for c in clients:
        facility = prep.data.unit_facility[prep.data.inmate_unit[c.user_id]]
        items = cheap[str(facility)]
        product_id, price = items[c.user_id % len(items)]
        rows.append(
            {"inmate_id": c.user_id, "product_id": product_id, "quantity": 1, "added_at": now}
        )
        totals[c.user_id] = int(price)
    conn.execute(insert(carts), rows)
    return totals


def tighten(conn: Connection, totals: dict[int, int], prep: Prepared) -> None:
    """Leave each of these inmates able to pay for one cart, not two (a balanced adjustment)."""
    accounts = table("ledger_accounts")
    txs = table("ledger_transactions")
    entries = table("ledger_entries")
    tx_id = next_id(conn, "ledger_transactions")
    entry_id = next_id(conn, "ledger_entries")
    now = dt.datetime.now(dt.UTC)
    for inmate, total in totals.items():
        mine = conn.execute(
            select(
                accounts.c.id, accounts.c.balance, accounts.c.held, accounts.c.facility_id
            ).where(accounts.c.key == f"inmate:{inmate}")
        ).one()
        target = int(mine.held) + total + total // 2
        delta = target - int(mine.balance)
        if delta == 0:
            continue
        source = conn.execute(
            select(accounts.c.id, accounts.c.balance).where(
                accounts.c.key == f"adjustments:{mine.facility_id}"
            )
        ).one()
        conn.execute(
            insert(txs).values(
                id=tx_id,
                kind="adjustment",
                facility_id=mine.facility_id,
                memo="bench",
                order_id=None,
                proposal_id=None,
                created_at=now,
            )
        )
        for acc, amount, before in (
            (mine.id, delta, mine.balance),
            (source.id, -delta, source.balance),
        ):
            conn.execute(
                insert(entries).values(
                    id=entry_id,
                    transaction_id=tx_id,
                    account_id=acc,
                    amount=amount,
                    balance_after=int(before) + amount,
                )
            )
            conn.execute(
                update(accounts).where(accounts.c.id == acc).values(balance=int(before) + amount)
            )
            entry_id += 1
        tx_id += 1
    if conn.dialect.name == "postgresql":
        for name in ("ledger_transactions", "ledger_entries"):
            sql = f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))"  # noqa: S608, E501 - our own table names
            conn.execute(text(sql))


async def _race(port: int, pairs: Sequence[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
    from bench.terminals import _view

    async def both(a: bytes, b: bytes) -> tuple[int, int]:
        results = await asyncio.gather(
            _view(port, a, 30), _view(port, b, 30), return_exceptions=True
        )
        return tuple(r if isinstance(r, int) else 0 for r in results)  # type: ignore[return-value]

    return list(await asyncio.gather(*(both(a, b) for a, b in pairs)))


def _order_request(client: Client, prep: Prepared) -> bytes:
    page = find("order placement")
    return raw_request("127.0.0.1", page, client, prep.data)


def run(
    config: BenchConfig, prep: Prepared, server: Server, log: Callable[[str], None]
) -> dict[str, Any]:
    """Place orders as fast as the server takes them, race double orders, verify the ledger."""
    missing = [t for t in NEEDS if t not in prep.tables]
    if missing:
        return {
            "measured": False,
            "reason": "commissary not on main yet (no table " + ", ".join(missing) + ")",
        }
    engine = create_engine(prep.url)
    inmates = unique_inmates(prep.clients)
    race = inmates[-RACE_INMATES:] if len(inmates) > 2 * RACE_INMATES else []
    rate = inmates[: len(inmates) - len(race)]
    orders = table("commissary_orders")
    with engine.begin() as conn:
        fill_carts(conn, rate, prep)
        race_totals = fill_carts(conn, race, prep) if race else {}
        tighten(conn, race_totals, prep)
        before = int(conn.scalar(select(func.count()).select_from(orders)) or 0)
    refresh_sessions(engine, inmates, dt.datetime.now(dt.UTC))

    page = find("order placement")
    prepared = [
        wrk.Prepared(
            method="POST",
            path="/shop/order",
            cookie=c.cookie_header,
            form=tuple(page.form_for(c, prep.data).items()),
        )
        for c in rate
    ]
    started = time.perf_counter()
    figures = wrk.run(
        server.url,
        prepared,
        expect=(303,),
        duration=config.order_duration,
        connections=config.order_connections,
        threads=config.wrk_threads,
        workdir=config.workdir,
    )
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        placed = int(conn.scalar(select(func.count()).select_from(orders)) or 0) - before
    log(
        f"{prep.kind}: orders: {placed} placed in {figures.seconds:.1f} s"
        f" ({placed / figures.seconds:.0f}/s), p99 {figures.p99_ms:.0f} ms,"
        f" other answers {figures.errors}"
    )

    race_result: dict[str, Any] = {}
    if race:
        pairs = [(_order_request(c, prep), _order_request(c, prep)) for c in race]
        # Requests wrk left queued finish first; the race starts on a quiet server.
        wait_until_idle(server.port)
        with engine.connect() as conn:
            last_id = int(conn.scalar(select(func.max(orders.c.id))) or 0)
        statuses = asyncio.run(_race(server.port, pairs))
        with engine.connect() as conn:
            per_inmate: dict[int, int] = {
                int(inmate): int(n)
                for inmate, n in conn.execute(
                    select(orders.c.inmate_id, func.count())
                    .where(
                        orders.c.inmate_id.in_([c.user_id for c in race]),
                        orders.c.id > last_id,
                    )
                    .group_by(orders.c.inmate_id)
                ).all()
            }
        doubled = sum(1 for n in per_inmate.values() if n > 1)
        race_result = {
            "inmates": len(race),
            "orders_placed": sum(per_inmate.values()),
            "inmates_with_two_orders": doubled,
            "answers": sorted({s for pair in statuses for s in pair}),
        }
        log(f"{prep.kind}: race: {race_result}")

    problems = verify_ledger(prep)
    engine.dispose()
    return {
        "measured": True,
        "orders_placed": placed,
        "seconds": round(figures.seconds, 2),
        "wall_seconds": round(elapsed, 2),
        "orders_per_s": round(placed / figures.seconds, 1) if figures.seconds else 0.0,
        "p50_ms": round(figures.p50_ms, 1),
        "p95_ms": round(figures.p95_ms, 1),
        "p99_ms": round(figures.p99_ms, 1),
        "errors": figures.errors,
        "first_other_status": figures.bad_status,
        "carts": len(rate),
        "race": race_result,
        "ledger_problems": problems[:10],
        "ledger_check": "consistent, no overspend" if not problems else f"{len(problems)} problems",
        "target_met": prep.kind == "postgresql"
        and not problems
        and placed / max(figures.seconds, 1e-9) >= 200
        and not race_result.get("inmates_with_two_orders"),
    }


def verify_ledger(prep: Prepared) -> list[str]:
    """The ledger verifier's findings (empty when all is well), plus held <= balance."""
    from kiosk.db import Database
    from kiosk.services import ledger

    database = Database(prep.url)
    try:
        with database.session() as session:
            problems = [str(p) for p in ledger.verify(session)]
            over = session.execute(
                text(
                    "SELECT COUNT(*) FROM ledger_accounts"
                    " WHERE kind = 'inmate' AND (held > balance OR balance < 0)"
                )
            ).scalar()
            if over:
                problems.append(f"{over} inmate accounts hold more than their balance")
    finally:
        database.dispose()
    return problems
