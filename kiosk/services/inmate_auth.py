"""Inmate sign-in: booking number and PIN, on an enrolled terminal, inside opening hours.

The throttle is checked before the PIN. Locks are kept per account *and
terminal* (five failures rest that account on that terminal for 15 minutes),
so typing someone else's booking number at your own tablet cannot lock them
out of theirs. Twenty failures in all, anywhere, lock the account until staff
unlock it: that caps guessing across many terminals. A terminal on which five
different accounts fail within 15 minutes rests too. Every failure looks the
same to the person at the terminal.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import format_time
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import Inmate, InmateStatus, PinThrottle, SignInFailure, Terminal
from kiosk.security.passwords import SecretHasher
from kiosk.security.sessions import end_sessions
from kiosk.security.tokens import keyed_digest
from kiosk.services import audit, places
from kiosk.services.audit import Actor
from kiosk.services.inmates import (
    HARD_LOCK_FAILURES,
    SOFT_LOCK,
    SOFT_LOCK_FAILURES,
    TERMINAL_LOCK,
    TERMINAL_LOCK_ACCOUNTS,
    TERMINAL_WINDOW,
    normalize_booking,
)


class SignInError(DomainError):
    """Sign-in did not succeed."""


class SignInFailed(SignInError):
    """Wrong booking number or PIN, or a locked account: the same words for all of them."""

    status = 401
    default_message = _l(
        "The booking number or PIN is not right, or the account is resting after too many "
        "tries. Try again in 15 minutes, or ask staff."
    )


class TerminalLocked(SignInError):
    """The terminal rests after failures on many accounts."""

    status = 429
    default_message = _l(
        "This terminal is resting after many failed sign-ins. Try again in 15 minutes, "
        "or ask staff."
    )


class KioskClosed(SignInError):
    """Outside the unit's opening hours."""

    status = 403


class CannotSignIn(SignInError):
    """The PIN was right but the account may not sign in here (status, facility)."""

    status = 403
    default_message = _l("You cannot sign in here. Please ask staff.")


def closed_error(terminal: Terminal, now: dt.datetime) -> KioskClosed:
    """The message for a closed kiosk, with the next opening time when there is one."""
    opening = places.next_opening(terminal.unit, now)
    if opening is None:
        return KioskClosed(_l("The kiosk is closed. Staff have not set opening hours yet."))
    local_now = places.local_time(terminal.unit, now)
    if opening.date() == local_now.date():
        return KioskClosed(
            _l("The kiosk is closed now. It opens at %(time)s.", time=format_time(opening, "HH:mm"))
        )
    if opening.date() == local_now.date() + dt.timedelta(days=1):
        return KioskClosed(
            _l(
                "The kiosk is closed now. It opens tomorrow at %(time)s.",
                time=format_time(opening, "HH:mm"),
            )
        )
    return KioskClosed(_l("The kiosk is closed now."))


def sign_in(
    session: Session,
    *,
    hasher: SecretHasher,
    pepper: str,
    terminal_id: int,
    booking_number: str,
    pin: str,
    now: dt.datetime,
    ip: str | None,
) -> Inmate:
    """The inmate, if everything is right; otherwise a ``SignInError`` (failures are kept)."""
    failure: DomainError | None = None
    inmate: Inmate | None = None
    with unit_of_work(session):
        # One attempt at a time per terminal (PostgreSQL row lock; SQLite's write lock).
        terminal = session.get(
            Terminal, terminal_id, with_for_update={"of": Terminal}, populate_existing=True
        )
        if terminal is None or not terminal.is_enrolled:
            raise SignInFailed()
        actor = Actor.anonymous(ip, terminal.id)
        if not places.is_open(terminal.unit, now):
            failure = closed_error(terminal, now)
        elif terminal.locked_until is not None and terminal.locked_until > now:
            audit.record(
                session,
                "inmate.sign_in",
                actor=actor,
                outcome="refused",
                at=now,
                facility_id=terminal.facility_id,
                details={"reason": "terminal locked"},
            )
            failure = TerminalLocked()
        else:
            inmate, failure = _attempt(
                session,
                hasher=hasher,
                pepper=pepper,
                terminal=terminal,
                booking_number=booking_number,
                pin=pin,
                now=now,
                actor=actor,
            )
    if failure is not None:
        raise failure
    assert inmate is not None  # noqa: S101 - no failure means an inmate
    return inmate


def _attempt(
    session: Session,
    *,
    hasher: SecretHasher,
    pepper: str,
    terminal: Terminal,
    booking_number: str,
    pin: str,
    now: dt.datetime,
    actor: Actor,
) -> tuple[Inmate | None, DomainError | None]:
    booking = normalize_booking(booking_number)[: Inmate.BOOKING_MAX]
    inmate = session.scalars(
        select(Inmate).where(Inmate.booking_number == booking).with_for_update(of=Inmate)
    ).first()
    throttle: PinThrottle | None = None
    if inmate is not None:
        throttle = session.scalars(
            select(PinThrottle)
            .where(PinThrottle.inmate_id == inmate.id, PinThrottle.terminal_id == terminal.id)
            .with_for_update()
        ).first()
        if throttle is None:
            throttle = PinThrottle(inmate_id=inmate.id, terminal_id=terminal.id, failures=0)
            session.add(throttle)
        locked = inmate.hard_locked_at is not None or (
            throttle.locked_until is not None and throttle.locked_until > now
        )
        if locked:
            # Throttle before checking anything: the PIN is not even looked at.
            hasher.verify_pin(None, pin)
            _note_failure(session, terminal, booking, pepper, now, actor)
            audit.record(
                session,
                "inmate.sign_in",
                actor=actor,
                obj=inmate,
                outcome="refused",
                at=now,
                details={"reason": "account locked"},
            )
            return None, SignInFailed()

    if not hasher.verify_pin(inmate.pin_hash if inmate else None, pin):
        if inmate is not None and throttle is not None:
            throttle.failures += 1
            inmate.failed_sign_ins += 1
            if throttle.failures >= SOFT_LOCK_FAILURES:
                throttle.failures = 0
                throttle.locked_until = now + SOFT_LOCK
                audit.record(
                    session,
                    "inmate.lock",
                    actor=actor,
                    obj=inmate,
                    at=now,
                    details={"terminal_id": terminal.id, "until": throttle.locked_until},
                )
            if inmate.failed_sign_ins >= HARD_LOCK_FAILURES and inmate.hard_locked_at is None:
                inmate.hard_locked_at = now
                end_sessions(session, now=now, reason="locked", inmate_id=inmate.id)
                audit.record(
                    session,
                    "inmate.hard_lock",
                    actor=actor,
                    obj=inmate,
                    at=now,
                    details={"failures": inmate.failed_sign_ins},
                )
        _note_failure(session, terminal, booking, pepper, now, actor)
        audit.record(
            session,
            "inmate.sign_in",
            actor=actor,
            obj=inmate,
            outcome="failed",
            at=now,
            facility_id=terminal.facility_id,
            details={"booking_number": booking if inmate else "(unknown)"},
        )
        return None, SignInFailed()

    # A PIN matched, so the account and its throttle row exist.
    assert inmate is not None  # noqa: S101 - narrows the type, cannot fail
    assert throttle is not None  # noqa: S101 - idem
    if inmate.status is not InmateStatus.ACTIVE or inmate.facility_id != terminal.facility_id:
        audit.record(
            session,
            "inmate.sign_in",
            actor=actor,
            obj=inmate,
            outcome="refused",
            at=now,
            details={
                "reason": inmate.status.value
                if inmate.status is not InmateStatus.ACTIVE
                else "other facility"
            },
        )
        return None, CannotSignIn()

    throttle.failures = 0
    throttle.locked_until = None
    inmate.failed_sign_ins = 0
    inmate.last_sign_in_at = now
    terminal.last_sign_in_at = now
    if inmate.pin_hash and hasher.needs_rehash(inmate.pin_hash):
        inmate.pin_hash = hasher.hash_pin(pin)
    # One session per inmate: a session left open on another terminal ends now.
    end_sessions(session, now=now, reason="signed in elsewhere", inmate_id=inmate.id)
    signed_in = Actor(
        kind="inmate",
        id=inmate.id,
        label=inmate.booking_number,
        terminal_id=terminal.id,
        ip=actor.ip,
        facility_id=inmate.facility_id,
    )
    audit.record(session, "inmate.sign_in", actor=signed_in, obj=inmate, at=now)
    return inmate, None


def _note_failure(
    session: Session, terminal: Terminal, booking: str, pepper: str, now: dt.datetime, actor: Actor
) -> None:
    session.add(
        SignInFailure(
            terminal_id=terminal.id,
            identifier=keyed_digest(pepper, "booking:" + booking),
            created_at=now,
        )
    )
    session.flush()
    accounts = session.scalar(
        select(func.count(func.distinct(SignInFailure.identifier))).where(
            SignInFailure.terminal_id == terminal.id,
            SignInFailure.created_at > now - TERMINAL_WINDOW,
        )
    )
    if (accounts or 0) >= TERMINAL_LOCK_ACCOUNTS and (
        terminal.locked_until is None or terminal.locked_until <= now
    ):
        terminal.locked_until = now + TERMINAL_LOCK
        audit.record(
            session,
            "terminal.lock",
            actor=actor,
            obj=terminal,
            at=now,
            facility_id=terminal.facility_id,
            details={"accounts": accounts},
        )


def check_session(inmate: Inmate, terminal: Terminal | None, now: dt.datetime) -> str | None:
    """Why a signed-in inmate's session must end now, or None if it may go on."""
    if terminal is None:
        return "terminal"
    if inmate.status is not InmateStatus.ACTIVE:
        return "inactive"
    if inmate.hard_locked_at is not None:
        return "locked"
    if inmate.facility_id != terminal.facility_id:
        return "facility"
    if not places.is_open(terminal.unit, now):
        return "closed"
    return None
