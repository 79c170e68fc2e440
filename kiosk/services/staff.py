"""Staff accounts and their sign-in: password (argon2id), then TOTP or a recovery code."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import Facility, RecoveryCode, Role, Staff, StaffFacility, StaffRole
from kiosk.security import totp
from kiosk.security.crypto import Vault
from kiosk.security.passwords import SecretHasher, check_password, new_one_time_password
from kiosk.security.policy import may_assign
from kiosk.security.sessions import end_sessions
from kiosk.security.tokens import keyed_digest, new_code, normalize_code
from kiosk.services import audit
from kiosk.services.audit import Actor

_USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}", re.ASCII)
SOFT_LOCK_FAILURES = 5
SOFT_LOCK = dt.timedelta(minutes=15)
HARD_LOCK_FAILURES = 20
RECOVERY_CODES = 10
ISSUER = "Kiosk staff"


class StaffError(DomainError):
    """A staff-account rule said no."""


class StaffSignInFailed(StaffError):
    """Wrong user name, password or code, or a locked account: the same words for all."""

    status = 401
    default_message = _l(
        "The user name or password is not right, or the account is locked after too many "
        "tries. Wait 15 minutes or ask an administrator."
    )


class CodeRefused(StaffError):
    """The TOTP or recovery code is wrong, or was used already."""

    status = 401
    default_message = _l(
        "The code is not right or was used already. Wait for the next code and try again."
    )


class DuplicateUsername(StaffError):
    """The user name is taken."""

    status = 409
    default_message = _l("This user name is taken.")


def normalize_username(raw: str) -> str:
    """User names compare lower-case, trimmed."""
    return raw.strip().lower()


def _check_username(raw: str) -> str:
    value = normalize_username(raw)
    if not _USERNAME.fullmatch(value):
        raise StaffError(
            _l(
                "A user name has 2 to 64 characters: a-z first, "
                "then a-z, 0-9, dot, dash or underscore."
            ),
            field="username",
        )
    return value


def _check_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or len(name) > Staff.NAME_MAX:
        raise StaffError(
            _l("Give a name of at most %(n)d characters.", n=Staff.NAME_MAX), field="name"
        )
    return name


# Accounts ------------------------------------------------------------------


def create_staff(
    session: Session,
    *,
    actor: Actor,
    actor_staff: Staff | None,
    hasher: SecretHasher,
    vault: Vault,
    username: str,
    name: str,
    roles: Iterable[Role],
    facility_ids: Iterable[int],
    all_facilities: bool,
    now: dt.datetime,
    with_totp: bool = False,
    language: str = "sv",
) -> tuple[Staff, str, str | None]:
    """A new account, its one-time password and (optionally) its TOTP seed.

    ``actor_staff`` is None only for the command line, which is trusted like root.
    """
    username = _check_username(username)
    name = _check_name(name)
    role_set = frozenset(roles)
    ids = frozenset(facility_ids)
    if not role_set:
        raise StaffError(_l("Choose at least one role."), field="roles")
    if not all_facilities and not ids:
        raise StaffError(_l("Choose at least one facility."), field="facilities")
    if actor_staff is not None and not may_assign(
        actor_staff, role_set, all_facilities=all_facilities, facility_ids=ids
    ):
        raise StaffError(_l("You cannot give these roles or facilities."), field="roles")
    password = new_one_time_password()
    secret = totp.new_secret() if with_totp else None
    with unit_of_work(session):
        if session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
            raise DuplicateUsername(field="username")
        known = set(session.scalars(select(Facility.id).where(Facility.id.in_(ids))))
        if known != set(ids):
            raise StaffError(_l("Unknown facility."), field="facilities")
        staff = Staff(
            username=username,
            name=name,
            password_hash=hasher.hash_password(password),
            must_change_password=True,
            totp_secret=vault.encrypt(secret) if secret else None,
            all_facilities=all_facilities,
            preferred_language=language,
            created_at=now,
            role_rows=[StaffRole(role=r) for r in sorted(role_set)],
            facility_rows=[StaffFacility(facility_id=f) for f in sorted(ids)],
        )
        session.add(staff)
        session.flush()
        audit.record(
            session,
            "staff.create",
            actor=actor,
            obj=staff,
            at=now,
            details={
                "username": username,
                "roles": sorted(role_set),
                "facility_ids": sorted(ids),
                "all_facilities": all_facilities,
            },
        )
    return staff, password, secret


def update_access(
    session: Session,
    *,
    actor: Actor,
    actor_staff: Staff,
    staff: Staff,
    name: str,
    roles: Iterable[Role],
    facility_ids: Iterable[int],
    all_facilities: bool,
    now: dt.datetime,
) -> None:
    """Change an account's name, roles and facility scope."""
    name = _check_name(name)
    role_set = frozenset(roles)
    ids = frozenset(facility_ids)
    if not role_set:
        raise StaffError(_l("Choose at least one role."), field="roles")
    if not all_facilities and not ids:
        raise StaffError(_l("Choose at least one facility."), field="facilities")
    if not may_assign(actor_staff, role_set, all_facilities=all_facilities, facility_ids=ids):
        raise StaffError(_l("You cannot give these roles or facilities."), field="roles")
    if staff.id == actor_staff.id and Role.ADMIN in staff.roles and Role.ADMIN not in role_set:
        raise StaffError(_l("You cannot take away your own administrator role."), field="roles")
    with unit_of_work(session):
        before = {
            "roles": sorted(staff.roles),
            "facility_ids": sorted(staff.facility_ids),
            "all_facilities": staff.all_facilities,
            "name": staff.name,
        }
        staff.name = name
        staff.all_facilities = all_facilities
        staff.role_rows = [r for r in staff.role_rows if r.role in role_set] + [
            StaffRole(role=r) for r in sorted(role_set - staff.roles)
        ]
        staff.facility_rows = [f for f in staff.facility_rows if f.facility_id in ids] + [
            StaffFacility(facility_id=f) for f in sorted(ids - staff.facility_ids)
        ]
        audit.record(
            session,
            "staff.update",
            actor=actor,
            obj=staff,
            at=now,
            details={
                "before": before,
                "after": {
                    "roles": sorted(role_set),
                    "facility_ids": sorted(ids),
                    "all_facilities": all_facilities,
                    "name": name,
                },
            },
        )


def reset_password(
    session: Session, *, actor: Actor, hasher: SecretHasher, staff: Staff, now: dt.datetime
) -> str:
    """A new one-time password; the account's sessions end."""
    password = new_one_time_password()
    with unit_of_work(session):
        staff.password_hash = hasher.hash_password(password)
        staff.must_change_password = True
        ended = end_sessions(session, now=now, reason="password reset", staff_id=staff.id)
        audit.record(
            session,
            "staff.password_reset",
            actor=actor,
            obj=staff,
            at=now,
            details={"sessions_ended": ended},
        )
    return password


def reset_totp(session: Session, *, actor: Actor, staff: Staff, now: dt.datetime) -> None:
    """Forget the TOTP seed and recovery codes: the next sign-in enrols again."""
    with unit_of_work(session):
        staff.totp_secret = None
        staff.totp_last_step = None
        staff.totp_confirmed_at = None
        session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
        ended = end_sessions(session, now=now, reason="TOTP reset", staff_id=staff.id)
        audit.record(
            session,
            "staff.totp_reset",
            actor=actor,
            obj=staff,
            at=now,
            details={"sessions_ended": ended},
        )


def set_active(
    session: Session,
    *,
    actor: Actor,
    actor_staff: Staff | None,
    staff: Staff,
    active: bool,
    now: dt.datetime,
) -> None:
    """Deactivate (sessions end at once) or reactivate an account."""
    if actor_staff is not None and actor_staff.id == staff.id and not active:
        raise StaffError(_l("You cannot deactivate your own account."))
    with unit_of_work(session):
        staff.active = active
        staff.deactivated_at = None if active else now
        ended = 0
        if not active:
            ended = end_sessions(session, now=now, reason="deactivated", staff_id=staff.id)
        audit.record(
            session,
            "staff.activate" if active else "staff.deactivate",
            actor=actor,
            obj=staff,
            at=now,
            details={"sessions_ended": ended},
        )


def unlock(session: Session, *, actor: Actor, staff: Staff, now: dt.datetime) -> None:
    """Lift a lock after failed sign-ins."""
    with unit_of_work(session):
        staff.failed_sign_ins = 0
        staff.locked_until = None
        staff.hard_locked_at = None
        audit.record(session, "staff.unlock", actor=actor, obj=staff, at=now)


def change_password(
    session: Session,
    *,
    actor: Actor,
    hasher: SecretHasher,
    staff: Staff,
    current: str | None,
    new: str,
    now: dt.datetime,
    keep_session_id: int | None = None,
) -> None:
    """Set a new password; ``current`` is None only inside the sign-in flow's forced change."""
    if current is not None and not hasher.verify_password(staff.password_hash, current):
        raise StaffError(_l("Your current password is not right."), field="current_password")
    check_password(new, username=staff.username, name=staff.name)
    if hasher.verify_password(staff.password_hash, new):
        raise StaffError(
            _l("Choose a password that differs from the one you have."), field="password"
        )
    with unit_of_work(session):
        staff.password_hash = hasher.hash_password(new)
        staff.password_changed_at = now
        staff.must_change_password = False
        from kiosk.models import WebSession

        others = session.scalars(
            select(WebSession.id).where(
                WebSession.staff_id == staff.id,
                WebSession.ended_at.is_(None),
                WebSession.id != (keep_session_id or -1),
            )
        ).all()
        for sid in others:
            end_sessions(session, now=now, reason="password changed", session_id=sid)
        audit.record(session, "staff.password_change", actor=actor, obj=staff, at=now)


# Sign-in -------------------------------------------------------------------


def _is_locked(staff: Staff, now: dt.datetime) -> bool:
    return staff.hard_locked_at is not None or (
        staff.locked_until is not None and staff.locked_until > now
    )


def _count_failure(session: Session, staff: Staff, now: dt.datetime, actor: Actor) -> None:
    staff.failed_sign_ins += 1
    if staff.failed_sign_ins % SOFT_LOCK_FAILURES == 0:
        staff.locked_until = now + SOFT_LOCK
        audit.record(
            session,
            "staff.lock",
            actor=actor,
            obj=staff,
            at=now,
            details={"until": staff.locked_until},
        )
    if staff.failed_sign_ins >= HARD_LOCK_FAILURES and staff.hard_locked_at is None:
        staff.hard_locked_at = now
        end_sessions(session, now=now, reason="locked", staff_id=staff.id)
        audit.record(session, "staff.hard_lock", actor=actor, obj=staff, at=now)


def check_password_step(
    session: Session,
    *,
    hasher: SecretHasher,
    username: str,
    password: str,
    now: dt.datetime,
    ip: str | None,
) -> Staff:
    """First factor. Failures count toward the account's lock and are kept."""
    name = normalize_username(username)[: Staff.USERNAME_MAX]
    actor = Actor.anonymous(ip)
    failure: DomainError | None = None
    staff: Staff | None = None
    with unit_of_work(session):
        staff = session.scalars(
            select(Staff).where(Staff.username == name).with_for_update(of=Staff)
        ).first()
        if staff is not None and _is_locked(staff, now):
            hasher.verify_password(None, password)
            audit.record(
                session,
                "staff.sign_in",
                actor=actor,
                obj=staff,
                outcome="refused",
                at=now,
                details={"reason": "locked"},
            )
            failure = StaffSignInFailed()
        elif not hasher.verify_password(staff.password_hash if staff else None, password):
            if staff is not None:
                _count_failure(session, staff, now, actor)
            audit.record(
                session,
                "staff.sign_in",
                actor=actor,
                obj=staff,
                outcome="failed",
                at=now,
                object_type="staff",
                details={"username": name if staff else "(unknown)", "step": "password"},
            )
            failure = StaffSignInFailed()
        elif staff is not None and not staff.active:
            audit.record(
                session,
                "staff.sign_in",
                actor=actor,
                obj=staff,
                outcome="refused",
                at=now,
                details={"reason": "deactivated"},
            )
            failure = StaffSignInFailed()
        elif staff is not None:
            if hasher.needs_rehash(staff.password_hash):
                staff.password_hash = hasher.hash_password(password)
            audit.record(
                session,
                "staff.sign_in",
                actor=actor,
                obj=staff,
                outcome="partial",
                at=now,
                details={"step": "password"},
            )
    if failure is not None:
        raise failure
    assert staff is not None  # noqa: S101 - no failure means a staff member
    return staff


def looks_like_recovery_code(typed: str) -> bool:
    """Recovery codes have letters or ten characters; TOTP codes are six digits."""
    compact = normalize_code(typed)
    return len(compact) == 10


def check_second_factor(
    session: Session,
    *,
    vault: Vault,
    pepper: str,
    staff_id: int,
    code: str,
    now: dt.datetime,
    ip: str | None,
) -> Staff:
    """Second factor: a TOTP code of a step never used before, or an unused recovery code."""
    failure: DomainError | None = None
    with unit_of_work(session):
        staff = session.get(Staff, staff_id, with_for_update={"of": Staff}, populate_existing=True)
        if staff is None or staff.totp_secret is None:
            raise CodeRefused()
        actor = Actor(kind="staff", id=staff.id, label=staff.username, ip=ip)
        if _is_locked(staff, now) or not staff.active:
            audit.record(
                session,
                "staff.sign_in",
                actor=actor,
                obj=staff,
                outcome="refused",
                at=now,
                details={"reason": "locked" if staff.active else "deactivated"},
            )
            failure = StaffSignInFailed()
        elif looks_like_recovery_code(code):
            digest = keyed_digest(pepper, "recovery:" + normalize_code(code))
            row = session.scalars(
                select(RecoveryCode)
                .where(
                    RecoveryCode.staff_id == staff.id,
                    RecoveryCode.code_hash == digest,
                    RecoveryCode.used_at.is_(None),
                )
                .with_for_update()
            ).first()
            if row is None:
                _count_failure(session, staff, now, actor)
                audit.record(
                    session,
                    "staff.sign_in",
                    actor=actor,
                    obj=staff,
                    outcome="failed",
                    at=now,
                    details={"step": "recovery"},
                )
                failure = CodeRefused()
            else:
                row.used_at = now
                _signed_in(session, staff, now, actor, method="recovery")
        else:
            step = totp.verify(
                vault.decrypt(staff.totp_secret), code, last_step=staff.totp_last_step, now=now
            )
            if step is None:
                _count_failure(session, staff, now, actor)
                audit.record(
                    session,
                    "staff.sign_in",
                    actor=actor,
                    obj=staff,
                    outcome="failed",
                    at=now,
                    details={"step": "totp"},
                )
                failure = CodeRefused()
            else:
                staff.totp_last_step = step
                if staff.totp_confirmed_at is None:
                    staff.totp_confirmed_at = now
                _signed_in(session, staff, now, actor, method="totp")
    if failure is not None:
        raise failure
    return staff


def _signed_in(session: Session, staff: Staff, now: dt.datetime, actor: Actor, method: str) -> None:
    staff.failed_sign_ins = 0
    staff.locked_until = None
    staff.last_sign_in_at = now
    audit.record(
        session, "staff.sign_in", actor=actor, obj=staff, at=now, details={"method": method}
    )


def confirm_totp(
    session: Session,
    *,
    vault: Vault,
    staff_id: int,
    secret: str,
    code: str,
    now: dt.datetime,
    ip: str | None,
) -> Staff:
    """Save a new TOTP seed, but only once the person proves their app shows its codes."""
    failure: DomainError | None = None
    with unit_of_work(session):
        staff = session.get(Staff, staff_id, with_for_update={"of": Staff}, populate_existing=True)
        if staff is None or staff.totp_secret is not None or not staff.active:
            raise CodeRefused()
        actor = Actor(kind="staff", id=staff.id, label=staff.username, ip=ip)
        if _is_locked(staff, now):
            failure = StaffSignInFailed()
        else:
            step = totp.verify(secret, code, last_step=None, now=now)
            if step is None:
                _count_failure(session, staff, now, actor)
                audit.record(
                    session, "staff.totp_enrol", actor=actor, obj=staff, outcome="failed", at=now
                )
                failure = CodeRefused()
            else:
                staff.totp_secret = vault.encrypt(secret)
                staff.totp_last_step = step
                staff.totp_confirmed_at = now
                audit.record(session, "staff.totp_enrol", actor=actor, obj=staff, at=now)
                _signed_in(session, staff, now, actor, method="totp-enrolment")
    if failure is not None:
        raise failure
    assert staff is not None  # noqa: S101 - no failure means a staff member
    return staff


def unused_recovery_codes(session: Session, staff: Staff) -> int:
    """How many recovery codes are left."""
    count = session.scalar(
        select(func.count()).where(
            RecoveryCode.staff_id == staff.id, RecoveryCode.used_at.is_(None)
        )
    )
    return int(count or 0)


def new_recovery_codes(
    session: Session, *, actor: Actor, pepper: str, staff: Staff, now: dt.datetime
) -> list[str]:
    """Ten fresh single-use codes (shown once); older ones stop working."""
    codes = [new_code(10) for _ in range(RECOVERY_CODES)]
    with unit_of_work(session):
        session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))
        for code in codes:
            session.add(
                RecoveryCode(
                    staff_id=staff.id,
                    code_hash=keyed_digest(pepper, "recovery:" + normalize_code(code)),
                    created_at=now,
                )
            )
        audit.record(
            session,
            "staff.recovery_codes",
            actor=actor,
            obj=staff,
            at=now,
            details={"count": len(codes)},
        )
    return codes
