"""The whitelist in the staff app: rules (propose, approve, scope, disable, expire), trying a
URL, visits and refusals, and inmates' requests for new sites."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, func, or_, select
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from admin.helpers import me, paginate, visible
from admin.nav import Card, NavItem, add_card, add_nav
from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _, _l
from kiosk.models import (
    Facility,
    OfflineLibrary,
    RuleStatus,
    SiteRequest,
    SiteRequestStatus,
    Staff,
    Unit,
    VisitVerdict,
    WhitelistRule,
    WhitelistVisit,
)
from kiosk.security.policy import Perm, can, facility_scope
from kiosk.services import audit
from kiosk.services import whitelist as service
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state
from kiosk.whitelist import URLRefused, canonicalize
from kiosk.whitelist.library import zim_files as library_files

bp = Blueprint("whitelist", __name__, url_prefix="/whitelist")
add_nav(NavItem("whitelist.index", _l("Whitelist"), Perm.WHITELIST_VIEW, 70))

NATIONAL = "national"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"reason_text": service.reason_text}


def _scoped(staff: Staff, stmt: Any, column: Any, *, national: bool) -> Any:
    """Limit to the staff member's facilities (and national rows when ``national``)."""
    scope = facility_scope(staff)
    if scope is None:
        return stmt
    if national:
        return stmt.where(or_(column.in_(scope), column.is_(None)))
    return stmt.where(column.in_(scope))


def _refusals_today(staff: Staff) -> int | None:
    if not (can(staff, Perm.WHITELIST_VIEW) and can(staff, Perm.AUDIT_READ)):
        return None
    since = now() - dt.timedelta(hours=24)
    stmt = select(func.count(WhitelistVisit.id)).where(
        WhitelistVisit.at >= since, WhitelistVisit.verdict == VisitVerdict.REFUSED
    )
    return int(db().scalar(_scoped(staff, stmt, WhitelistVisit.facility_id, national=False)) or 0)


def _waiting(staff: Staff) -> int | None:
    if not can(staff, Perm.WHITELIST_APPROVE):
        return None
    stmt = select(func.count(WhitelistRule.id)).where(
        WhitelistRule.status == RuleStatus.PROPOSED, WhitelistRule.proposed_by_id != staff.id
    )
    scope = facility_scope(staff)
    if scope is not None:
        stmt = stmt.where(WhitelistRule.facility_id.in_(scope))
    return int(db().scalar(stmt) or 0)


add_card(
    Card(
        "whitelist_refusals",
        _l("whitelist refusals in the last 24 hours"),
        "whitelist.visits",
        _refusals_today,
        60,
    )
)
add_card(
    Card(
        "whitelist_waiting",
        _l("whitelist rules waiting for approval"),
        "whitelist.index",
        _waiting,
        61,
    )
)


def _scope_choices(staff: Staff) -> list[tuple[str, str]]:
    choices: list[tuple[str, str]] = []
    if staff.all_facilities:
        choices.append((NATIONAL, str(_l("Every facility (national)"))))
    stmt = select(Unit).join(Facility).order_by(Facility.name, Unit.code)
    scope = facility_scope(staff)
    if scope is not None:
        stmt = stmt.where(Unit.facility_id.in_(scope))
    seen: set[int] = set()
    for unit in db().scalars(stmt):
        if unit.facility_id not in seen:
            seen.add(unit.facility_id)
            choices.append((f"f:{unit.facility_id}", str(unit.facility.name)))
        choices.append(
            (
                f"u:{unit.id}",
                str(_l("%(facility)s: unit %(unit)s", facility=unit.facility.name, unit=unit.name)),
            )
        )
    return choices


def _parse_scope(value: str) -> tuple[int | None, int | None]:
    if value == NATIONAL:
        return None, None
    kind, _sep, number = value.partition(":")
    if not number.isdigit() or kind not in ("f", "u"):
        raise NotFound()
    return (int(number), None) if kind == "f" else (None, int(number))


def _end_of_day(day: dt.date | None) -> dt.datetime | None:
    """The end of a chosen day in the site's time zone, as UTC."""
    if day is None:
        return None
    zone = ZoneInfo(get_state().settings.timezone)
    local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=zone)
    return local.astimezone(dt.UTC)


class ProposeForm(BaseForm):
    """A new rule."""

    prefix = StringField(
        _l("Address prefix"),
        validators=[
            DataRequired(_l("Give the address prefix.")),
            Length(max=WhitelistRule.PREFIX_MAX),
        ],
        filters=[strip_filter],
    )
    title = StringField(
        _l("Title inmates see"),
        validators=[DataRequired(_l("Give a title.")), Length(max=WhitelistRule.TITLE_MAX)],
        filters=[strip_filter],
    )
    scope = SelectField(_l("Who may read it"), validate_choice=True)
    on_site_mirror = BooleanField(
        _l("On-site mirror (may be on a private address and its own port)")
    )
    expires_on = DateField(_l("Last day (optional)"), validators=[Optional()])
    note = TextAreaField(
        _l("Why (for the approver)"),
        validators=[Length(max=WhitelistRule.NOTE_MAX)],
        filters=[strip_filter],
    )
    site_request = HiddenField()


class ExpiryForm(BaseForm):
    """When a rule stops working."""

    expires_on = DateField(_l("Last day"), validators=[Optional()])


class DeclineForm(BaseForm):
    """Staff answer an inmate's request with no."""

    answer = TextAreaField(
        _l("Answer to the inmate"),
        validators=[Length(max=SiteRequest.ANSWER_MAX)],
        filters=[strip_filter],
    )


@bp.get("/")
@access.staff(Perm.WHITELIST_VIEW)
def index() -> str:
    """Rules in scope (national ones included), newest first; filter by status."""
    staff = me()
    status = request.args.get("status", "")
    stmt = select(WhitelistRule).order_by(WhitelistRule.proposed_at.desc(), WhitelistRule.id.desc())
    if status in {s.value for s in RuleStatus}:
        stmt = stmt.where(WhitelistRule.status == RuleStatus(status))
    else:
        status = ""
    stmt = _scoped(staff, stmt, WhitelistRule.facility_id, national=True)
    return render_template(
        "whitelist/index.html",
        page=paginate(db(), stmt),
        status=status,
        statuses=list(RuleStatus),
        now=now(),
    )


@bp.route("/new", methods=["GET", "POST"])
@access.staff(Perm.WHITELIST_PROPOSE)
def new() -> ResponseReturnValue:
    """Propose a rule (a second person approves it)."""
    staff = me()
    form = ProposeForm()
    form.scope.choices = _scope_choices(staff)
    status = 200
    if request.method == "GET":
        request_id = request.args.get("request", "")
        if request_id.isdigit() and len(request_id) < 10:
            asked = visible(SiteRequest, int(request_id), Perm.WHITELIST_PROPOSE)
            form.prefix.data = asked.url
            form.note.data = asked.reason
            form.site_request.data = str(asked.id)
            form.scope.data = f"f:{asked.facility_id}"
    if request.method == "POST":
        if form.validate():
            facility_id, unit_id = _parse_scope(form.scope.data or "")
            request_id = form.site_request.data or ""
            site_request_id = None
            if request_id:
                if not request_id.isdigit() or len(request_id) > 9:
                    raise NotFound()
                site_request_id = visible(SiteRequest, int(request_id), Perm.WHITELIST_PROPOSE).id
            try:
                rule = service.propose_rule(
                    db(),
                    actor=actor(),
                    staff=staff,
                    prefix=form.prefix.data or "",
                    title=form.title.data or "",
                    note=form.note.data or "",
                    facility_id=facility_id,
                    unit_id=unit_id,
                    on_site_mirror=bool(form.on_site_mirror.data),
                    expires_at=_end_of_day(form.expires_on.data),
                    site_request_id=site_request_id,
                    now=now(),
                )
            except service.WhitelistError as exc:
                target = getattr(form, exc.field or "prefix", form.prefix)
                target.errors = [exc.message]
                status = exc.status
            else:
                flash(_("The rule is proposed. Someone else must approve it."), "success")
                return redirect(url_for("whitelist.show", rule_id=rule.id), 303)
        else:
            status = 422
    return make_response(render_template("whitelist/new.html", form=form), status)


def _visible_rule(rule_id: int) -> WhitelistRule:
    return visible(WhitelistRule, rule_id, Perm.WHITELIST_VIEW)


@bp.get("/<id:rule_id>")
@access.staff(Perm.WHITELIST_VIEW)
def show(rule_id: int) -> ResponseReturnValue:
    """One rule, its history and what may be done with it."""
    return _show(_visible_rule(rule_id))


def _show(
    rule: WhitelistRule, *, form: ExpiryForm | None = None, status: int = 200, error: Any = None
) -> ResponseReturnValue:
    staff = me()
    if form is None:
        form = ExpiryForm()
        if rule.expires_at is not None:
            zone = ZoneInfo(get_state().settings.timezone)
            form.expires_on.data = (
                rule.expires_at.astimezone(zone) - dt.timedelta(seconds=1)
            ).date()
    recent = db().scalar(
        select(func.count(WhitelistVisit.id)).where(
            WhitelistVisit.rule_id == rule.id, WhitelistVisit.at >= now() - dt.timedelta(days=7)
        )
    )
    html = render_template(
        "whitelist/show.html",
        rule=rule,
        form=form,
        error=error,
        now=now(),
        recent=int(recent or 0),
        may_approve=rule.status is RuleStatus.PROPOSED and can(staff, Perm.WHITELIST_APPROVE, rule),
        own=rule.proposed_by_id == staff.id,
        may_change=can(staff, Perm.WHITELIST_PROPOSE, rule)
        and rule.status in (RuleStatus.PROPOSED, RuleStatus.APPROVED),
    )
    return make_response(html, status)


@bp.post("/<id:rule_id>/approve")
@access.staff(Perm.WHITELIST_APPROVE)
def approve(rule_id: int) -> ResponseReturnValue:
    """Approve someone else's proposal."""
    rule = _visible_rule(rule_id)
    form = BaseForm()
    if not form.validate():
        return _show(rule, status=422, error=_("The form had expired. Please try again."))
    try:
        service.approve_rule(db(), actor=actor(), staff=me(), rule_id=rule.id, now=now())
    except DomainError as exc:
        db().rollback()
        return _show(_visible_rule(rule_id), status=exc.status, error=exc.message)
    flash(_("The rule is approved and in force."), "success")
    return redirect(url_for("whitelist.show", rule_id=rule.id), 303)


@bp.post("/<id:rule_id>/close")
@access.staff(Perm.WHITELIST_PROPOSE)
def close(rule_id: int) -> ResponseReturnValue:
    """Reject a proposal or disable a rule."""
    rule = visible(WhitelistRule, rule_id, Perm.WHITELIST_PROPOSE)
    form = BaseForm()
    if not form.validate():
        return _show(rule, status=422, error=_("The form had expired. Please try again."))
    try:
        service.close_rule(db(), actor=actor(), staff=me(), rule_id=rule.id, now=now())
    except DomainError as exc:
        db().rollback()
        return _show(_visible_rule(rule_id), status=exc.status, error=exc.message)
    flash(_("The rule no longer allows anything."), "success")
    return redirect(url_for("whitelist.show", rule_id=rule.id), 303)


@bp.post("/<id:rule_id>/expiry")
@access.staff(Perm.WHITELIST_PROPOSE)
def expiry(rule_id: int) -> ResponseReturnValue:
    """Set or clear the last day of a rule."""
    rule = visible(WhitelistRule, rule_id, Perm.WHITELIST_PROPOSE)
    form = ExpiryForm()
    if not form.validate():
        return _show(rule, form=form, status=422)
    try:
        service.set_expiry(
            db(),
            actor=actor(),
            staff=me(),
            rule_id=rule.id,
            expires_at=_end_of_day(form.expires_on.data),
            now=now(),
        )
    except DomainError as exc:
        db().rollback()
        form.expires_on.errors = [exc.message]
        return _show(_visible_rule(rule_id), form=form, status=exc.status)
    flash(_("The last day is saved."), "success")
    return redirect(url_for("whitelist.show", rule_id=rule.id), 303)


@bp.get("/try")
@access.staff(Perm.WHITELIST_VIEW)
def try_url() -> ResponseReturnValue:
    """Try a URL against the rules in force for a facility or unit, and see why."""
    staff = me()
    choices = [c for c in _scope_choices(staff) if c[0] != NATIONAL]
    url = request.args.get("url", "")[:4096]
    scope = request.args.get("scope", "")
    verdict = None
    status = 200
    if url and scope:
        if scope not in {c[0] for c in choices}:
            raise NotFound()
        facility_id, unit_id = _parse_scope(scope)
        if unit_id is not None:
            unit = db().get(Unit, unit_id)
            if unit is None:
                raise NotFound()
            facility_id = unit.facility_id
        assert facility_id is not None  # noqa: S101 - national is not offered here
        verdict = service.explain(
            db(), url=url, facility_id=facility_id, unit_id=unit_id, now=now()
        )
    return make_response(
        render_template(
            "whitelist/try.html",
            url=url,
            scope=scope,
            choices=choices,
            verdict=verdict,
            reason=service.reason_text(verdict.reason) if verdict else None,
        ),
        status,
    )


@bp.get("/visits")
# What inmates read is for security staff and auditors, not for everyone who proposes rules.
@access.staff(Perm.WHITELIST_VIEW, Perm.AUDIT_READ)
def visits() -> str:
    """Visits and refusals in scope, newest first, with refusal counts for the last 24 hours."""
    staff = me()
    verdict = request.args.get("verdict", "")
    with unit_of_work(db()):
        # What inmates read is sensitive: who looked at it is in the audit trail. Recorded
        # before the rows are loaded, so the write transaction does not expire them.
        audit.record(
            db(),
            "whitelist.visits_read",
            actor=actor(),
            at=now(),
            details={"verdict": verdict[:16], "page": request.args.get("page", "1")[:8]},
        )
    stmt = select(WhitelistVisit).order_by(WhitelistVisit.at.desc(), WhitelistVisit.id.desc())
    if verdict in {v.value for v in VisitVerdict}:
        stmt = stmt.where(WhitelistVisit.verdict == VisitVerdict(verdict))
    else:
        verdict = ""
    stmt = _scoped(staff, stmt, WhitelistVisit.facility_id, national=False)
    since = now() - dt.timedelta(hours=24)
    counts_stmt = (
        select(WhitelistVisit.reason, func.count(WhitelistVisit.id))
        .where(WhitelistVisit.at >= since, WhitelistVisit.verdict == VisitVerdict.REFUSED)
        .group_by(WhitelistVisit.reason)
        .order_by(func.count(WhitelistVisit.id).desc())
    )
    counts_stmt = _scoped(staff, counts_stmt, WhitelistVisit.facility_id, national=False)
    hosts_stmt = (
        select(WhitelistVisit.host, func.count(WhitelistVisit.id))
        .where(WhitelistVisit.at >= since, WhitelistVisit.verdict == VisitVerdict.REFUSED)
        .group_by(WhitelistVisit.host)
        .order_by(func.count(WhitelistVisit.id).desc())
        .limit(10)
    )
    hosts_stmt = _scoped(staff, hosts_stmt, WhitelistVisit.facility_id, national=False)
    return render_template(
        "whitelist/visits.html",
        page=paginate(db(), stmt),
        verdict=verdict,
        verdicts=list(VisitVerdict),
        counts=[(service.reason_text(row[0]), row[1]) for row in db().execute(counts_stmt)],
        hosts=list(db().execute(hosts_stmt)),
    )


@bp.get("/requests")
@access.staff(Perm.WHITELIST_VIEW)
def requests() -> ResponseReturnValue:
    """Inmates' requests for new sites, open ones first, each with the refusals behind it."""
    return _requests_page()


def _requests_page(
    *, status: int = 200, form: DeclineForm | None = None, error: Any = None
) -> ResponseReturnValue:
    staff = me()
    stmt = select(SiteRequest).order_by(
        (SiteRequest.status == SiteRequestStatus.OPEN).desc(),
        SiteRequest.created_at.desc(),
        SiteRequest.id.desc(),
    )
    stmt = _scoped(staff, stmt, SiteRequest.facility_id, national=False)
    page = paginate(db(), stmt)
    refusals: dict[int, list[WhitelistVisit]] = {r.id: [] for r in page.items}
    show_refusals = can(staff, Perm.AUDIT_READ)
    if page.items and show_refusals:
        # One query for the whole page: the inmate's refusals of the same host (or URL)
        # in the 30 days before the request.
        conditions = []
        for item in page.items:
            host = _host_of(item.url)
            conditions.append(
                and_(
                    WhitelistVisit.inmate_id == item.inmate_id,
                    WhitelistVisit.verdict == VisitVerdict.REFUSED,
                    WhitelistVisit.at <= item.created_at,
                    WhitelistVisit.at >= item.created_at - dt.timedelta(days=30),
                    or_(WhitelistVisit.host == host, WhitelistVisit.url == item.url)
                    if host
                    else WhitelistVisit.url == item.url,
                )
            )
        rows = db().scalars(
            select(WhitelistVisit)
            .where(or_(*conditions))
            .order_by(WhitelistVisit.at.desc())
            .limit(500)
        )
        for visit in rows:
            for item in page.items:
                host = _host_of(item.url)
                if (
                    visit.inmate_id == item.inmate_id
                    and (visit.url == item.url or (host and visit.host == host))
                    and len(refusals[item.id]) < 5
                ):
                    refusals[item.id].append(visit)
    html = render_template(
        "whitelist/requests.html",
        page=page,
        refusals=refusals,
        show_refusals=show_refusals,
        form=form or DeclineForm(),
        error=error,
        may_propose=can(staff, Perm.WHITELIST_PROPOSE),
    )
    return make_response(html, status)


def _host_of(url: str) -> str:
    candidate = url if "://" in url else "https://" + url
    try:
        return canonicalize(candidate).host
    except URLRefused:
        return ""


@bp.post("/requests/<id:request_id>/decline")
@access.staff(Perm.WHITELIST_PROPOSE)
def decline(request_id: int) -> ResponseReturnValue:
    """Say no to an inmate's request, with an answer."""
    visible(SiteRequest, request_id, Perm.WHITELIST_PROPOSE)
    form = DeclineForm()
    if form.validate():
        try:
            service.decline_site_request(
                db(),
                actor=actor(),
                staff=me(),
                request_id=request_id,
                answer=form.answer.data or "",
                now=now(),
            )
        except DomainError as exc:
            db().rollback()
            return _requests_page(status=exc.status, error=exc.message)
        flash(_("The inmate will see your answer."), "success")
        return redirect(url_for("whitelist.requests"), 303)
    return _requests_page(
        status=422, form=form, error=_("Write at most %(n)d characters.", n=SiteRequest.ANSWER_MAX)
    )


class LibraryForm(BaseForm):
    """Offer a ZIM file as an offline library."""

    name = StringField(
        _l("Name inmates see"),
        validators=[DataRequired(_l("Give a name.")), Length(max=OfflineLibrary.NAME_MAX)],
        filters=[strip_filter],
    )
    file_name = SelectField(_l("File in the zim folder"), validate_choice=True)
    scope = SelectField(_l("Who may read it"), validate_choice=True)


def _library_scopes(staff: Staff) -> list[tuple[str, str]]:
    return [c for c in _scope_choices(staff) if not c[0].startswith("u:")]


def _libraries_page(form: LibraryForm, status: int = 200) -> ResponseReturnValue:
    staff = me()
    stmt = select(OfflineLibrary).order_by(OfflineLibrary.name, OfflineLibrary.id)
    stmt = _scoped(staff, stmt, OfflineLibrary.facility_id, national=True)
    html = render_template(
        "whitelist/libraries.html",
        page=paginate(db(), stmt),
        form=form,
        folder=str(get_state().settings.zim_folder),
        may_manage=can(staff, Perm.WHITELIST_APPROVE),
    )
    return make_response(html, status)


def _library_form() -> LibraryForm:
    form = LibraryForm()
    form.file_name.choices = [
        (name, name) for name in library_files(get_state().settings.zim_folder)
    ]
    form.scope.choices = _library_scopes(me())
    return form


@bp.get("/libraries")
@access.staff(Perm.WHITELIST_VIEW)
def libraries() -> ResponseReturnValue:
    """Offline libraries (ZIM files) and the form to offer another."""
    return _libraries_page(_library_form())


@bp.post("/libraries")
@access.staff(Perm.WHITELIST_APPROVE)
def add_library() -> ResponseReturnValue:
    """Offer a ZIM file from the zim folder to inmates."""
    form = _library_form()
    if not form.validate():
        return _libraries_page(form, 422)
    scope = form.scope.data or ""
    facility_id = None if scope == NATIONAL else _parse_scope(scope)[0]
    try:
        service.add_library(
            db(),
            actor=actor(),
            staff=me(),
            folder=get_state().settings.zim_folder,
            file_name=form.file_name.data or "",
            name=form.name.data or "",
            facility_id=facility_id,
            now=now(),
        )
    except service.WhitelistError as exc:
        db().rollback()
        target = form.name if exc.field == "name" else form.file_name
        target.errors = [exc.message]
        return _libraries_page(form, exc.status)
    flash(_("The library is open to inmates."), "success")
    return redirect(url_for("whitelist.libraries"), 303)


@bp.post("/libraries/<id:library_id>/<any(open,close):action>")
@access.staff(Perm.WHITELIST_APPROVE)
def library_state(library_id: int, action: str) -> ResponseReturnValue:
    """Open or close a library for inmates."""
    visible(OfflineLibrary, library_id, Perm.WHITELIST_APPROVE)
    if not BaseForm().validate():
        return _libraries_page(_library_form(), 422)
    service.set_library_enabled(
        db(), actor=actor(), staff=me(), library_id=library_id, enabled=action == "open", now=now()
    )
    flash(_("Saved."), "success")
    return redirect(url_for("whitelist.libraries"), 303)
