"""The ledger: balanced transactions in öre, holds, two-person manual postings, verification.

Rules that hold here and nowhere else:

- A transaction has at least two entries, each a non-zero whole number of öre, and
  its entries sum to zero (``post()`` refuses anything else before writing).
- An inmate account's balance never goes below zero and never below what is on hold.
  Every function that reads a balance to change it locks the account row first
  (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the unit of work's
  ``BEGIN IMMEDIATE`` holds the write lock), and the database has a CHECK as well.
- Manual credits and adjustments are proposed by one staff member and approved by
  another, never the same person.
- ``verify()`` rebuilds every balance from the entries and checks every invariant.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import numbers
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _l
from kiosk.models import (
    AccountKind,
    Hold,
    HoldStatus,
    Inmate,
    LedgerAccount,
    LedgerEntry,
    LedgerProposal,
    LedgerTransaction,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ProposalStatus,
    Staff,
    TransactionKind,
)
from kiosk.models.commissary import OPEN_ORDER_STATUSES
from kiosk.services import audit
from kiosk.services.audit import Actor


class LedgerError(DomainError):
    """A money rule said no."""


class UnbalancedTransaction(LedgerError):
    """Entries that do not sum to zero (a programming error, never user input)."""

    default_message = _l("The amounts of a transaction must add up to zero.")


class InsufficientFunds(LedgerError):
    """Not enough money available (balance less holds)."""

    status = 409
    default_message = _l("There is not enough money on the account.")


class SamePerson(LedgerError):
    """The proposer tried to approve their own posting."""

    status = 403
    default_message = _l("Another staff member must approve this: you proposed it yourself.")


class AlreadyDecided(LedgerError):
    """The proposal was approved or rejected already."""

    status = 409
    default_message = _l("This proposal has been decided already.")


# Money in and out of text -------------------------------------------------------------

_AMOUNT = re.compile(r"(\d{1,9})(?:[.,](\d{1,2}))?")


def parse_amount(raw: str | None, *, allow_negative: bool = False, field: str = "amount") -> int:
    """Kronor as typed ("12", "12,50", "-3.5") to öre, or a clear error."""
    text = "".join((raw or "").split()).replace("\u2212", "-")
    text = text.removesuffix("kr").removesuffix("SEK")
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise LedgerError(_l("Type an amount in kronor, for example 150 or 49,50."), field=field)
    ore = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if negative:
        if not allow_negative:
            raise LedgerError(_l("The amount must be more than zero."), field=field)
        ore = -ore
    if ore == 0:
        raise LedgerError(_l("The amount must not be zero."), field=field)
    if abs(ore) > LedgerProposal.AMOUNT_MAX:
        raise LedgerError(
            _l("The amount may be at most %(n)s kronor.", n=LedgerProposal.AMOUNT_MAX // 100),
            field=field,
        )
    return ore


def format_money(ore: int | None, locale: str | None = None) -> str:
    """Öre as kronor in the reader's language: "1 234,50 kr" / "SEK 1,234.50"."""
    from flask_babel import get_locale

    if ore is None:
        return ""
    return _format_kronor(int(ore), locale or get_locale())


def _format_kronor(ore: int, locale: Any) -> str:
    shape = _money_shape(str(locale))
    return _babel_kronor(ore, locale) if shape is None else _written(ore, shape)


def _written(ore: int, shape: tuple[str, str, str, str, str, str]) -> str:
    prefix, suffix, neg_prefix, neg_suffix, group, decimal = shape
    whole, cents = divmod(abs(ore), 100)
    digits = f"{whole:,}".replace(",", group)
    if ore < 0:
        return f"{neg_prefix}{digits}{decimal}{cents:02d}{neg_suffix}"
    return f"{prefix}{digits}{decimal}{cents:02d}{suffix}"


def _babel_kronor(ore: int, locale: Any) -> str:
    return str(numbers.format_currency(Decimal(ore) / 100, "SEK", locale=locale))


# Amounts that show every part of a currency pattern, and amounts whose grouping or sign
# a shortcut could get wrong; a language's shape is used only if it writes all of them as
# Babel does.
_SHAPE_CHECKS = (0, 1, 99, 100, 99_999, 100_000, 123_456, 1_234_567_89, -1, -50, -123_456)


@lru_cache(maxsize=64)
def _money_shape(locale: str) -> tuple[str, str, str, str, str, str] | None:
    """A language's way of writing kronor, read off Babel once: prefix, suffix (both for
    positive and negative amounts), group and decimal separators. Babel parses and applies
    the CLDR pattern afresh on every call (27 microseconds, against 1 for the shape), and a
    statement page shows dozens of different amounts (a cache of amounts missed four times
    in five). None when the language writes kronor in a way the shape cannot (other
    grouping, other digits)."""
    sample = _babel_kronor(123_456_789, locale)
    negative = _babel_kronor(-123_456_789, locale)
    first, last = sample.find("1"), sample.rfind("9")
    n_first, n_last = negative.find("1"), negative.rfind("9")
    if min(first, last, n_first, n_last) < 0:
        return None
    body = sample[first : last + 1]  # "1 234 567,89"
    if len(body) != 12 or body[1] != body[5] or body[-3].isdigit() or body[2:5] != "234":
        return None
    shape = (
        sample[:first],
        sample[last + 1 :],
        negative[:n_first],
        negative[n_last + 1 :],
        body[1],
        body[-3],
    )
    if any(_written(ore, shape) != _babel_kronor(ore, locale) for ore in _SHAPE_CHECKS):
        return None
    return shape


def kronor_text(ore: int) -> str:
    """Öre as a plain number a form can show again ("49,50")."""
    sign = "-" if ore < 0 else ""
    whole, cents = divmod(abs(ore), 100)
    return f"{sign}{whole},{cents:02d}" if cents else f"{sign}{whole}"


# Accounts ---------------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert


def _ensure(
    session: Session,
    key: str,
    kind: AccountKind,
    facility_id: int | None,
    inmate_id: int | None = None,
) -> int:
    """The id of the account with this key, made if missing (safe when two make it at once)."""
    found = session.scalar(select(LedgerAccount.id).where(LedgerAccount.key == key))
    if found is not None:
        return found
    stmt = (
        _insert(session)(LedgerAccount)
        .values(
            key=key,
            kind=kind,
            facility_id=facility_id,
            inmate_id=inmate_id,
            balance=0,
            held=0,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    session.execute(stmt)
    made = session.scalar(select(LedgerAccount.id).where(LedgerAccount.key == key))
    assert made is not None  # noqa: S101 - inserted or already there
    return made


def inmate_key(inmate_id: int) -> str:
    """The key of an inmate's account."""
    return f"inmate:{inmate_id}"


def ensure_inmate_account(session: Session, inmate: Inmate) -> int:
    """The id of an inmate's spending account (made on first use)."""
    return _ensure(
        session, inmate_key(inmate.id), AccountKind.INMATE, inmate.facility_id, inmate.id
    )


def ensure_facility_account(session: Session, facility_id: int, kind: AccountKind) -> int:
    """The id of a facility's sales, wages, deposits or adjustments account."""
    if kind is AccountKind.INMATE:
        raise ValueError("inmate accounts belong to inmates")
    return _ensure(session, f"{kind.value}:{facility_id}", kind, facility_id)


def inmate_account(session: Session, inmate_id: int) -> LedgerAccount | None:
    """An inmate's account without locking it (for pages), or None before first use."""
    return session.scalar(_by_key_stmt(), {"key": inmate_key(inmate_id)})


@functools.cache
def _by_key_stmt() -> Select[LedgerAccount]:
    # Built once, with a bound parameter: building a statement costs more than running it.
    return select(LedgerAccount).where(LedgerAccount.key == bindparam("key"))


def lock_accounts(session: Session, ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """Lock accounts for update, always in id order so two writers cannot deadlock."""
    wanted = sorted(set(ids))
    rows = session.scalars(
        select(LedgerAccount)
        .where(LedgerAccount.id.in_(wanted))
        .order_by(LedgerAccount.id)
        .with_for_update(of=LedgerAccount)
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


@functools.cache
def _lock_by_key_stmt() -> Select[LedgerAccount]:
    # Built once, with a bound parameter: building a statement costs more than running it.
    return (
        select(LedgerAccount)
        .where(LedgerAccount.key == bindparam("key"))
        .with_for_update(of=LedgerAccount)
        .execution_options(populate_existing=True)
    )


def lock_inmate_account(session: Session, inmate: Inmate) -> LedgerAccount:
    """An inmate's account locked for update (made first if missing).

    One statement when the account exists (the usual case). Only for a caller that locks
    no other account in the same transaction before it (the id order of ``lock_accounts``).
    """
    found = session.scalar(_lock_by_key_stmt(), {"key": inmate_key(inmate.id)})
    if found is not None:
        return found
    account_id = ensure_inmate_account(session, inmate)
    return lock_accounts(session, [account_id])[account_id]


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: an account and a signed amount (credit positive)."""

    account_id: int
    amount: int


def post(
    session: Session,
    *,
    kind: TransactionKind,
    legs: Sequence[Leg],
    facility_id: int | None,
    memo: str = "",
    order_id: int | None = None,
    proposal_id: int | None = None,
    locked: dict[int, LedgerAccount] | None = None,
    now: dt.datetime,
) -> LedgerTransaction:
    """Write one balanced transaction and move the balances (inside a unit of work).

    ``locked`` may pass accounts the caller locked already; the rest are locked here.
    """
    if len(legs) < 2:
        raise UnbalancedTransaction()
    for leg in legs:
        # bool is an int in Python: refuse it as well as floats and zero amounts.
        if type(leg.amount) is not int or leg.amount == 0:
            raise UnbalancedTransaction()
    if sum(leg.amount for leg in legs) != 0:
        raise UnbalancedTransaction()
    accounts = dict(locked or {})
    missing = {leg.account_id for leg in legs} - accounts.keys()
    if missing:
        accounts.update(lock_accounts(session, missing))
    for leg in legs:
        account = accounts[leg.account_id]
        if account.kind is AccountKind.INMATE and account.balance + leg.amount < account.held:
            raise InsufficientFunds(field="amount")
    tx = LedgerTransaction(
        kind=kind,
        facility_id=facility_id,
        memo=memo[: LedgerTransaction.MEMO_MAX],
        order_id=order_id,
        proposal_id=proposal_id,
        created_at=now,
    )
    session.add(tx)
    for leg in legs:
        account = accounts[leg.account_id]
        account.balance += leg.amount
        tx.entries.append(
            LedgerEntry(account_id=account.id, amount=leg.amount, balance_after=account.balance)
        )
    session.flush()
    return tx


# Holds -------------------------------------------------------------------------------------


def place_hold(
    session: Session, *, account: LedgerAccount, order_id: int, amount: int, now: dt.datetime
) -> Hold:
    """Reserve money for an order on a *locked* inmate account."""
    if type(amount) is not int or amount <= 0:
        raise UnbalancedTransaction()
    if account.available < amount:
        raise InsufficientFunds(field="quantity")
    account.held += amount
    hold = Hold(account_id=account.id, order_id=order_id, amount=amount, created_at=now)
    session.add(hold)
    return hold


def _open_hold(session: Session, order_id: int) -> Hold:
    hold = session.scalar(
        select(Hold)
        .where(Hold.order_id == order_id, Hold.status == HoldStatus.OPEN)
        .with_for_update(of=Hold)
    )
    if hold is None:
        raise LedgerError(_l("This order has no money on hold."))
    return hold


def release_hold(
    session: Session, *, account: LedgerAccount, order_id: int, now: dt.datetime
) -> int:
    """Give an order's reserved money back to the (locked) account; returns the amount."""
    hold = _open_hold(session, order_id)
    account.held -= hold.amount
    hold.status = HoldStatus.RELEASED
    hold.closed_at = now
    return hold.amount


def capture_hold(
    session: Session,
    *,
    account: LedgerAccount,
    order: Order,
    charge: int,
    now: dt.datetime,
) -> LedgerTransaction | None:
    """Close an order's hold and charge ``charge`` (at most the hold) to the sales account."""
    hold = _open_hold(session, order.id)
    if charge < 0 or charge > hold.amount:
        raise UnbalancedTransaction()
    account.held -= hold.amount
    hold.status = HoldStatus.CAPTURED
    hold.closed_at = now
    if charge == 0:
        return None
    sales_id = ensure_facility_account(session, order.facility_id, AccountKind.SALES)
    return post(
        session,
        kind=TransactionKind.PURCHASE,
        legs=[Leg(account.id, -charge), Leg(sales_id, charge)],
        facility_id=order.facility_id,
        order_id=order.id,
        locked={account.id: account},
        now=now,
    )


# Manual postings with two people -----------------------------------------------------------

# Where the money of each manual kind comes from.
_COUNTER: dict[TransactionKind, AccountKind] = {
    TransactionKind.DEPOSIT: AccountKind.DEPOSITS,
    TransactionKind.WAGE: AccountKind.WAGES,
    TransactionKind.REFUND: AccountKind.SALES,
    TransactionKind.ADJUSTMENT: AccountKind.ADJUSTMENTS,
}
MANUAL_KINDS = tuple(_COUNTER)


def _clean_memo(memo: str, limit: int) -> str:
    text = " ".join((memo or "").split())
    if len(text) > limit:
        raise LedgerError(_l("Write at most %(n)d characters.", n=limit), field="memo")
    return text


def propose(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    inmate: Inmate,
    kind: TransactionKind,
    amount: int,
    memo: str,
    now: dt.datetime,
) -> LedgerProposal:
    """Propose a deposit, allowance, refund or adjustment; another person must approve it."""
    if kind not in _COUNTER:
        raise LedgerError(_l("Choose what kind of posting this is."), field="kind")
    if type(amount) is not int or amount == 0 or abs(amount) > LedgerProposal.AMOUNT_MAX:
        raise LedgerError(_l("The amount must not be zero."), field="amount")
    if amount < 0 and kind is not TransactionKind.ADJUSTMENT:
        raise LedgerError(_l("Only an adjustment can take money from an account."), field="amount")
    text = _clean_memo(memo, LedgerProposal.MEMO_MAX)
    if not text:
        raise LedgerError(_l("Say what the money is for; the inmate sees it."), field="memo")
    with unit_of_work(session):
        account_id = ensure_inmate_account(session, inmate)
        proposal = LedgerProposal(
            account_id=account_id,
            inmate_id=inmate.id,
            facility_id=inmate.facility_id,
            kind=kind,
            amount=amount,
            memo=text,
            proposed_by_id=staff.id,
            proposed_at=now,
        )
        session.add(proposal)
        session.flush()
        audit.record(
            session,
            "ledger.propose",
            actor=actor,
            obj=proposal,
            facility_id=inmate.facility_id,
            at=now,
            details={"kind": kind.value, "amount": amount, "inmate_id": inmate.id},
        )
    return proposal


def _lock_proposal(session: Session, proposal_id: int) -> LedgerProposal:
    proposal = session.scalar(
        select(LedgerProposal)
        .where(LedgerProposal.id == proposal_id)
        .with_for_update(of=LedgerProposal)
        .execution_options(populate_existing=True)
    )
    if proposal is None:
        raise NotFound()
    if proposal.status is not ProposalStatus.PENDING:
        raise AlreadyDecided()
    return proposal


def approve(
    session: Session, *, actor: Actor, staff: Staff, proposal_id: int, now: dt.datetime
) -> LedgerTransaction:
    """A second staff member approves a proposal: the money moves."""
    failure: LedgerError | None = None
    tx: LedgerTransaction | None = None
    with unit_of_work(session):
        proposal = _lock_proposal(session, proposal_id)
        if proposal.proposed_by_id == staff.id:
            # Refused, and the attempt is on the record.
            audit.record(
                session,
                "ledger.approve",
                actor=actor,
                obj=proposal,
                outcome="refused",
                at=now,
                details={"reason": "same person"},
            )
            failure = SamePerson()
        else:
            counter = ensure_facility_account(
                session, proposal.facility_id, _COUNTER[proposal.kind]
            )
            tx = post(
                session,
                kind=proposal.kind,
                legs=[Leg(proposal.account_id, proposal.amount), Leg(counter, -proposal.amount)],
                facility_id=proposal.facility_id,
                memo=proposal.memo,
                proposal_id=proposal.id,
                now=now,
            )
            proposal.status = ProposalStatus.APPROVED
            proposal.decided_by_id = staff.id
            proposal.decided_at = now
            audit.record(
                session,
                "ledger.approve",
                actor=actor,
                obj=proposal,
                at=now,
                details={
                    "kind": proposal.kind.value,
                    "amount": proposal.amount,
                    "inmate_id": proposal.inmate_id,
                    "transaction_id": tx.id,
                },
            )
    if failure is not None:
        raise failure
    assert tx is not None  # noqa: S101 - set on success
    return tx


def reject(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    proposal_id: int,
    note: str,
    now: dt.datetime,
) -> None:
    """Turn a proposal down (the proposer may withdraw their own)."""
    text = _clean_memo(note, LedgerProposal.MEMO_MAX)
    with unit_of_work(session):
        proposal = _lock_proposal(session, proposal_id)
        proposal.status = ProposalStatus.REJECTED
        proposal.decided_by_id = staff.id
        proposal.decided_at = now
        proposal.decision_note = text
        audit.record(
            session,
            "ledger.reject",
            actor=actor,
            obj=proposal,
            at=now,
            details={"amount": proposal.amount, "inmate_id": proposal.inmate_id},
        )


def post_system_credit(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    kind: TransactionKind,
    amount: int,
    memo: str,
    now: dt.datetime,
) -> LedgerTransaction:
    """A credit from a trusted system (payroll integration, demo data): no second person."""
    if kind not in (TransactionKind.DEPOSIT, TransactionKind.WAGE) or amount <= 0:
        raise LedgerError(_l("The amount must be more than zero."), field="amount")
    with unit_of_work(session):
        account_id = ensure_inmate_account(session, inmate)
        counter = ensure_facility_account(session, inmate.facility_id, _COUNTER[kind])
        tx = post(
            session,
            kind=kind,
            legs=[Leg(account_id, amount), Leg(counter, -amount)],
            facility_id=inmate.facility_id,
            memo=memo,
            now=now,
        )
        audit.record(
            session,
            "ledger.credit",
            actor=actor,
            obj=tx,
            object_type="ledger_transaction",
            facility_id=inmate.facility_id,
            at=now,
            details={"kind": kind.value, "amount": amount, "inmate_id": inmate.id},
        )
    return tx


# Verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One broken invariant, in words an operator can act on."""

    what: str

    def __str__(self) -> str:
        return self.what


def verify(session: Session) -> list[Problem]:
    """Check every invariant of the ledger; an empty list means all is well."""
    problems: list[Problem] = []

    # 1. Every transaction balances and has at least two entries.
    sums = (
        select(
            LedgerTransaction.id,
            func.coalesce(func.sum(LedgerEntry.amount), 0),
            func.count(LedgerEntry.id),
        )
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id)
        .having(
            (func.coalesce(func.sum(LedgerEntry.amount), 0) != 0) | (func.count(LedgerEntry.id) < 2)
        )
        .order_by(LedgerTransaction.id)
    )
    for tx_id, total, count in session.execute(sums):
        problems.append(
            Problem(f"transaction {tx_id} does not balance: its {count} entries sum to {total} öre")
        )

    # 2. Every balance equals the sum of its entries; 3. inmate accounts are not negative.
    entry_sums = (
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.account_id)
        .subquery()
    )
    rows = session.execute(
        select(LedgerAccount, func.coalesce(entry_sums.c.total, 0))
        .outerjoin(entry_sums, entry_sums.c.account_id == LedgerAccount.id)
        .order_by(LedgerAccount.id)
    )
    for account, total in rows:
        if account.balance != total:
            problems.append(
                Problem(
                    f"account {account.key} shows a balance of {account.balance} öre "
                    f"but its entries sum to {total} öre"
                )
            )
        if account.kind is AccountKind.INMATE:
            if account.balance < 0:
                problems.append(
                    Problem(f"account {account.key} is negative: {account.balance} öre")
                )
            if account.held < 0 or account.held > account.balance:
                problems.append(
                    Problem(
                        f"account {account.key} holds {account.held} öre "
                        f"of a balance of {account.balance} öre"
                    )
                )

    # 4. Each entry's running balance follows from the entries before it.
    running = (
        select(
            LedgerEntry.id,
            LedgerEntry.account_id,
            LedgerEntry.balance_after,
            func.sum(LedgerEntry.amount)
            .over(partition_by=LedgerEntry.account_id, order_by=LedgerEntry.id)
            .label("run"),
        )
    ).subquery()
    bad_running = session.execute(
        select(running.c.id, running.c.account_id, running.c.balance_after, running.c.run)
        .where(running.c.balance_after != running.c.run)
        .order_by(running.c.id)
        .limit(20)
    )
    for entry_id, account_id, after, run in bad_running:
        problems.append(
            Problem(
                f"entry {entry_id} of account {account_id} says the balance became {after} öre "
                f"but the entries up to it sum to {run} öre"
            )
        )

    # 5. What accounts hold equals their open holds.
    hold_sums = (
        select(Hold.account_id, func.sum(Hold.amount).label("total"))
        .where(Hold.status == HoldStatus.OPEN)
        .group_by(Hold.account_id)
        .subquery()
    )
    for key, held, total in session.execute(
        select(LedgerAccount.key, LedgerAccount.held, func.coalesce(hold_sums.c.total, 0))
        .outerjoin(hold_sums, hold_sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.held != func.coalesce(hold_sums.c.total, 0))
        .order_by(LedgerAccount.id)
    ):
        problems.append(
            Problem(f"account {key} shows {held} öre on hold but its open holds sum to {total} öre")
        )

    # 6. Open holds belong to open orders, for the order's total; open orders have one.
    for hold_id, order_id, amount, status, total in session.execute(
        select(Hold.id, Order.id, Hold.amount, Order.status, Order.total)
        .join(Order, Order.id == Hold.order_id)
        .where(Hold.status == HoldStatus.OPEN)
        .where(~Order.status.in_(OPEN_ORDER_STATUSES) | (Order.total != Hold.amount))
        .order_by(Hold.id)
    ):
        problems.append(
            Problem(
                f"hold {hold_id} of {amount} öre is open for order {order_id}, "
                f"which is {OrderStatus(status).value} with a total of {total} öre"
            )
        )
    open_hold = select(Hold.id).where(Hold.order_id == Order.id, Hold.status == HoldStatus.OPEN)
    for (order_id,) in session.execute(
        select(Order.id)
        .where(Order.status.in_(OPEN_ORDER_STATUSES), ~open_hold.exists())
        .order_by(Order.id)
    ):
        problems.append(Problem(f"order {order_id} is open but no money is on hold for it"))

    # 7. Delivered orders were charged exactly what the ledger shows.
    charged = (
        select(LedgerTransaction.order_id, func.sum(LedgerEntry.amount).label("total"))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.kind == TransactionKind.PURCHASE,
            LedgerAccount.kind == AccountKind.INMATE,
        )
        .group_by(LedgerTransaction.order_id)
        .subquery()
    )
    for order_id, charge, total in session.execute(
        select(Order.id, Order.charged, func.coalesce(-charged.c.total, 0))
        .outerjoin(charged, charged.c.order_id == Order.id)
        .where(
            Order.status == OrderStatus.DELIVERED,
            func.coalesce(Order.charged, -1) != func.coalesce(-charged.c.total, 0),
        )
        .order_by(Order.id)
    ):
        problems.append(
            Problem(f"order {order_id} was charged {charge} öre but the ledger shows {total} öre")
        )

    # 8. Each order's total is the sum of its lines; a delivered order was charged for
    #    what was handed over, never more than was held.
    line_sums = (
        select(
            OrderLine.order_id,
            func.sum(OrderLine.unit_price * OrderLine.quantity).label("ordered"),
            func.sum(OrderLine.unit_price * func.coalesce(OrderLine.delivered, 0)).label("given"),
        )
        .group_by(OrderLine.order_id)
        .subquery()
    )
    for order_id, total, ordered, status, charge, given in session.execute(
        select(
            Order.id,
            Order.total,
            line_sums.c.ordered,
            Order.status,
            Order.charged,
            line_sums.c.given,
        )
        .outerjoin(line_sums, line_sums.c.order_id == Order.id)
        .where(
            (func.coalesce(line_sums.c.ordered, -1) != Order.total)
            | (
                (Order.status == OrderStatus.DELIVERED)
                & (
                    (func.coalesce(Order.charged, -1) != line_sums.c.given)
                    | (Order.charged > Order.total)
                )
            )
        )
        .order_by(Order.id)
    ):
        if ordered != total:
            problems.append(
                Problem(
                    f"order {order_id} has a total of {total} öre but its lines sum to {ordered}"
                )
            )
        else:
            problems.append(
                Problem(
                    f"order {order_id} ({OrderStatus(status).value}) was charged {charge} öre "
                    f"for delivered lines worth {given} öre"
                )
            )

    # 9. No stock below zero.
    for product_id, stock in session.execute(
        select(Product.id, Product.stock).where(Product.stock < 0).order_by(Product.id)
    ):
        problems.append(Problem(f"product {product_id} has negative stock: {stock}"))
    return problems
