"""What approving a request does besides answering: contact lists and visits.

Called from ``requests.change_status`` inside its unit of work, so the approval
and its effect are written together or not at all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import Staff
from kiosk.models.requests import Effect, InmateRequest, PhoneContact, Visit
from kiosk.security.crypto import Vault

_NUMBER = re.compile(r"\+?[0-9][0-9 -]{3,30}", re.ASCII)


class EffectError(DomainError):
    """The approval cannot take effect as asked."""


def normalize_number(raw: str) -> str:
    """A phone number without spaces or dashes, or ``EffectError``."""
    value = raw.strip()
    if not _NUMBER.fullmatch(value):
        raise EffectError(_l("The phone number is not valid: correct it before approving."))
    return re.sub(r"[ -]", "", value)


def _answers(req: InmateRequest, vault: Vault) -> dict[str, str]:
    from kiosk.services.requests import answers_of

    return {a["key"]: str(a.get("value", "")) for a in answers_of(req, vault)}


def apply(
    session: Session,
    *,
    req: InmateRequest,
    staff: Staff,
    vault: Vault,
    now: dt.datetime,
    data: Mapping[str, Any] | None,
) -> None:
    """Carry out the type's effect of an approval."""
    effect = req.type.effect
    if effect is Effect.NONE:
        return
    answers = _answers(req, vault)
    if effect is Effect.ADD_CONTACT:
        number = normalize_number(answers.get("number", ""))
        session.add(
            PhoneContact(
                inmate_id=req.inmate_id,
                name=answers.get("name", "")[: PhoneContact.NAME_MAX] or "?",
                relation=answers.get("relation", "")[: PhoneContact.RELATION_MAX],
                number=number,
                request_id=req.id,
                approved_by_id=staff.id,
                approved_at=now,
            )
        )
    elif effect is Effect.REMOVE_CONTACT:
        number = normalize_number(answers.get("number", ""))
        rows = list(
            session.scalars(
                select(PhoneContact).where(
                    PhoneContact.inmate_id == req.inmate_id,
                    PhoneContact.number == number,
                    PhoneContact.removed_at.is_(None),
                )
            )
        )
        if not rows:
            raise EffectError(_l("This number is not on the inmate's contact list."))
        for row in rows:
            row.removed_at = now
            row.removed_request_id = req.id
    elif effect is Effect.BOOK_VISIT:
        when = (data or {}).get("visit_at")
        if not isinstance(when, dt.datetime):
            raise EffectError(
                _l("Give the date and time of the visit to approve it."), field="visit_at"
            )
        session.add(
            Visit(
                inmate_id=req.inmate_id,
                starts_at=when,
                visitors=answers.get("visitors", "")[: Visit.VISITORS_MAX],
                request_id=req.id,
                booked_by_id=staff.id,
                created_at=now,
            )
        )
