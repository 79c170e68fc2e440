"""Digitized requests: types as data, submission with a receipt, the status machine, events.

Every change runs in one unit of work, locks the request row it changes
(PostgreSQL) and records an audit event. Nothing is deleted; corrections are
new events. Health contents are encrypted with the instance data key before
they reach the database; the audit trail never holds contents.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import get_locale
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _l
from kiosk.models import Facility, Inmate, Role, Staff, StaffFacility
from kiosk.models.requests import (
    DECIDED_STATUSES,
    OPEN_STATUSES,
    Category,
    Effect,
    EventKind,
    ExternalAppointment,
    FieldKind,
    InmateRequest,
    RequestEvent,
    RequestGroupSupervisor,
    RequestNamedStaff,
    RequestType,
    RequestTypeFacility,
    Sensitivity,
    Source,
    Status,
)
from kiosk.security.crypto import Vault
from kiosk.services import audit
from kiosk.services.audit import Actor

# Hard limits whatever a type says: a form can never store more than this.
SHORT_TEXT_MAX = 500
LONG_TEXT_MAX = 4000
NUMBER_LIMIT = 10**9
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}", re.ASCII)
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_WORD = re.compile(r"\w+")
_IDEMPOTENCY = re.compile(r"[A-Za-z0-9_-]{16,64}", re.ASCII)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset(
        {
            Status.IN_PROGRESS,
            Status.WAITING,
            Status.APPROVED,
            Status.REJECTED,
            Status.ANSWERED,
            Status.CLOSED,
        }
    ),
    Status.IN_PROGRESS: frozenset(
        {Status.WAITING, Status.APPROVED, Status.REJECTED, Status.ANSWERED, Status.CLOSED}
    ),
    Status.WAITING: frozenset(
        {Status.IN_PROGRESS, Status.APPROVED, Status.REJECTED, Status.ANSWERED, Status.CLOSED}
    ),
    # A decision can be reopened (a correction is a new event) or closed.
    Status.APPROVED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.REJECTED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.ANSWERED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.CLOSED: frozenset(),
    Status.WITHDRAWN: frozenset(),
}

# A status change to one of these needs a message to the inmate: why, or what we need.
MESSAGE_REQUIRED = frozenset({Status.REJECTED, Status.WAITING, Status.ANSWERED})

# Roles that handle requests at all (the groups one can forward to).
HANDLER_ROLES = (
    Role.OFFICER,
    Role.HEALTHCARE,
    Role.CHAPLAIN,
    Role.CASEWORKER,
    Role.COMMISSARY,
    Role.ADMIN,
)


class RequestError(DomainError):
    """A request rule said no."""


class NotOffered(RequestError):
    """The type is not offered to this inmate."""

    status = 404
    default_message = _l("This kind of request is not available.")


class OneOpenOnly(RequestError):
    """A one-at-a-time type already has an open request."""

    status = 409
    default_message = _l(
        "You already have an open request of this kind. Wait for the answer, or withdraw it first."
    )


class InvalidAnswers(RequestError):
    """Some form values are missing or wrong."""

    default_message = _l("Some answers need to be corrected.")

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__()
        self.errors = dict(errors)


class BadTransition(RequestError):
    """The request cannot move to that status from where it stands."""

    status = 409
    default_message = _l("The request cannot get that status now.")


class MessageRequired(RequestError):
    """A refusal (or a question, or an answer) needs a text."""

    default_message = _l("Write the reason. The inmate always sees why.")

    def __init__(self, message: Any = None) -> None:
        super().__init__(message, field="body")


class BadText(RequestError):
    """A free text is empty, too long or holds control characters."""

    def __init__(self, message: Any = None, field: str = "body") -> None:
        super().__init__(message or _l("Write a text."), field=field)


class ClosedRequest(RequestError):
    """The request is closed or withdrawn."""

    status = 409
    default_message = _l("This request is closed.")


class BadForward(RequestError):
    """The target group may not receive this request."""

    status = 422
    default_message = _l("Choose a group that handles requests of this kind.")

    def __init__(self, message: Any = None) -> None:
        super().__init__(message, field="group")


class BadTypeDefinition(RequestError):
    """A request type's definition is malformed."""

    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(message, field=field)


# Calendar ------------------------------------------------------------------


def local_date(when: dt.datetime, timezone: str) -> dt.date:
    """The date at a moment in a facility's time zone."""
    return when.astimezone(ZoneInfo(timezone)).date()


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days (Monday to Friday) after ``start``."""
    current = start
    left = max(days, 0)
    while left:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    if current.weekday() >= 5:  # zero days asked on a weekend: the next Monday
        current += dt.timedelta(days=7 - current.weekday())
    return current


def reply_by_for(rtype: RequestType, facility: Facility, now: dt.datetime) -> dt.date:
    """The reply-by date of a request of this type submitted now."""
    return add_working_days(local_date(now, facility.timezone), rtype.reply_days)


def is_overdue(req: InmateRequest, today: dt.date) -> bool:
    """Open and past its reply-by date."""
    return req.is_open and req.reply_by < today


# Texts in several languages --------------------------------------------------


def current_language() -> str:
    """The language of the current request (``en`` outside one)."""
    try:
        locale = get_locale()
    except RuntimeError:  # outside a request
        return "en"
    return locale.language if locale is not None else "en"


def localized(texts: Mapping[str, str] | None, lang: str | None = None) -> str:
    """The text in ``lang``, else English, else Swedish, else any."""
    if not texts:
        return ""
    lang = lang or current_language()
    for code in (lang, "en", "sv"):
        value = texts.get(code)
        if value:
            return value
    return next(iter(texts.values()), "")


# Type definitions --------------------------------------------------------------


def check_fields(fields: Any) -> list[dict[str, Any]]:
    """A type's field definitions, checked and normalised, or ``BadTypeDefinition``."""
    if not isinstance(fields, list) or len(fields) > RequestType.MAX_FIELDS:
        raise BadTypeDefinition(_l("A form has at most 20 fields."), field="fields")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in fields:
        if not isinstance(raw, dict):
            raise BadTypeDefinition(_l("Each field needs a key, a kind and a label."), "fields")
        key = raw.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key) or key in seen:
            raise BadTypeDefinition(
                _l("Field keys are unique and use small letters, digits and _."), "fields"
            )
        seen.add(key)
        try:
            kind = FieldKind(str(raw.get("kind")))
        except ValueError:
            raise BadTypeDefinition(_l("Unknown field kind."), "fields") from None
        label = raw.get("label")
        if not isinstance(label, dict) or not any(
            isinstance(v, str) and v.strip() for v in label.values()
        ):
            raise BadTypeDefinition(_l("Each field needs a label."), "fields")
        field: dict[str, Any] = {
            "key": key,
            "kind": kind.value,
            "label": {str(k): str(v)[:200] for k, v in label.items() if isinstance(v, str)},
            "required": bool(raw.get("required", False)),
        }
        if isinstance(raw.get("help"), dict):
            field["help"] = {str(k): str(v)[:500] for k, v in raw["help"].items()}
        if kind in (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT):
            hard = SHORT_TEXT_MAX if kind is FieldKind.SHORT_TEXT else LONG_TEXT_MAX
            limit = raw.get("max_length", hard)
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= hard:
                raise BadTypeDefinition(
                    _l("The length limit is from 1 to %(n)d characters.", n=hard), "fields"
                )
            field["max_length"] = limit
            min_length = raw.get("min_length", 0)
            if not isinstance(min_length, int) or not 0 <= min_length <= limit:
                raise BadTypeDefinition(_l("The shortest length must fit the limit."), "fields")
            if min_length:
                field["min_length"] = min_length
        if kind is FieldKind.NUMBER:
            for bound in ("min", "max"):
                value = raw.get(bound)
                if value is None:
                    continue
                if not isinstance(value, int) or abs(value) > NUMBER_LIMIT:
                    raise BadTypeDefinition(_l("Number limits must be whole numbers."), "fields")
                field[bound] = value
        if kind is FieldKind.CHOICE:
            choices = raw.get("choices")
            if not isinstance(choices, list) or not 1 <= len(choices) <= 30:
                raise BadTypeDefinition(_l("A choice needs 1 to 30 options."), "fields")
            clean = []
            values: set[str] = set()
            for choice in choices:
                value = choice.get("value") if isinstance(choice, dict) else None
                choice_label = choice.get("label") if isinstance(choice, dict) else None
                if (
                    not isinstance(value, str)
                    or not KEY_PATTERN.fullmatch(value)
                    or value in values
                    or not isinstance(choice_label, dict)
                ):
                    raise BadTypeDefinition(_l("Each option needs a value and a label."), "fields")
                values.add(value)
                clean.append(
                    {
                        "value": value,
                        "label": {str(k): str(v)[:200] for k, v in choice_label.items()},
                    }
                )
            field["choices"] = clean
        out.append(field)
    return out


# Answers ---------------------------------------------------------------------------


def check_answers(rtype: RequestType, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The form values checked against the type's fields, or ``InvalidAnswers``."""
    errors: dict[str, Any] = {}
    answers: list[dict[str, Any]] = []
    for field in rtype.fields:
        key = field["key"]
        kind = FieldKind(field["kind"])
        value = raw.get(key)
        text = value.strip() if isinstance(value, str) else ""
        if kind is FieldKind.LONG_TEXT:
            text = text.replace("\r\n", "\n")
        if not text:
            if field.get("required"):
                errors[key] = (
                    _l("Choose an answer.")
                    if kind in (FieldKind.CHOICE, FieldKind.YES_NO)
                    else _l("Fill in this field.")
                )
            answers.append(_answer(field, ""))
            continue
        pattern = _CONTROL_TEXT if kind is FieldKind.LONG_TEXT else _CONTROL_LINE
        if pattern.search(text):
            errors[key] = _l("Remove the special characters from this field.")
            continue
        if kind in (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT):
            limit = int(field.get("max_length", SHORT_TEXT_MAX))
            if len(text) > limit:
                errors[key] = _l(
                    "Write at most %(n)d characters (you wrote %(m)d).", n=limit, m=len(text)
                )
                continue
            if len(text) < int(field.get("min_length", 0)):
                errors[key] = _l("Write at least %(n)d characters.", n=int(field["min_length"]))
                continue
        elif kind is FieldKind.CHOICE:
            if text not in {c["value"] for c in field.get("choices", [])}:
                errors[key] = _l("Choose one of the options.")
                continue
        elif kind is FieldKind.YES_NO:
            if text not in ("yes", "no"):
                errors[key] = _l("Choose yes or no.")
                continue
        elif kind is FieldKind.DATE:
            try:
                parsed = dt.date.fromisoformat(text) if len(text) == 10 else None
            except ValueError:
                parsed = None
            if parsed is None or not 1900 <= parsed.year <= 2100:
                errors[key] = _l("Write a date like 2026-12-24.")
                continue
            text = parsed.isoformat()
        elif kind is FieldKind.NUMBER:
            if not re.fullmatch(r"-?[0-9]{1,10}", text):
                errors[key] = _l("Write a whole number.")
                continue
            number = int(text)
            low, high = field.get("min"), field.get("max")
            if (low is not None and number < low) or (high is not None and number > high):
                errors[key] = _l(
                    "Write a number from %(low)s to %(high)s.",
                    low="…" if low is None else low,
                    high="…" if high is None else high,
                )
                continue
            text = str(number)
        answers.append(_answer(field, text))
    if errors:
        raise InvalidAnswers(errors)
    return answers


def _answer(field: Mapping[str, Any], value: str) -> dict[str, Any]:
    shown: Any = value
    if value and field["kind"] == FieldKind.CHOICE.value:
        shown = next((c["label"] for c in field.get("choices", []) if c["value"] == value), value)
    return {
        "key": field["key"],
        "label": field["label"],
        "kind": field["kind"],
        "value": value,
        "shown": shown,
    }


def _seal(vault: Vault, sensitive: bool, text: str) -> str:
    return vault.encrypt(text) if sensitive and text else text


def _open(vault: Vault, encrypted: bool, text: str) -> str:
    return vault.decrypt(text) if encrypted and text else text


def answers_of(req: InmateRequest, vault: Vault) -> list[dict[str, Any]]:
    """The request's answers (decrypted when sealed)."""
    data = json.loads(_open(vault, req.encrypted, req.answers) or "[]")
    return data if isinstance(data, list) else []


def body_of(event: RequestEvent, vault: Vault) -> str:
    """An event's text (decrypted when sealed)."""
    return _open(vault, event.encrypted, event.body)


def answer_text(answer: Mapping[str, Any], lang: str | None = None) -> str:
    """One answer as text in the reader's language."""
    shown = answer.get("shown", answer.get("value", ""))
    if isinstance(shown, dict):
        return localized(shown, lang)
    if answer.get("kind") == FieldKind.YES_NO.value:
        return {"yes": str(_l("Yes")), "no": str(_l("No"))}.get(str(shown), str(shown))
    return str(shown)


def check_text(text: str | None, *, required: bool = True, field: str = "body") -> str:
    """A free text from staff or inmate: trimmed, within the limit, no control characters."""
    value = (text or "").replace("\r\n", "\n").strip()
    if not value:
        if required:
            raise BadText(_l("Write a text."), field)
        return ""
    if len(value) > RequestEvent.BODY_MAX:
        raise BadText(
            _l(
                "Write at most %(n)d characters (you wrote %(m)d).",
                n=RequestEvent.BODY_MAX,
                m=len(value),
            ),
            field,
        )
    if _CONTROL_TEXT.search(value):
        raise BadText(_l("Remove the special characters from this field."), field)
    return value


# Submitting ----------------------------------------------------------------------


def new_idempotency_key() -> str:
    """A key for one form: posting it twice makes one request."""
    return secrets.token_urlsafe(24)


def offered_types(session: Session, facility_id: int) -> list[RequestType]:
    """The types inmates of a facility may ask for, in catalogue order."""
    rows = session.scalars(
        select(RequestType)
        .where(RequestType.active.is_(True))
        .order_by(RequestType.position, RequestType.id)
    )
    return [t for t in rows if t.offered_in(facility_id)]


def offered_type(session: Session, type_id: int, facility_id: int) -> RequestType:
    """One type offered in a facility, or ``NotOffered``."""
    rtype = session.get(RequestType, type_id)
    if rtype is None or not rtype.offered_in(facility_id):
        raise NotOffered()
    return rtype


@dataclass
class Submitted:
    """What submission gave back: the request, and whether it is new (or a double post)."""

    request: InmateRequest
    created: bool


def _existing(session: Session, inmate_id: int, key: str | None) -> InmateRequest | None:
    if key is None:
        return None
    return session.scalars(
        select(InmateRequest).where(
            InmateRequest.inmate_id == inmate_id, InmateRequest.idempotency_key == key
        )
    ).first()


def submit(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    inmate: Inmate,
    rtype: RequestType,
    raw: Mapping[str, Any],
    idempotency_key: str | None,
    now: dt.datetime,
    logged_by: Staff | None = None,
) -> Submitted:
    """Make a request (a receipt number and reply-by date at once); a double post makes one."""
    key = idempotency_key if idempotency_key and _IDEMPOTENCY.fullmatch(idempotency_key) else None
    if not rtype.offered_in(inmate.facility_id):
        raise NotOffered()
    answers = check_answers(rtype, raw)
    try:
        with unit_of_work(session):
            # Lock the inmate: two posts at once cannot both pass the one-open check.
            locked = session.get(
                Inmate, inmate.id, with_for_update={"of": Inmate}, populate_existing=True
            )
            if locked is None:
                raise NotFound()
            earlier = _existing(session, locked.id, key)
            if earlier is not None:
                return Submitted(earlier, created=False)
            if rtype.one_open and session.scalar(
                select(InmateRequest.id)
                .where(
                    InmateRequest.inmate_id == locked.id,
                    InmateRequest.type_id == rtype.id,
                    InmateRequest.is_open.is_(True),
                )
                .limit(1)
            ):
                raise OneOpenOnly()
            facility = locked.facility
            sensitive = rtype.sensitivity is Sensitivity.HEALTH
            req = InmateRequest(
                type_id=rtype.id,
                inmate_id=locked.id,
                facility_id=facility.id,
                group_role=rtype.handler_role,
                group_facility_id=rtype.handler_facility_id or facility.id,
                sensitivity=rtype.sensitivity,
                status=Status.SUBMITTED,
                is_open=True,
                source=Source.PAPER if logged_by is not None else Source.PORTAL,
                logged_by_id=logged_by.id if logged_by is not None else None,
                idempotency_key=key,
                answers=_seal(vault, sensitive, json.dumps(answers, ensure_ascii=False)),
                encrypted=sensitive,
                submitted_at=now,
                reply_by=reply_by_for(rtype, facility, now),
                updated_at=now,
            )
            session.add(req)
            session.flush()
            req.receipt_number = f"{facility.code}-{now.year}-{req.id:06d}"
            session.add(
                RequestEvent(
                    request_id=req.id,
                    kind=EventKind.SUBMITTED,
                    visible_to_inmate=True,
                    staff_id=logged_by.id if logged_by is not None else None,
                    by_inmate=logged_by is None,
                    to_status=Status.SUBMITTED,
                    created_at=now,
                )
            )
            if rtype.names_staff:
                _auto_name_staff(session, req, answers, facility.id, now)
            audit.record(
                session,
                "request.submit",
                actor=actor,
                obj=req,
                at=now,
                details={
                    "receipt": req.receipt_number,
                    "type": rtype.code,
                    "source": req.source.value,
                    "inmate_id": locked.id,
                },
            )
    except IntegrityError:
        # The same form posted twice at the same moment: the first one won.
        session.rollback()
        earlier = _existing(session, inmate.id, key)
        if earlier is None:
            raise
        return Submitted(earlier, created=False)
    return Submitted(req, created=True)


def _auto_name_staff(
    session: Session,
    req: InmateRequest,
    answers: Iterable[Mapping[str, Any]],
    facility_id: int,
    now: dt.datetime,
) -> None:
    """Link staff whose full name or user name the complaint gives, so they never see it."""
    typed = " ".join(
        str(a.get("value", "")).casefold()
        for a in answers
        if a.get("kind") == FieldKind.SHORT_TEXT.value
    )
    if not typed:
        return
    candidates = session.scalars(
        select(Staff).where(
            Staff.active.is_(True),
            Staff.all_facilities.is_(True)
            | Staff.id.in_(
                select(StaffFacility.staff_id).where(StaffFacility.facility_id == facility_id)
            ),
        )
    )
    words = " " + " ".join(_WORD.findall(typed)) + " "
    for member in candidates:
        # Whole words only: "Ann" must not hide a complaint from "Anna", "Annika" or "Joanna".
        names = {" ".join(_WORD.findall(n.casefold())) for n in (member.name, member.username)}
        if any(len(n) >= 3 and f" {n} " in words for n in names):
            session.add(RequestNamedStaff(request_id=req.id, staff_id=member.id, created_at=now))


# Loading -------------------------------------------------------------------------------


def own_request(session: Session, inmate: Inmate, request_id: int) -> InmateRequest:
    """An inmate's own request, or ``NotFound`` (others' requests do not exist for them)."""
    req = session.scalars(
        select(InmateRequest).where(
            InmateRequest.id == request_id, InmateRequest.inmate_id == inmate.id
        )
    ).first()
    if req is None:
        raise NotFound()
    return req


def inmate_events(session: Session, req: InmateRequest) -> list[RequestEvent]:
    """The timeline the inmate sees: never notes, forwards or escalations."""
    return list(
        session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id == req.id, RequestEvent.visible_to_inmate.is_(True))
            .order_by(RequestEvent.id)
        )
    )


def all_events(session: Session, req: InmateRequest) -> list[RequestEvent]:
    """The whole timeline (staff)."""
    return list(
        session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == req.id).order_by(RequestEvent.id)
        )
    )


def record_read(
    session: Session, *, actor: Actor, req: InmateRequest, now: dt.datetime, what: str = "request"
) -> None:
    """Audit a read of a health or complaint request (other reads are not recorded)."""
    if req.sensitivity is Sensitivity.NORMAL:
        return
    with unit_of_work(session):
        audit.record(
            session,
            "request.read",
            actor=actor,
            obj=req,
            at=now,
            details={
                "receipt": req.receipt_number,
                "sensitivity": req.sensitivity.value,
                "what": what,
            },
        )


def _lock(session: Session, request_id: int) -> InmateRequest:
    req = session.get(
        InmateRequest,
        request_id,
        with_for_update={"of": InmateRequest},
        populate_existing=True,
    )
    if req is None:
        raise NotFound()
    return req


def _event(
    session: Session,
    req: InmateRequest,
    kind: EventKind,
    now: dt.datetime,
    vault: Vault,
    *,
    body: str = "",
    visible: bool,
    staff: Staff | None = None,
    by_inmate: bool = False,
    from_status: Status | None = None,
    to_status: Status | None = None,
    to_role: Role | None = None,
    to_facility_id: int | None = None,
) -> RequestEvent:
    sealed = req.encrypted and bool(body)
    event = RequestEvent(
        request_id=req.id,
        kind=kind,
        visible_to_inmate=visible,
        staff_id=staff.id if staff is not None else None,
        by_inmate=by_inmate,
        body=_seal(vault, sealed, body),
        encrypted=sealed,
        from_status=from_status,
        to_status=to_status,
        to_role=to_role,
        to_facility_id=to_facility_id,
        created_at=now,
    )
    session.add(event)
    req.updated_at = now
    return event


def _set_status(req: InmateRequest, to: Status, now: dt.datetime) -> Status:
    before = req.status
    req.status = to
    req.is_open = to in OPEN_STATUSES
    if to in DECIDED_STATUSES and req.decided_at is None:
        req.decided_at = now
    if to in (Status.CLOSED, Status.WITHDRAWN):
        req.closed_at = now
    elif to in OPEN_STATUSES:
        req.closed_at = None
    return before


# Inmate actions -----------------------------------------------------------------------


def add_information(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    inmate: Inmate,
    request_id: int,
    text: str | None,
    now: dt.datetime,
) -> InmateRequest:
    """The inmate answers a question; a request waiting for them goes back to staff."""
    body = check_text(text)
    with unit_of_work(session):
        req = _lock(session, request_id)
        if req.inmate_id != inmate.id:
            raise NotFound()
        if not req.is_open:
            raise ClosedRequest()
        before = req.status
        if req.status is Status.WAITING:
            _set_status(req, Status.IN_PROGRESS, now)
        _event(
            session,
            req,
            EventKind.INFO,
            now,
            vault,
            body=body,
            visible=True,
            by_inmate=True,
            from_status=before,
            to_status=req.status,
        )
        audit.record(
            session,
            "request.add_info",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number},
        )
    return req


def withdraw(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    inmate: Inmate,
    request_id: int,
    now: dt.datetime,
) -> InmateRequest:
    """The inmate takes back an open request (it stays on record as withdrawn)."""
    with unit_of_work(session):
        req = _lock(session, request_id)
        if req.inmate_id != inmate.id:
            raise NotFound()
        if not req.is_open:
            raise ClosedRequest()
        before = _set_status(req, Status.WITHDRAWN, now)
        _event(
            session,
            req,
            EventKind.WITHDRAWN,
            now,
            vault,
            visible=True,
            by_inmate=True,
            from_status=before,
            to_status=Status.WITHDRAWN,
        )
        audit.record(
            session,
            "request.withdraw",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number},
        )
    return req


# Staff actions ---------------------------------------------------------------------------


def _mark_first_reply(req: InmateRequest, now: dt.datetime) -> None:
    if req.first_reply_at is None:
        req.first_reply_at = now


def reply(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    staff: Staff,
    request_id: int,
    text: str | None,
    now: dt.datetime,
) -> InmateRequest:
    """A message to the inmate; a new request moves to in progress."""
    body = check_text(text)
    with unit_of_work(session):
        req = _lock(session, request_id)
        if req.status in (Status.CLOSED, Status.WITHDRAWN):
            raise ClosedRequest()
        before = req.status
        if req.status is Status.SUBMITTED:
            _set_status(req, Status.IN_PROGRESS, now)
        _event(
            session,
            req,
            EventKind.REPLY,
            now,
            vault,
            body=body,
            visible=True,
            staff=staff,
            from_status=before,
            to_status=req.status,
        )
        _mark_first_reply(req, now)
        audit.record(
            session,
            "request.reply",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number},
        )
    return req


def note(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    staff: Staff,
    request_id: int,
    text: str | None,
    now: dt.datetime,
) -> InmateRequest:
    """An internal note: the inmate never sees it."""
    body = check_text(text)
    with unit_of_work(session):
        req = _lock(session, request_id)
        _event(session, req, EventKind.NOTE, now, vault, body=body, visible=False, staff=staff)
        audit.record(
            session,
            "request.note",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number},
        )
    return req


def change_status(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    staff: Staff,
    request_id: int,
    to: Status,
    text: str | None,
    now: dt.datetime,
    effect_data: Mapping[str, Any] | None = None,
) -> InmateRequest:
    """Move a request along; a refusal, a question or an answer carries its message."""
    body = check_text(text, required=False)
    if to in MESSAGE_REQUIRED and not body:
        if to is Status.REJECTED:
            raise MessageRequired(
                _l("Write the reason for the refusal. The inmate always sees it.")
            )
        if to is Status.WAITING:
            raise MessageRequired(_l("Write what information the inmate should add."))
        raise MessageRequired(_l("Write the answer to the inmate."))
    with unit_of_work(session):
        req = _lock(session, request_id)
        if to is Status.WITHDRAWN or to not in TRANSITIONS[req.status]:
            raise BadTransition()
        before = _set_status(req, to, now)
        _event(
            session,
            req,
            EventKind.STATUS,
            now,
            vault,
            body=body,
            visible=True,
            staff=staff,
            from_status=before,
            to_status=to,
        )
        if body or to in DECIDED_STATUSES or to is Status.WAITING:
            _mark_first_reply(req, now)
        if to is Status.APPROVED:
            from kiosk.services import request_effects

            request_effects.apply(
                session, req=req, staff=staff, vault=vault, now=now, data=effect_data
            )
        audit.record(
            session,
            "request.status",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number, "from": before.value, "to": to.value},
        )
    return req


def may_receive(role: Role, sensitivity: Sensitivity) -> bool:
    """May a group of this role handle requests of this sensitivity?"""
    if sensitivity is Sensitivity.HEALTH:
        return role is Role.HEALTHCARE
    return role in HANDLER_ROLES


def forward(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    staff: Staff,
    request_id: int,
    role: Role,
    facility: Facility,
    text: str | None,
    now: dt.datetime,
) -> InmateRequest:
    """Hand the request to another group with a comment (internal)."""
    body = check_text(text)
    with unit_of_work(session):
        req = _lock(session, request_id)
        if not req.is_open:
            raise ClosedRequest()
        if not may_receive(role, req.sensitivity):
            raise BadForward(
                _l("Health requests stay with healthcare staff.")
                if req.sensitivity is Sensitivity.HEALTH
                else None
            )
        if role is req.group_role and facility.id == req.group_facility_id:
            raise BadForward(_l("The request is with that group already."))
        req.group_role = role
        req.group_facility_id = facility.id
        # The new group's supervisor gets it if it is (or becomes) overdue.
        req.escalated_at = None
        req.escalated_to_id = None
        _event(
            session,
            req,
            EventKind.FORWARD,
            now,
            vault,
            body=body,
            visible=False,
            staff=staff,
            to_role=role,
            to_facility_id=facility.id,
        )
        audit.record(
            session,
            "request.forward",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number, "role": role.value, "facility_id": facility.id},
        )
    return req


def name_staff(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    staff: Staff,
    request_id: int,
    named: Staff,
    now: dt.datetime,
) -> InmateRequest:
    """Record which staff member a complaint is about: from now on they cannot see it."""
    with unit_of_work(session):
        req = _lock(session, request_id)
        if req.sensitivity is not Sensitivity.COMPLAINT:
            raise BadTypeDefinition(_l("Only complaints name a staff member."), field="staff")
        if named.id not in req.named_staff_ids:
            session.add(RequestNamedStaff(request_id=req.id, staff_id=named.id, created_at=now))
        _event(
            session,
            req,
            EventKind.NAMED_STAFF,
            now,
            vault,
            body=named.name,
            visible=False,
            staff=staff,
        )
        audit.record(
            session,
            "request.name_staff",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number, "staff_id": named.id},
        )
    session.refresh(req)
    return req


def arrange_appointment(
    session: Session,
    *,
    actor: Actor,
    vault: Vault,
    staff: Staff,
    request_id: int,
    when: dt.datetime,
    place: str,
    note_text: str,
    now: dt.datetime,
) -> InmateRequest:
    """An appointment outside the prison: details staff-only; the inmate learns it exists."""
    place = check_text(place, field="place")
    extra = check_text(note_text, required=False, field="note")
    with unit_of_work(session):
        req = _lock(session, request_id)
        if req.sensitivity is not Sensitivity.HEALTH:
            raise BadForward(_l("Only healthcare requests get external appointments."))
        details = json.dumps(
            {"when": when.isoformat(), "place": place, "note": extra}, ensure_ascii=False
        )
        session.add(
            ExternalAppointment(
                request_id=req.id,
                details=vault.encrypt(details),
                staff_id=staff.id,
                created_at=now,
            )
        )
        # What the inmate sees: that it is arranged. Never when or where.
        _event(session, req, EventKind.APPOINTMENT, now, vault, visible=True, staff=staff)
        _mark_first_reply(req, now)
        audit.record(
            session,
            "request.appointment",
            actor=actor,
            obj=req,
            at=now,
            details={"receipt": req.receipt_number},
        )
    return req


def appointments_of(session: Session, req: InmateRequest, vault: Vault) -> list[dict[str, Any]]:
    """The external appointments of a request, decrypted (staff pages only)."""
    out = []
    for row in session.scalars(
        select(ExternalAppointment)
        .where(ExternalAppointment.request_id == req.id)
        .order_by(ExternalAppointment.id)
    ):
        data = json.loads(vault.decrypt(row.details))
        data["when"] = dt.datetime.fromisoformat(data["when"])
        data["created_at"] = row.created_at
        out.append(data)
    return out


# Escalation ----------------------------------------------------------------------------


def escalate_overdue(
    session: Session, *, actor: Actor, vault: Vault, now: dt.datetime
) -> tuple[int, int]:
    """Send overdue open requests to their group's supervisor (once per group).

    Returns (escalated, overdue without a supervisor to send to).
    """
    escalated = 0
    orphaned = 0
    supervisors = {
        (row.role, row.facility_id): row.staff
        for row in session.scalars(select(RequestGroupSupervisor))
    }
    for facility in list(session.scalars(select(Facility))):
        today = local_date(now, facility.timezone)
        ids = list(
            session.scalars(
                select(InmateRequest.id)
                .where(
                    InmateRequest.is_open.is_(True),
                    InmateRequest.reply_by < today,
                    InmateRequest.facility_id == facility.id,
                    InmateRequest.escalated_at.is_(None),
                )
                .order_by(InmateRequest.reply_by, InmateRequest.id)
            )
        )
        for request_id in ids:
            with unit_of_work(session):
                req = _lock(session, request_id)
                if not req.is_open or req.escalated_at is not None:
                    continue
                supervisor = supervisors.get((req.group_role, req.group_facility_id))
                if supervisor is None or not supervisor.active:
                    orphaned += 1
                    continue
                req.escalated_at = now
                req.escalated_to_id = supervisor.id
                _event(
                    session,
                    req,
                    EventKind.ESCALATED,
                    now,
                    vault,
                    body=supervisor.name,
                    visible=False,
                )
                audit.record(
                    session,
                    "request.escalate",
                    actor=actor,
                    obj=req,
                    at=now,
                    details={"receipt": req.receipt_number, "supervisor_id": supervisor.id},
                )
                escalated += 1
    return escalated, orphaned


def set_supervisor(
    session: Session,
    *,
    actor: Actor,
    role: Role,
    facility: Facility,
    staff: Staff | None,
    now: dt.datetime,
) -> None:
    """Who a group's overdue requests escalate to (None: nobody)."""
    with unit_of_work(session):
        row = session.get(RequestGroupSupervisor, (role, facility.id))
        if staff is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                RequestGroupSupervisor(role=role, facility_id=facility.id, staff_id=staff.id)
            )
        else:
            row.staff_id = staff.id
        audit.record(
            session,
            "request.supervisor",
            actor=actor,
            obj=facility,
            at=now,
            details={"role": role.value, "staff_id": staff.id if staff else None},
        )


# The catalogue ------------------------------------------------------------------------------


def save_type(
    session: Session,
    *,
    actor: Actor,
    rtype: RequestType | None,
    data: Mapping[str, Any],
    now: dt.datetime,
) -> RequestType:
    """Create or change a request type from its definition (the type editor and the seed)."""
    code = str(data.get("code", "")).strip()
    if not KEY_PATTERN.fullmatch(code):
        raise BadTypeDefinition(_l("The code uses small letters, digits and _."), field="code")
    names = {
        k: str(v).strip()[: RequestType.NAME_MAX]
        for k, v in dict(data["names"]).items()
        if str(v).strip()
    }
    if not names:
        raise BadTypeDefinition(_l("Give the type a name."), field="name_en")
    help_texts = {
        k: str(v).strip()[: RequestType.HELP_MAX]
        for k, v in dict(data.get("help_texts") or {}).items()
    }
    reply_days = data.get("reply_days")
    if not isinstance(reply_days, int) or not 0 <= reply_days <= RequestType.MAX_REPLY_DAYS:
        raise BadTypeDefinition(
            _l("The reply-by target is 0 to 60 working days."), field="reply_days"
        )
    role = Role(data["handler_role"])
    sensitivity = Sensitivity(data["sensitivity"])
    if not may_receive(role, sensitivity):
        raise BadTypeDefinition(
            _l("Health requests must be handled by healthcare staff."), field="handler_role"
        )
    fields = check_fields(data.get("fields", []))
    offered = data.get("facility_ids")
    with unit_of_work(session):
        other = session.scalar(select(RequestType.id).where(RequestType.code == code))
        if other is not None and (rtype is None or other != rtype.id):
            raise BadTypeDefinition(_l("Another type has this code."), field="code")
        created = rtype is None
        if rtype is None:
            rtype = RequestType(code=code, created_at=now, facility_id=data.get("facility_id"))
            session.add(rtype)
        else:
            rtype = session.get(
                RequestType, rtype.id, with_for_update={"of": RequestType}, populate_existing=True
            )
            if rtype is None:
                raise NotFound()
        rtype.code = code
        rtype.names = names
        rtype.help_texts = help_texts
        rtype.category = Category(data.get("category", Category.OTHER))
        rtype.handler_role = role
        rtype.handler_facility_id = data.get("handler_facility_id")
        rtype.sensitivity = sensitivity
        rtype.fields = fields
        rtype.reply_days = reply_days
        rtype.one_open = bool(data.get("one_open", False))
        rtype.effect = Effect(data.get("effect", Effect.NONE))
        rtype.names_staff = bool(data.get("names_staff", False))
        rtype.active = bool(data.get("active", True))
        rtype.position = int(data.get("position", rtype.position or 100))
        rtype.updated_at = now
        if offered is None:
            rtype.offered_everywhere = True
            rtype.facility_rows = []
        else:
            rtype.offered_everywhere = False
            rtype.facility_rows = [
                RequestTypeFacility(facility_id=int(f)) for f in sorted(set(offered))
            ]
        session.flush()
        audit.record(
            session,
            "request_type.create" if created else "request_type.update",
            actor=actor,
            obj=rtype,
            at=now,
            details={"code": code},
        )
    return rtype


def seed_catalogue(session: Session, *, actor: Actor, now: dt.datetime) -> int:
    """Add the shipped catalogue's missing types (existing ones stay as staff made them)."""
    from kiosk.services.request_catalogue import CATALOGUE

    added = 0
    existing = set(session.scalars(select(RequestType.code)))
    for position, definition in enumerate(CATALOGUE, start=1):
        if definition["code"] in existing:
            continue
        save_type(
            session,
            actor=actor,
            rtype=None,
            data={**definition, "position": position * 10},
            now=now,
        )
        added += 1
    return added
