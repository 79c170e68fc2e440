"""Whitelist rules: proposed by one person, approved by another, scoped, disabled, expired.

The rules in force for an inmate are the approved, unexpired ones that are national,
for the inmate's facility, or for the inmate's unit. ``whitelist_for()`` turns them
into a ``kiosk.whitelist.Whitelist``; nothing else decides what an inmate may read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, raiseload

from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _l
from kiosk.models import (
    CachedPage,
    Facility,
    Inmate,
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
from kiosk.security.policy import Perm, can
from kiosk.services import audit
from kiosk.services.audit import Actor
from kiosk.whitelist import (
    CanonicalURL,
    Reason,
    Rule,
    URLRefused,
    Verdict,
    Whitelist,
    canonicalize,
    library,
)
from kiosk.whitelist.fetch import Fetched, Fetcher, FetchError, kind_of


class WhitelistError(DomainError):
    """A whitelist rule said no."""


class PrefixInvalid(WhitelistError):
    """The prefix is not a canonical http(s) URL prefix."""

    default_message = _l("This is not an address the whitelist can hold.")


class RuleExists(WhitelistError):
    """The same prefix is already proposed or approved for the same scope."""

    status = 409
    default_message = _l("This address is already on the whitelist for this scope.")


class SamePerson(WhitelistError):
    """Nobody approves their own proposal."""

    status = 409
    default_message = _l("Someone other than the proposer must approve a rule.")


class WrongState(WhitelistError):
    """The rule is no longer in a state that allows this."""

    status = 409
    default_message = _l("This rule has changed in the meantime. Look at it again.")


# Human words for every refusal reason, for staff and inmates.
REASON_TEXT: dict[str, Any] = {
    Reason.ALLOWED: _l("Allowed."),
    Reason.NOT_TEXT: _l("Not an address."),
    Reason.TOO_LONG: _l("The address is too long."),
    Reason.NON_ASCII: _l("The address contains characters outside plain ASCII."),
    Reason.WHITESPACE_OR_CONTROL: _l("The address contains spaces or control characters."),
    Reason.BACKSLASH: _l("The address contains a backslash."),
    Reason.SCHEME: _l("Only http and https addresses can be read."),
    Reason.NOT_ABSOLUTE: _l("The address must be complete, starting with https://."),
    Reason.USERINFO: _l("The address contains a user name or an @ before the host."),
    Reason.BAD_HOST: _l("The host name is not valid."),
    Reason.ENCODED_HOST: _l("The host name is percent-encoded."),
    Reason.IP_LITERAL: _l("The host is a numeric IP address."),
    Reason.TRAILING_DOT: _l("The host name ends with a dot."),
    Reason.PORT: _l("The address names a port that no rule allows."),
    Reason.BAD_ENCODING: _l("The address has broken or repeated percent-encoding."),
    Reason.ENCODED_SLASH: _l("The path contains an encoded slash or backslash."),
    Reason.DOT_SEGMENT: _l("The path contains . or .. segments."),
    Reason.EMPTY_SEGMENT: _l("The path contains an empty segment (//)."),
    Reason.NO_RULE: _l("No rule allows this address."),
}


def reason_text(reason: str) -> Any:
    """The translated explanation of a refusal reason (or of a fetch failure)."""
    return REASON_TEXT.get(reason, FETCH_REASON_TEXT.get(reason, _l("Refused.")))


FETCH_REASON_TEXT: dict[str, Any] = {
    "private_address": _l("The site's address is inside a private network."),
    "dns": _l("The site's name could not be looked up."),
    "connect": _l("The site could not be reached."),
    "timeout": _l("The site took too long to answer."),
    "too_large": _l("The page is larger than the reader accepts."),
    "content_type": _l("The reader shows only web pages, pictures and PDF files."),
    "redirect": _l("The site sent the reader somewhere the whitelist does not allow."),
    "too_many_redirects": _l("The site redirected too many times."),
    "tls": _l("The site's certificate could not be verified."),
    "protocol": _l("The site answered in a way the reader does not understand."),
    "upstream_status": _l("The site answered with an error."),
    "not_found": _l("The page was not found."),
}


def _check_scope(
    session: Session, staff: Staff, facility_id: int | None, unit_id: int | None
) -> tuple[int | None, int | None]:
    """The (facility, unit) scope, checked against the staff member's own scope."""
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise WhitelistError(_l("Choose a unit."), field="scope")
        if facility_id is not None and unit.facility_id != facility_id:
            raise WhitelistError(_l("Choose a unit."), field="scope")
        facility_id = unit.facility_id
    elif facility_id is not None and session.get(Facility, facility_id) is None:
        raise WhitelistError(_l("Choose a facility."), field="scope")
    probe = WhitelistRule(facility_id=facility_id)
    if not can(staff, Perm.WHITELIST_PROPOSE, probe):
        # A national rule needs national scope; a facility rule needs that facility.
        raise NotFound()
    return facility_id, unit_id


def propose_rule(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    prefix: str,
    title: str,
    note: str = "",
    facility_id: int | None,
    unit_id: int | None = None,
    on_site_mirror: bool = False,
    expires_at: dt.datetime | None = None,
    site_request_id: int | None = None,
    now: dt.datetime,
) -> WhitelistRule:
    """A proposed rule; it allows nothing until someone else approves it."""
    try:
        rule = Rule(prefix.strip(), mirror=on_site_mirror)
    except URLRefused as refused:
        raise PrefixInvalid(
            _l(
                "This is not an address the whitelist can hold: %(why)s",
                why=reason_text(refused.reason),
            ),
            field="prefix",
        ) from None
    title = title.strip()
    if not title or len(title) > WhitelistRule.TITLE_MAX:
        raise WhitelistError(
            _l("Give a title of at most %(n)d characters.", n=WhitelistRule.TITLE_MAX),
            field="title",
        )
    if len(note) > WhitelistRule.NOTE_MAX:
        raise WhitelistError(
            _l("Write at most %(n)d characters.", n=WhitelistRule.NOTE_MAX), field="note"
        )
    if expires_at is not None and expires_at <= now:
        raise WhitelistError(_l("The expiry date must lie in the future."), field="expires_at")
    with unit_of_work(session):
        facility_id, unit_id = _check_scope(session, staff, facility_id, unit_id)
        duplicate = session.scalars(
            select(WhitelistRule.id).where(
                WhitelistRule.prefix == rule.canonical,
                WhitelistRule.facility_id.is_(None)
                if facility_id is None
                else WhitelistRule.facility_id == facility_id,
                WhitelistRule.unit_id.is_(None)
                if unit_id is None
                else WhitelistRule.unit_id == unit_id,
                WhitelistRule.status.in_([RuleStatus.PROPOSED, RuleStatus.APPROVED]),
            )
        ).first()
        if duplicate is not None:
            raise RuleExists(field="prefix")
        row = WhitelistRule(
            prefix=rule.canonical,
            title=title,
            note=note.strip(),
            on_site_mirror=on_site_mirror,
            facility_id=facility_id,
            unit_id=unit_id,
            status=RuleStatus.PROPOSED,
            proposed_by_id=staff.id,
            proposed_at=now,
            expires_at=expires_at,
            site_request_id=site_request_id,
        )
        session.add(row)
        session.flush()
        if site_request_id is not None:
            request_row = session.scalars(
                select(SiteRequest)
                .where(SiteRequest.id == site_request_id)
                .with_for_update(of=SiteRequest)
                .execution_options(populate_existing=True)
            ).first()
            if request_row is not None and request_row.status is SiteRequestStatus.OPEN:
                request_row.status = SiteRequestStatus.PROPOSED
                request_row.handled_by_id = staff.id
                request_row.handled_at = now
        audit.record(
            session,
            "whitelist.propose",
            actor=actor,
            obj=row,
            at=now,
            facility_id=facility_id,
            details={
                "prefix": row.prefix,
                "unit_id": unit_id,
                "mirror": on_site_mirror,
                "expires_at": expires_at,
            },
        )
    return row


def _locked(session: Session, staff: Staff, rule_id: int, perm: Perm) -> WhitelistRule:
    row = session.scalars(
        select(WhitelistRule)
        .where(WhitelistRule.id == rule_id)
        .with_for_update(of=WhitelistRule)
        .execution_options(populate_existing=True)
    ).first()
    if row is None or not can(staff, perm, row):
        raise NotFound()
    return row


def approve_rule(
    session: Session, *, actor: Actor, staff: Staff, rule_id: int, now: dt.datetime
) -> WhitelistRule:
    """Approve someone else's proposal: from now on it allows what it names."""
    with unit_of_work(session):
        row = _locked(session, staff, rule_id, Perm.WHITELIST_VIEW)
        if row.proposed_by_id == staff.id:
            raise SamePerson()
        if not can(staff, Perm.WHITELIST_APPROVE, row):
            raise NotFound()
        if row.status is not RuleStatus.PROPOSED:
            raise WrongState()
        if row.expires_at is not None and row.expires_at <= now:
            raise WrongState(_l("This proposal has expired. Propose it again."))
        row.status = RuleStatus.APPROVED
        row.approved_by_id = staff.id
        row.approved_at = now
        audit.record(
            session,
            "whitelist.approve",
            actor=actor,
            obj=row,
            at=now,
            facility_id=row.facility_id,
            details={"prefix": row.prefix, "proposed_by": row.proposed_by_id},
        )
    return row


def close_rule(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    rule_id: int,
    now: dt.datetime,
) -> WhitelistRule:
    """Reject a proposal or disable an approved rule; either way it allows nothing more."""
    with unit_of_work(session):
        row = _locked(session, staff, rule_id, Perm.WHITELIST_PROPOSE)
        if row.status is RuleStatus.PROPOSED:
            row.status = RuleStatus.REJECTED
            action = "whitelist.reject"
        elif row.status is RuleStatus.APPROVED:
            row.status = RuleStatus.DISABLED
            action = "whitelist.disable"
        else:
            raise WrongState()
        row.closed_by_id = staff.id
        row.closed_at = now
        audit.record(
            session,
            action,
            actor=actor,
            obj=row,
            at=now,
            facility_id=row.facility_id,
            details={"prefix": row.prefix},
        )
    return row


def set_expiry(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    rule_id: int,
    expires_at: dt.datetime | None,
    now: dt.datetime,
) -> WhitelistRule:
    """Shorten (or clear) when a rule stops working. Lengthening needs a new approval:
    only an approver may extend an approved rule."""
    with unit_of_work(session):
        row = _locked(session, staff, rule_id, Perm.WHITELIST_PROPOSE)
        if row.status not in (RuleStatus.PROPOSED, RuleStatus.APPROVED):
            raise WrongState()
        if expires_at is not None and expires_at <= now:
            raise WhitelistError(_l("The expiry date must lie in the future."), field="expires_at")
        extends = row.expires_at is not None and (expires_at is None or expires_at > row.expires_at)
        if (
            extends
            and row.status is RuleStatus.APPROVED
            and not can(staff, Perm.WHITELIST_APPROVE, row)
        ):
            raise SamePerson(
                _l("Only someone other than the proposer, who may approve, can extend a rule.")
            )
        before = row.expires_at
        row.expires_at = expires_at
        audit.record(
            session,
            "whitelist.expiry",
            actor=actor,
            obj=row,
            at=now,
            facility_id=row.facility_id,
            details={"prefix": row.prefix, "before": before, "after": expires_at},
        )
    return row


def _in_force(now: dt.datetime) -> Any:
    return and_(
        WhitelistRule.status == RuleStatus.APPROVED,
        or_(WhitelistRule.expires_at.is_(None), WhitelistRule.expires_at > now),
    )


def rules_in_force(
    session: Session, *, facility_id: int, unit_id: int | None, now: dt.datetime
) -> list[WhitelistRule]:
    """Approved, unexpired rules for a facility and unit (national ones included)."""
    unit_clause = (
        WhitelistRule.unit_id.is_(None)
        if unit_id is None
        else or_(WhitelistRule.unit_id.is_(None), WhitelistRule.unit_id == unit_id)
    )
    stmt = (
        select(WhitelistRule)
        .where(
            _in_force(now),
            or_(WhitelistRule.facility_id.is_(None), WhitelistRule.facility_id == facility_id),
            unit_clause,
        )
        .order_by(WhitelistRule.prefix, WhitelistRule.id)
        # The reader needs the rules' own columns only; joining in who proposed and
        # approved each (and their roles) cost more than the rest of the page.
        .options(raiseload("*"))
    )
    return list(session.scalars(stmt))


def as_whitelist(rows: list[WhitelistRule]) -> Whitelist:
    """The checker for these rows (a row whose prefix no longer parses is left out)."""
    rules: list[Rule] = []
    for row in rows:
        try:
            rules.append(Rule(row.prefix, mirror=row.on_site_mirror, id=row.id))
        except URLRefused:
            continue
    return Whitelist(rules)


def whitelist_for(session: Session, inmate: Inmate, now: dt.datetime) -> Whitelist:
    """What this inmate may read right now."""
    return as_whitelist(
        rules_in_force(session, facility_id=inmate.facility_id, unit_id=inmate.unit_id, now=now)
    )


def explain(
    session: Session, *, url: str, facility_id: int, unit_id: int | None, now: dt.datetime
) -> Verdict:
    """The verdict for ``url`` in a facility (and unit), for the staff's try-a-URL page."""
    rows = rules_in_force(session, facility_id=facility_id, unit_id=unit_id, now=now)
    return as_whitelist(rows).check(url)


# Visits, the page cache and inmates' requests ----------------------------------------


def record_visit(
    session: Session,
    *,
    inmate: Inmate,
    terminal_id: int | None,
    url: str,
    verdict: VisitVerdict,
    reason: str,
    rule_id: int | None = None,
    kind: str = "page",
    upstream_status: int | None = None,
    now: dt.datetime,
) -> WhitelistVisit:
    """Log one visit or refusal (inmate, URL, verdict): every request of the reader writes one."""
    host = ""
    try:
        host = canonicalize(url).host
    except URLRefused:
        host = ""
    with unit_of_work(session):
        row = WhitelistVisit(
            at=now,
            inmate_id=inmate.id,
            facility_id=inmate.facility_id,
            unit_id=inmate.unit_id,
            terminal_id=terminal_id,
            url=url[: WhitelistVisit.URL_MAX],
            host=host[:255],
            verdict=verdict,
            reason=reason[:40],
            rule_id=rule_id,
            kind=kind[:16],
            upstream_status=upstream_status,
        )
        session.add(row)
    return row


def _cache_key(url: str) -> str:
    return hashlib.sha256(url.encode("ascii", errors="replace")).hexdigest()


def fetch_cached(
    session: Session,
    fetcher: Fetcher,
    url: CanonicalURL,
    *,
    kinds: frozenset[str],
    now: dt.datetime,
    cache_seconds: int,
) -> Fetched:
    """The content at ``url``: from the cache while fresh, else fetched (and cached).

    The URL has passed the whitelist already; a cached answer that came through a
    redirect is used only while its final address is still allowed.
    """
    key_url = url.geturl(fragment=False)
    key = _cache_key(key_url)
    if cache_seconds > 0:
        row = session.scalars(
            select(CachedPage).where(CachedPage.url_hash == key, CachedPage.expires_at > now)
        ).first()
        if row is not None and fetcher.whitelist.allows(row.final_url):
            kind = kind_of(row.content_type)
            if kind is None or kind not in kinds:
                raise FetchError("content_type", refused=True, status=row.upstream_status)
            rule = fetcher.whitelist.check(row.final_url).rule
            return Fetched(
                url=row.final_url,
                kind=kind,
                content_type=row.content_type,
                charset=row.charset,
                body=row.body,
                status=row.upstream_status,
                rule_id=rule.id if rule else None,
            )
    # No database transaction stays open while the upstream answers.
    session.commit()
    fetched = fetcher.fetch(key_url, kinds=kinds)
    if cache_seconds > 0:
        try:
            with unit_of_work(session):
                session.execute(
                    delete(CachedPage).where(
                        or_(CachedPage.url_hash == key, CachedPage.expires_at <= now)
                    )
                )
                session.add(
                    CachedPage(
                        url_hash=key,
                        url=key_url,
                        final_url=fetched.url,
                        content_type=fetched.content_type,
                        charset=fetched.charset or "",
                        body=fetched.body,
                        upstream_status=fetched.status,
                        fetched_at=now,
                        expires_at=now + dt.timedelta(seconds=cache_seconds),
                    )
                )
        except IntegrityError:
            # Another request cached the same page at the same moment: theirs is as good.
            session.rollback()
    return fetched


def ask_for_site(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    url: str,
    reason: str,
    now: dt.datetime,
) -> tuple[SiteRequest, bool]:
    """An inmate's request to add a site; (request, created). Asking twice gives the same one."""
    url = url.strip()
    reason = reason.strip()
    if not url or len(url) > SiteRequest.URL_MAX:
        raise WhitelistError(
            _l("Give the address, at most %(n)d characters.", n=SiteRequest.URL_MAX), field="url"
        )
    if not reason or len(reason) > SiteRequest.REASON_MAX:
        raise WhitelistError(
            _l("Say in at most %(n)d characters why you need it.", n=SiteRequest.REASON_MAX),
            field="reason",
        )
    with unit_of_work(session):
        # The inmate's row is the lock: two submits at once cannot both find no request.
        session.scalars(
            select(Inmate).where(Inmate.id == inmate.id).with_for_update(of=Inmate)
        ).first()
        existing = session.scalars(
            select(SiteRequest)
            .where(
                SiteRequest.inmate_id == inmate.id,
                SiteRequest.url == url,
                SiteRequest.status == SiteRequestStatus.OPEN,
            )
            .with_for_update(of=SiteRequest)
            .execution_options(populate_existing=True)
        ).first()
        if existing is not None:
            return existing, False
        row = SiteRequest(
            inmate_id=inmate.id,
            facility_id=inmate.facility_id,
            unit_id=inmate.unit_id,
            url=url,
            reason=reason,
            status=SiteRequestStatus.OPEN,
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            "whitelist.site_request",
            actor=actor,
            obj=row,
            at=now,
            facility_id=inmate.facility_id,
            details={"url": url[:300]},
        )
    return row, True


def decline_site_request(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    request_id: int,
    answer: str,
    now: dt.datetime,
) -> SiteRequest:
    """Staff say no to a request, with an answer the inmate reads."""
    answer = answer.strip()
    if len(answer) > SiteRequest.ANSWER_MAX:
        raise WhitelistError(
            _l("Write at most %(n)d characters.", n=SiteRequest.ANSWER_MAX), field="answer"
        )
    with unit_of_work(session):
        row = session.scalars(
            select(SiteRequest)
            .where(SiteRequest.id == request_id)
            .with_for_update(of=SiteRequest)
            .execution_options(populate_existing=True)
        ).first()
        if row is None or not can(staff, Perm.WHITELIST_PROPOSE, row):
            raise NotFound()
        if row.status is not SiteRequestStatus.OPEN:
            raise WrongState(_l("This request has been answered already."))
        row.status = SiteRequestStatus.DECLINED
        row.handled_by_id = staff.id
        row.handled_at = now
        row.answer = answer
        audit.record(
            session,
            "whitelist.site_request_decline",
            actor=actor,
            obj=row,
            at=now,
            facility_id=row.facility_id,
        )
    return row


def libraries_for(session: Session, inmate: Inmate) -> list[OfflineLibrary]:
    """Offline libraries this inmate may open: enabled, national or of their facility."""
    stmt = (
        select(OfflineLibrary)
        .where(
            OfflineLibrary.enabled.is_(True),
            or_(
                OfflineLibrary.facility_id.is_(None),
                OfflineLibrary.facility_id == inmate.facility_id,
            ),
        )
        .order_by(OfflineLibrary.name, OfflineLibrary.id)
    )
    return list(session.scalars(stmt))


def add_library(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    folder: Path,
    file_name: str,
    name: str,
    facility_id: int | None,
    now: dt.datetime,
) -> OfflineLibrary:
    """Offer a ZIM file from the zim folder as an offline library (national or one facility)."""
    name = name.strip()
    if not name or len(name) > OfflineLibrary.NAME_MAX:
        raise WhitelistError(
            _l("Give a name of at most %(n)d characters.", n=OfflineLibrary.NAME_MAX), field="name"
        )
    if file_name not in library.zim_files(folder):
        raise WhitelistError(_l("Choose a file from the list."), field="file_name")
    try:
        library.Library(folder, file_name)
    except library.LibraryMissing:
        raise WhitelistError(
            _l("This file is not a readable ZIM file."), field="file_name"
        ) from None
    if not can(staff, Perm.WHITELIST_APPROVE, OfflineLibrary(facility_id=facility_id)):
        raise NotFound()
    with unit_of_work(session):
        taken = session.scalars(
            select(OfflineLibrary.id).where(OfflineLibrary.file_name == file_name)
        ).first()
        if taken is not None:
            raise RuleExists(_l("This file is offered already."), field="file_name")
        row = OfflineLibrary(
            name=name,
            file_name=file_name,
            facility_id=facility_id,
            enabled=True,
            added_by_id=staff.id,
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            "whitelist.library_add",
            actor=actor,
            obj=row,
            at=now,
            facility_id=facility_id,
            details={"file": file_name, "name": name},
        )
    return row


def set_library_enabled(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    library_id: int,
    enabled: bool,
    now: dt.datetime,
) -> OfflineLibrary:
    """Open or close an offline library for inmates."""
    with unit_of_work(session):
        row = session.scalars(
            select(OfflineLibrary)
            .where(OfflineLibrary.id == library_id)
            .with_for_update(of=OfflineLibrary)
            .execution_options(populate_existing=True)
        ).first()
        if row is None or not can(staff, Perm.WHITELIST_APPROVE, row):
            raise NotFound()
        row.enabled = enabled
        audit.record(
            session,
            "whitelist.library_enable" if enabled else "whitelist.library_disable",
            actor=actor,
            obj=row,
            at=now,
            facility_id=row.facility_id,
        )
    return row


def library_for(session: Session, inmate: Inmate, library_id: int) -> OfflineLibrary:
    """An offline library this inmate may open, else ``NotFound``."""
    row = session.get(OfflineLibrary, library_id)
    if (
        row is None
        or not row.enabled
        or (row.facility_id is not None and row.facility_id != inmate.facility_id)
    ):
        raise NotFound()
    return row


def all_rules_in_force(
    session: Session, *, facility_id: int | None, now: dt.datetime
) -> list[WhitelistRule]:
    """Approved, unexpired rules everywhere (or of one facility, national ones included)."""
    stmt = select(WhitelistRule).where(_in_force(now))
    if facility_id is not None:
        stmt = stmt.where(
            or_(WhitelistRule.facility_id.is_(None), WhitelistRule.facility_id == facility_id)
        )
    return list(session.scalars(stmt.order_by(WhitelistRule.prefix, WhitelistRule.id)))
