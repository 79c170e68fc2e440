"""Inmates' money accounts for staff: balances, full history, postings with two people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select
from sqlalchemy.orm import raiseload
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length

from admin.helpers import me, paginate, visible
from admin.nav import Card, NavItem, add_card, add_nav
from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _, _l
from kiosk.models import (
    Inmate,
    InmateStatus,
    LedgerAccount,
    LedgerEntry,
    LedgerProposal,
    Order,
    OrderStatus,
    ProposalStatus,
    Staff,
    TransactionKind,
)
from kiosk.security.policy import Perm, can, facility_scope
from kiosk.services import audit, commissary, ledger
from kiosk.services.inmates import normalize_booking
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
add_nav(NavItem("accounts.index", _l("Money accounts"), Perm.ACCOUNT_VIEW, 41))

KIND_LABELS: dict[TransactionKind, Any] = {
    TransactionKind.DEPOSIT: _l("Deposit"),
    TransactionKind.WAGE: _l("Pay for work or studies"),
    TransactionKind.REFUND: _l("Refund"),
    TransactionKind.ADJUSTMENT: _l("Correction"),
    TransactionKind.PURCHASE: _l("Commissary order"),
}
STATUS_LABELS: dict[ProposalStatus, Any] = {
    ProposalStatus.PENDING: _l("Waiting for approval"),
    ProposalStatus.APPROVED: _l("Approved"),
    ProposalStatus.REJECTED: _l("Rejected"),
}
ORDER_LABELS: dict[OrderStatus, Any] = {
    OrderStatus.PLACED: _l("Placed"),
    OrderStatus.PACKED: _l("Packed"),
    OrderStatus.DELIVERED: _l("Delivered"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REJECTED: _l("Rejected"),
}
STATEMENT_PER_PAGE = 50


def _pending(staff: Staff) -> int | None:
    if not can(staff, Perm.ACCOUNT_APPROVE):
        return None
    stmt = select(func.count(LedgerProposal.id)).where(
        LedgerProposal.status == ProposalStatus.PENDING
    )
    scope = facility_scope(staff)
    if scope is not None:
        stmt = stmt.where(LedgerProposal.facility_id.in_(scope))
    return int(db().scalar(stmt) or 0)


add_card(Card("proposals", _l("postings to approve"), "accounts.proposals", _pending, 41))


class ProposeForm(BaseForm):
    """A deposit, allowance, refund or adjustment for a second person to approve."""

    kind = SelectField(_l("What kind of posting"), validate_choice=True)
    amount = StringField(
        _l("Amount in kronor (a correction may be negative, e.g. -25)"), filters=[strip_filter]
    )
    memo = StringField(
        _l("Text the inmate sees"),
        validators=[
            InputRequired(_l("Say what the money is for; the inmate sees it.")),
            Length(max=LedgerProposal.MEMO_MAX),
        ],
        filters=[strip_filter],
    )


class LimitForm(BaseForm):
    """One inmate's own weekly limit."""

    weekly_limit = StringField(
        _l("Own weekly limit in kronor (empty: the facility's)"), filters=[strip_filter]
    )


class DecideForm(BaseForm):
    """Approve or reject (with an optional note)."""

    note = StringField(
        _l("Note (when rejecting)"),
        validators=[Length(max=LedgerProposal.MEMO_MAX)],
        filters=[strip_filter],
    )


def _propose_form() -> ProposeForm:
    form = ProposeForm()
    form.kind.choices = [(k.value, KIND_LABELS[k]) for k in ledger.MANUAL_KINDS]
    return form


@bp.get("/")
@access.staff(Perm.ACCOUNT_VIEW)
def index() -> str:
    """Inmates in scope with their balances; search by booking number or name."""
    query = request.args.get("q", "").strip()[:64]
    stmt = (
        select(Inmate, LedgerAccount)
        .outerjoin(LedgerAccount, LedgerAccount.inmate_id == Inmate.id)
        .where(Inmate.status == InmateStatus.ACTIVE)
        .order_by(Inmate.booking_number)
    )
    scope = facility_scope(me())
    if scope is not None:
        stmt = stmt.where(Inmate.facility_id.in_(scope))
    if query:
        stmt = stmt.where(
            or_(
                Inmate.booking_number.contains(normalize_booking(query), autoescape=True),
                Inmate.name.icontains(query, autoescape=True),
            )
        )
    number = max(int(p), 1) if (p := request.args.get("page", "1")).isdigit() and len(p) < 6 else 1
    rows = db().execute(stmt.limit(51).offset((number - 1) * 50)).all()
    return render_template(
        "accounts/index.html",
        rows=rows[:50],
        number=number,
        has_next=len(rows) > 50,
        query=query,
    )


def _account_page(
    inmate: Inmate,
    *,
    form: ProposeForm | None = None,
    limit_form: LimitForm | None = None,
) -> str:
    session = db()
    account = ledger.inmate_account(session, inmate.id)
    entries = None
    if account is not None:
        entries = paginate(
            session,
            select(LedgerEntry)
            .where(LedgerEntry.account_id == account.id)
            .order_by(LedgerEntry.id.desc()),
            STATEMENT_PER_PAGE,
        )
    proposals = list(
        session.scalars(
            select(LedgerProposal)
            .where(LedgerProposal.inmate_id == inmate.id)
            .order_by(LedgerProposal.id.desc())
            .limit(20)
        )
    )
    orders = list(
        session.scalars(
            select(Order)
            .options(raiseload(Order.lines))
            .where(Order.inmate_id == inmate.id)
            .order_by(Order.id.desc())
            .limit(10)
        )
    )
    if limit_form is None:
        limit_form = LimitForm(formdata=None)
        if account is not None and account.weekly_limit is not None:
            limit_form.weekly_limit.data = ledger.kronor_text(account.weekly_limit)
    if form is None:
        form = ProposeForm(formdata=None)
        form.kind.choices = [(k.value, KIND_LABELS[k]) for k in ledger.MANUAL_KINDS]
    return render_template(
        "accounts/show.html",
        inmate=inmate,
        account=account,
        summary=commissary.summary(session, inmate, now()),
        entries=entries,
        proposals=proposals,
        orders=orders,
        order_labels=ORDER_LABELS,
        form=form,
        limit_form=limit_form,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        may_post=can(me(), Perm.ACCOUNT_POST, inmate),
        may_approve=can(me(), Perm.ACCOUNT_APPROVE, inmate),
    )


@bp.get("/<id:inmate_id>")
@access.staff(Perm.ACCOUNT_VIEW)
def show(inmate_id: int) -> str:
    """One inmate's account: balance, holds, limit, full history (the read is audited)."""
    inmate = visible(Inmate, inmate_id, Perm.ACCOUNT_VIEW)
    with unit_of_work(db()):
        audit.record(db(), "ledger.view", actor=actor(), obj=inmate, at=now())
    return _account_page(inmate)


@bp.post("/<id:inmate_id>/propose")
@access.staff(Perm.ACCOUNT_POST)
def propose(inmate_id: int) -> ResponseReturnValue:
    """Propose a posting; another staff member approves it."""
    inmate = visible(Inmate, inmate_id, Perm.ACCOUNT_POST)
    form = _propose_form()
    if not form.validate():
        return make_response(_account_page(inmate, form=form), 422)
    try:
        kind = TransactionKind(form.kind.data)
        amount = ledger.parse_amount(
            form.amount.data, allow_negative=kind is TransactionKind.ADJUSTMENT
        )
        ledger.propose(
            db(),
            actor=actor(),
            staff=me(),
            inmate=inmate,
            kind=kind,
            amount=amount,
            memo=form.memo.data or "",
            now=now(),
        )
    except DomainError as exc:
        target = getattr(form, exc.field or "amount", form.amount)
        target.errors = [*target.errors, exc.message]
        return make_response(_account_page(inmate, form=form), exc.status)
    flash(_("Proposed. Another staff member must approve it before the money moves."), "success")
    return make_response(redirect(url_for("accounts.show", inmate_id=inmate.id)), 303)


@bp.post("/<id:inmate_id>/limit")
@access.staff(Perm.ACCOUNT_POST)
def limit(inmate_id: int) -> ResponseReturnValue:
    """Set or clear one inmate's own weekly limit."""
    inmate = visible(Inmate, inmate_id, Perm.ACCOUNT_POST)
    form = LimitForm()
    if not form.validate():
        return make_response(_account_page(inmate, limit_form=form), 422)
    raw = (form.weekly_limit.data or "").strip()
    try:
        value = ledger.parse_amount(raw, field="weekly_limit") if raw else None
        commissary.set_inmate_limit(
            db(), actor=actor(), inmate=inmate, weekly_limit=value, now=now()
        )
    except DomainError as exc:
        form.weekly_limit.errors = [exc.message]
        return make_response(_account_page(inmate, limit_form=form), exc.status)
    flash(_("The weekly limit is saved."), "success")
    return make_response(redirect(url_for("accounts.show", inmate_id=inmate.id)), 303)


@bp.get("/proposals")
@access.staff(Perm.ACCOUNT_VIEW)
def proposals() -> str:
    """Postings waiting for a second person, oldest first."""
    stmt = (
        select(LedgerProposal)
        .where(LedgerProposal.status == ProposalStatus.PENDING)
        .order_by(LedgerProposal.id)
    )
    scope = facility_scope(me())
    if scope is not None:
        stmt = stmt.where(LedgerProposal.facility_id.in_(scope))
    return render_template(
        "accounts/proposals.html",
        page=paginate(db(), stmt),
        kind_labels=KIND_LABELS,
        form=DecideForm(formdata=None),
        may_approve=can(me(), Perm.ACCOUNT_APPROVE),
    )


@bp.post("/proposals/<id:proposal_id>/approve")
@access.staff(Perm.ACCOUNT_APPROVE)
def approve(proposal_id: int) -> ResponseReturnValue:
    """Approve someone else's proposal: the money moves now."""
    proposal = visible(LedgerProposal, proposal_id, Perm.ACCOUNT_APPROVE)
    form = DecideForm()
    if form.validate():
        try:
            ledger.approve(db(), actor=actor(), staff=me(), proposal_id=proposal.id, now=now())
        except DomainError as exc:
            flash(str(exc.message), "error")
            return make_response(redirect(url_for("accounts.proposals")), 303)
        flash(_("Approved. The money has moved."), "success")
    return make_response(redirect(url_for("accounts.proposals")), 303)


@bp.post("/proposals/<id:proposal_id>/reject")
@access.staff(Perm.ACCOUNT_POST)
def reject(proposal_id: int) -> ResponseReturnValue:
    """Reject a proposal (an approver), or withdraw one's own."""
    proposal = visible(LedgerProposal, proposal_id, Perm.ACCOUNT_POST)
    staff = me()
    if proposal.proposed_by_id != staff.id and not can(staff, Perm.ACCOUNT_APPROVE, proposal):
        flash(_("You do not have permission to do this."), "error")
        return make_response(redirect(url_for("accounts.proposals")), 303)
    form = DecideForm()
    if form.validate():
        try:
            ledger.reject(
                db(),
                actor=actor(),
                staff=staff,
                proposal_id=proposal.id,
                note=form.note.data or "",
                now=now(),
            )
        except DomainError as exc:
            flash(str(exc.message), "error")
            return make_response(redirect(url_for("accounts.proposals")), 303)
        flash(_("The proposal is rejected; no money moved."), "success")
    return make_response(redirect(url_for("accounts.proposals")), 303)
