"""Commissary and money accounts: a double-entry ledger, holds, catalogue, carts and orders.

Money is an integer number of öre everywhere. Each movement is a ``LedgerTransaction``
whose ``LedgerEntry`` amounts sum to zero; ``LedgerAccount.balance`` is a cache of the
sum of the account's entries that ``kiosk ledger verify`` rebuilds and compares.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kiosk.db import Base, utcnow
from kiosk.models.media import MediaFile
from kiosk.models.people import Inmate, Staff


def _enum(cls: type[enum.StrEnum], length: int = 16) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=length,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class AccountKind(enum.StrEnum):
    """What an account holds money for."""

    INMATE = "inmate"  # an inmate's spending account
    SALES = "sales"  # commissary sales of a facility
    WAGES = "wages"  # allowance for work and studies paid by a facility
    DEPOSITS = "deposits"  # money sent in from outside
    ADJUSTMENTS = "adjustments"  # corrections approved by two staff members


class TransactionKind(enum.StrEnum):
    """Why money moved."""

    DEPOSIT = "deposit"
    WAGE = "wage"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    PURCHASE = "purchase"  # an order delivered: the hold is captured


class LedgerAccount(Base):
    """An account of the ledger; inmate accounts never go below zero."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # The database refuses what the service already refuses: a negative inmate
        # balance, negative holds or more on hold than there is.
        CheckConstraint(
            "kind != 'inmate' OR (balance >= 0 AND held >= 0 AND held <= balance)",
            name="inmate_not_negative",
        ),
    )

    KEY_MAX = 40

    id: Mapped[int] = mapped_column(primary_key=True)
    # "inmate:<id>" or "<kind>:<facility id>": one account per key, made on first use.
    key: Mapped[str] = mapped_column(String(KEY_MAX), unique=True)
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    inmate_id: Mapped[int | None] = mapped_column(ForeignKey("inmates.id"), unique=True)
    # Sum of the account's entries (a cache the verifier checks).
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Sum of the open holds: money reserved for open orders.
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    # Per-inmate weekly spending limit in öre; None means the facility's limit.
    weekly_limit: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def available(self) -> int:
        """What may still be spent: the balance less the holds."""
        return self.balance - self.held


class LedgerTransaction(Base):
    """One movement of money: its entries sum to zero."""

    __tablename__ = "ledger_transactions"

    MEMO_MAX = 200

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TransactionKind] = mapped_column(_enum(TransactionKind), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    # Shown to the inmate in the statement (staff-written; plain text).
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("commissary_orders.id"), index=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_proposals.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id"
    )


class LedgerEntry(Base):
    """One leg of a transaction: a signed amount (credit positive) on one account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount != 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    # The account's balance right after this entry: statements read it, the verifier checks it.
    balance_after: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries", lazy="joined")


class HoldStatus(enum.StrEnum):
    """Where a hold stands."""

    OPEN = "open"
    CAPTURED = "captured"
    RELEASED = "released"


class Hold(Base):
    """Money reserved on an inmate account for one open order."""

    __tablename__ = "ledger_holds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("commissary_orders.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[HoldStatus] = mapped_column(_enum(HoldStatus), default=HoldStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]


class ProposalStatus(enum.StrEnum):
    """Where a proposed manual posting stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class LedgerProposal(Base):
    """A manual posting (deposit, allowance, refund, adjustment) waiting for a second person."""

    __tablename__ = "ledger_proposals"

    MEMO_MAX = 200
    # The largest single manual posting: 100 000 kronor.
    AMOUNT_MAX = 10_000_000

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    kind: Mapped[TransactionKind] = mapped_column(_enum(TransactionKind))
    # Signed öre for the inmate's account; only adjustments may be negative.
    amount: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str] = mapped_column(String(MEMO_MAX), default="")
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus), default=ProposalStatus.PENDING, index=True
    )
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str] = mapped_column(String(MEMO_MAX), default="")

    inmate: Mapped[Inmate] = relationship(lazy="joined")
    proposed_by: Mapped[Staff] = relationship(foreign_keys=[proposed_by_id], lazy="joined")
    decided_by: Mapped[Staff | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")


# Catalogue -------------------------------------------------------------------------


class Category(enum.StrEnum):
    """Shelves of the commissary."""

    FOOD = "food"
    SNACKS = "snacks"
    DRINKS = "drinks"
    HYGIENE = "hygiene"
    STATIONERY = "stationery"  # stamps, paper, envelopes
    TOBACCO = "tobacco"
    OTHER = "other"


class Product(Base):
    """Something a facility's commissary sells."""

    __tablename__ = "commissary_products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("max_per_order >= 1", name="max_per_order_positive"),
        Index("ix_commissary_products_facility_id_category", "facility_id", "category"),
    )

    NAME_MAX = 120
    PRICE_MAX = 1_000_000  # 10 000 kronor
    STOCK_MAX = 1_000_000
    MAX_PER_ORDER_MAX = 99

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    name_sv: Mapped[str] = mapped_column(String(NAME_MAX))
    name_en: Mapped[str] = mapped_column(String(NAME_MAX))
    category: Mapped[Category] = mapped_column(_enum(Category))
    price: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    max_per_order: Mapped[int] = mapped_column(Integer, default=5)
    # How many one inmate may buy per week (e.g. one pack of tobacco); None: no limit.
    weekly_limit: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    picture_id: Mapped[int | None] = mapped_column(ForeignKey("media_files.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    picture: Mapped[MediaFile | None] = relationship(lazy="joined")
    restrictions: Mapped[list[ProductRestriction]] = relationship(
        back_populates="product", cascade="all, delete-orphan", lazy="selectin"
    )

    def name(self, lang: str) -> str:
        """The name in a language (Swedish when the language has none)."""
        return self.name_en if lang == "en" else self.name_sv


class ProductRestriction(Base):
    """A unit or an inmate that may not buy a product (diet, security)."""

    __tablename__ = "commissary_restrictions"
    __table_args__ = (
        CheckConstraint("(unit_id IS NULL) != (inmate_id IS NULL)", name="unit_or_inmate"),
        UniqueConstraint("product_id", "unit_id", "inmate_id"),
    )

    REASON_MAX = 200

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("commissary_products.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    inmate_id: Mapped[int | None] = mapped_column(ForeignKey("inmates.id"))
    reason: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="restrictions")


class CommissarySettings(Base):
    """A facility's rules: weekly limit, order window and delivery day."""

    __tablename__ = "commissary_settings"

    # 500 kronor a week unless a facility says otherwise.
    DEFAULT_WEEKLY_LIMIT = 50_000
    WEEKLY_LIMIT_MAX = 10_000_000

    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), primary_key=True)
    weekly_limit: Mapped[int] = mapped_column(BigInteger, default=DEFAULT_WEEKLY_LIMIT)
    # The order window in the facility's local time: from (weekday, minute of day) to
    # (weekday, minute). Equal ends mean always open. Monday is 0.
    open_weekday: Mapped[int] = mapped_column(Integer, default=0)
    open_minute: Mapped[int] = mapped_column(Integer, default=0)
    close_weekday: Mapped[int] = mapped_column(Integer, default=0)
    close_minute: Mapped[int] = mapped_column(Integer, default=0)
    delivery_weekday: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OrderingStop(Base):
    """A lockdown of ordering in a facility or one unit, with a message to inmates."""

    __tablename__ = "commissary_stops"

    MESSAGE_MAX = 300

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    message: Mapped[str] = mapped_column(String(MESSAGE_MAX), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    ended_at: Mapped[dt.datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


# Carts and orders -------------------------------------------------------------------


class CartItem(Base):
    """A product and quantity in an inmate's cart (kept on the server)."""

    __tablename__ = "commissary_cart_items"
    __table_args__ = (UniqueConstraint("inmate_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("commissary_products.id", ondelete="CASCADE")
    )
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(lazy="joined")


class OrderStatus(enum.StrEnum):
    """Where an order stands."""

    PLACED = "placed"
    PACKED = "packed"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


OPEN_ORDER_STATUSES = (OrderStatus.PLACED, OrderStatus.PACKED)
# Orders that count towards the weekly limits.
COUNTED_ORDER_STATUSES = (OrderStatus.PLACED, OrderStatus.PACKED, OrderStatus.DELIVERED)


class Order(Base):
    """An inmate's order: funds on hold from placing until delivery, rejection or cancelling."""

    __tablename__ = "commissary_orders"
    __table_args__ = (
        UniqueConstraint("inmate_id", "idempotency_key"),
        Index("ix_commissary_orders_inmate_id_week_start", "inmate_id", "week_start"),
        Index("ix_commissary_orders_facility_id_status", "facility_id", "status"),
        CheckConstraint("total > 0", name="total_positive"),
    )

    KEY_MAX = 64
    REASON_MAX = 300

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    idempotency_key: Mapped[str] = mapped_column(String(KEY_MAX))
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus), default=OrderStatus.PLACED)
    # Sum of the lines as ordered; the amount held.
    total: Mapped[int] = mapped_column(BigInteger)
    # What was charged at delivery (missing items are not charged).
    charged: Mapped[int | None] = mapped_column(BigInteger)
    # Monday of the facility-local week the order counts in (weekly limits).
    week_start: Mapped[dt.date] = mapped_column(Date)
    delivery_date: Mapped[dt.date | None] = mapped_column(Date)
    placed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    packed_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    # Shown to the inmate when the order is rejected.
    reason: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin"
    )
    inmate: Mapped[Inmate] = relationship(lazy="joined")

    @property
    def is_open(self) -> bool:
        """Placed or packed: money is on hold."""
        return self.status in OPEN_ORDER_STATUSES


class OrderLine(Base):
    """One product of an order, with the name and price it had when ordered."""

    __tablename__ = "commissary_order_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("commissary_orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("commissary_products.id"), index=True)
    name_sv: Mapped[str] = mapped_column(String(Product.NAME_MAX))
    name_en: Mapped[str] = mapped_column(String(Product.NAME_MAX))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    # How many were handed over; None until delivery.
    delivered: Mapped[int | None] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def amount(self) -> int:
        """Price times quantity."""
        return self.unit_price * self.quantity

    def name(self, lang: str) -> str:
        """The name in a language."""
        return self.name_en if lang == "en" else self.name_sv
