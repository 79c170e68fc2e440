"""Inmate accounts: creation, PINs, unlocking, release and transfer."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import Facility, Inmate, InmateStatus, PinThrottle, Unit
from kiosk.security.passwords import SecretHasher, check_pin, new_pin
from kiosk.security.sessions import end_sessions
from kiosk.services import audit
from kiosk.services.audit import Actor

_BOOKING = re.compile(r"[A-Z0-9][A-Z0-9-]{2,31}", re.ASCII)

# After this many failed PINs in a row on one terminal, the account rests there for a while.
SOFT_LOCK_FAILURES = 5
SOFT_LOCK = dt.timedelta(minutes=15)
# After this many failures since the last success, anywhere, only staff can unlock.
HARD_LOCK_FAILURES = 20
# A terminal on which this many different accounts failed within the window rests too.
TERMINAL_LOCK_ACCOUNTS = 5
TERMINAL_WINDOW = dt.timedelta(minutes=15)
TERMINAL_LOCK = dt.timedelta(minutes=15)


class InmateError(DomainError):
    """An inmate-account rule said no."""


class DuplicateBookingNumber(InmateError):
    """The booking number is taken."""

    status = 409
    default_message = _l("An inmate with this booking number exists already.")


class WrongCurrentPin(InmateError):
    """The current PIN typed to change it was wrong."""

    default_message = _l("Your current PIN is not right.")


def normalize_booking(raw: str) -> str:
    """Booking numbers compare upper-case, without spaces."""
    return "".join(raw.split()).upper()


def check_booking(raw: str) -> str:
    """The normalized booking number, or a clear error."""
    value = normalize_booking(raw)
    if not _BOOKING.fullmatch(value):
        raise InmateError(
            _l("A booking number has 3 to 32 letters, digits or dashes."), field="booking_number"
        )
    return value


def create_inmate(
    session: Session,
    *,
    actor: Actor,
    hasher: SecretHasher,
    booking_number: str,
    name: str,
    facility: Facility,
    unit: Unit,
    language: str,
    now: dt.datetime,
) -> tuple[Inmate, str]:
    """A new active inmate and their first PIN (shown once to staff, stored hashed)."""
    booking = check_booking(booking_number)
    name = " ".join(name.split())
    if not name or len(name) > Inmate.NAME_MAX:
        raise InmateError(
            _l("Give a name of at most %(n)d characters.", n=Inmate.NAME_MAX), field="name"
        )
    if unit.facility_id != facility.id:
        raise InmateError(_l("The unit belongs to another facility."), field="unit")
    pin = new_pin(booking)
    with unit_of_work(session):
        if session.scalar(select(Inmate.id).where(Inmate.booking_number == booking)) is not None:
            raise DuplicateBookingNumber(field="booking_number")
        inmate = Inmate(
            booking_number=booking,
            name=name,
            facility_id=facility.id,
            unit_id=unit.id,
            preferred_language=language,
            status=InmateStatus.ACTIVE,
            pin_hash=hasher.hash_pin(pin),
            pin_set_at=now,
            pin_issued=True,
            created_at=now,
        )
        session.add(inmate)
        session.flush()
        audit.record(
            session,
            "inmate.create",
            actor=actor,
            obj=inmate,
            at=now,
            details={"booking_number": booking, "unit": unit.code},
        )
    return inmate, pin


def issue_pin(
    session: Session, *, actor: Actor, hasher: SecretHasher, inmate: Inmate, now: dt.datetime
) -> str:
    """A new random PIN from staff; it also lifts locks and ends open sessions."""
    pin = new_pin(inmate.booking_number)
    with unit_of_work(session):
        inmate.pin_hash = hasher.hash_pin(pin)
        inmate.pin_set_at = now
        inmate.pin_issued = True
        _clear_locks(session, inmate)
        ended = end_sessions(session, now=now, reason="new PIN", inmate_id=inmate.id)
        audit.record(
            session,
            "inmate.pin_issue",
            actor=actor,
            obj=inmate,
            at=now,
            details={"sessions_ended": ended},
        )
    return pin


def change_pin(
    session: Session,
    *,
    actor: Actor,
    hasher: SecretHasher,
    inmate: Inmate,
    current_pin: str,
    new: str,
    now: dt.datetime,
    keep_session_id: int | None,
) -> None:
    """The inmate chooses their own PIN; a wrong current PIN counts as a failed sign-in."""
    failure: DomainError | None = None
    with unit_of_work(session):
        locked = session.get(Inmate, inmate.id, with_for_update={"of": Inmate})
        assert locked is not None  # noqa: S101 - the signed-in inmate exists
        if not hasher.verify_pin(locked.pin_hash, current_pin):
            locked.failed_sign_ins += 1
            if locked.failed_sign_ins >= HARD_LOCK_FAILURES and locked.hard_locked_at is None:
                locked.hard_locked_at = now
                end_sessions(session, now=now, reason="locked", inmate_id=locked.id)
            audit.record(
                session, "inmate.pin_change", actor=actor, obj=locked, outcome="failed", at=now
            )
            failure = WrongCurrentPin(field="current_pin")
        else:
            check_pin(new, booking_number=locked.booking_number)
            if new == current_pin:
                raise InmateError(
                    _l("Choose a PIN that differs from the one you have."), field="pin"
                )
            locked.pin_hash = hasher.hash_pin(new)
            locked.pin_set_at = now
            locked.pin_issued = False
            locked.failed_sign_ins = 0
            if keep_session_id is not None:
                # Other devices still signed in with the old PIN are signed out.
                from kiosk.models import WebSession

                others = session.scalars(
                    select(WebSession.id).where(
                        WebSession.inmate_id == locked.id,
                        WebSession.ended_at.is_(None),
                        WebSession.id != keep_session_id,
                    )
                ).all()
                for sid in others:
                    end_sessions(session, now=now, reason="PIN changed", session_id=sid)
            audit.record(session, "inmate.pin_change", actor=actor, obj=locked, at=now)
    if failure is not None:
        raise failure


def _clear_locks(session: Session, inmate: Inmate) -> None:
    inmate.failed_sign_ins = 0
    inmate.hard_locked_at = None
    session.execute(delete(PinThrottle).where(PinThrottle.inmate_id == inmate.id))


def unlock(session: Session, *, actor: Actor, inmate: Inmate, now: dt.datetime) -> None:
    """Lift every sign-in lock of an inmate (all terminals, and the staff-only lock)."""
    with unit_of_work(session):
        was_hard = inmate.hard_locked_at is not None
        _clear_locks(session, inmate)
        audit.record(
            session,
            "inmate.unlock",
            actor=actor,
            obj=inmate,
            at=now,
            details={"was_hard_locked": was_hard},
        )


def end_stay(
    session: Session, *, actor: Actor, inmate: Inmate, status: InmateStatus, now: dt.datetime
) -> None:
    """Release or transfer out: the account can no longer sign in and its sessions end."""
    if status is InmateStatus.ACTIVE:
        raise InmateError(_l("Choose released or transferred."))
    with unit_of_work(session):
        if inmate.status is not InmateStatus.ACTIVE:
            raise InmateError(_l("This inmate is not active."))
        inmate.status = status
        inmate.left_at = now
        ended = end_sessions(session, now=now, reason=status.value, inmate_id=inmate.id)
        audit.record(
            session,
            f"inmate.{status.value}",
            actor=actor,
            obj=inmate,
            at=now,
            details={"sessions_ended": ended},
        )


def move(session: Session, *, actor: Actor, inmate: Inmate, unit: Unit, now: dt.datetime) -> None:
    """Move an active inmate to another unit (of any facility in the service)."""
    with unit_of_work(session):
        if inmate.status is not InmateStatus.ACTIVE:
            raise InmateError(_l("This inmate is not active."))
        before = (inmate.facility_id, inmate.unit_id)
        inmate.facility_id = unit.facility_id
        inmate.unit_id = unit.id
        if before[0] != unit.facility_id:
            end_sessions(session, now=now, reason="moved", inmate_id=inmate.id)
        audit.record(
            session,
            "inmate.move",
            actor=actor,
            obj=inmate,
            at=now,
            details={"from_unit_id": before[1], "to_unit_id": unit.id},
        )


def set_language(
    session: Session, *, actor: Actor, inmate: Inmate, language: str, now: dt.datetime
) -> None:
    """Remember the inmate's language."""
    if inmate.preferred_language == language:
        return
    with unit_of_work(session):
        row = session.get(Inmate, inmate.id)
        assert row is not None  # noqa: S101 - the signed-in inmate exists
        before = row.preferred_language
        row.preferred_language = language
        audit.record(
            session,
            "inmate.language",
            actor=actor,
            obj=row,
            at=now,
            details={"before": before, "after": language},
        )
