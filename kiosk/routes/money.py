"""An inmate's money: balance, what is on hold, the weekly limit and every transaction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy import select

from kiosk.errors import NotFound
from kiosk.i18n import _l
from kiosk.models import Inmate, LedgerEntry, TransactionKind
from kiosk.routes.tiles import Tile, register_tile
from kiosk.services import commissary, ledger
from kiosk.web import access
from kiosk.web.context import db, now, user

bp = Blueprint("money", __name__, url_prefix="/money")

register_tile(
    Tile(
        endpoint="money.index",
        title=_l("My money"),
        description=_l("Your balance and every payment in and out."),
        icon="money",
        order=210,
    )
)

PER_PAGE = 25

KIND_LABELS: dict[TransactionKind, Any] = {
    TransactionKind.DEPOSIT: _l("Deposit"),
    TransactionKind.WAGE: _l("Pay for work or studies"),
    TransactionKind.REFUND: _l("Refund"),
    TransactionKind.ADJUSTMENT: _l("Correction"),
    TransactionKind.PURCHASE: _l("Commissary order"),
}


@bp.get("/")
@access.inmate()
def index() -> str:
    """Balance, holds, weekly limit left, and the statement a page at a time."""
    inmate = user()
    if not isinstance(inmate, Inmate):
        raise NotFound()
    session = db()
    raw = request.args.get("page", "1")
    number = max(int(raw), 1) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else 1
    account = ledger.inmate_account(session, inmate.id)
    entries: list[LedgerEntry] = []
    if account is not None:
        entries = list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.account_id == account.id)
                .order_by(LedgerEntry.id.desc())
                .limit(PER_PAGE + 1)
                .offset((number - 1) * PER_PAGE)
            ).unique()
        )
    return render_template(
        "money/index.html",
        summary=commissary.summary(session, inmate, now()),
        entries=entries[:PER_PAGE],
        page=number,
        has_next=len(entries) > PER_PAGE,
        kind_labels=KIND_LABELS,
    )
