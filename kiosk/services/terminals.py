"""Terminals: created by staff, enrolled once with a one-time code, revocable.

Enrolment gives the device a long-lived credential (a random token in a
cookie that only this server can read). In production nginx also checks the
terminal's client certificate and passes its fingerprint; the fingerprint seen
at enrolment is recorded and must match on every later request.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.errors import DomainError
from kiosk.i18n import _l
from kiosk.models import Terminal, Unit
from kiosk.security.sessions import end_sessions
from kiosk.security.tokens import new_code, new_token, normalize_code, token_hash
from kiosk.services import audit
from kiosk.services.audit import Actor

CODE_LENGTH = 10
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_CREDENTIAL_CONTEXT = "terminal"
_CODE_CONTEXT = "enrolment"


class TerminalError(DomainError):
    """A terminal rule said no."""


class EnrolmentCodeInvalid(TerminalError):
    """The code is wrong, used or expired (one message for all three)."""

    default_message = _l("This enrolment code does not work. Check it, or ask for a new one.")


def normalize_fingerprint(raw: str | None) -> str | None:
    """Lower-case hex SHA-256 without colons, or None when absent or malformed."""
    if not raw:
        return None
    value = raw.replace(":", "").strip().lower()
    return value if _FINGERPRINT.fullmatch(value) else None


def fingerprint_from_header(raw: str | None) -> str | None:
    """The SHA-256 fingerprint nginx vouches for.

    nginx has no SHA-256 fingerprint variable (``$ssl_client_fingerprint`` is SHA-1),
    so it passes the verified certificate itself (``$ssl_client_escaped_cert``) and we
    hash its DER form here. A bare 64-hex fingerprint is accepted too.
    """
    if not raw or len(raw) > 16384:
        return None
    text = unquote(raw).strip()
    if not text.startswith("-----BEGIN CERTIFICATE-----"):
        return normalize_fingerprint(text)
    # Imported here, not with the module: cryptography is about 9 MB resident, and only
    # a server behind nginx with client certificates parses one.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return cert.fingerprint(hashes.SHA256()).hex()


def create_terminal(
    session: Session, *, actor: Actor, name: str, unit: Unit, now: dt.datetime, code_hours: int
) -> tuple[Terminal, str]:
    """A new terminal and its one-time enrolment code (shown once, stored hashed)."""
    name = name.strip()
    if not name or len(name) > Terminal.NAME_MAX:
        raise TerminalError(
            _l("Give a name of at most %(n)d characters.", n=Terminal.NAME_MAX), field="name"
        )
    with unit_of_work(session):
        terminal = Terminal(name=name, unit_id=unit.id, created_at=now)
        session.add(terminal)
        session.flush()
        code = _new_code(terminal, now, code_hours)
        audit.record(
            session,
            "terminal.create",
            actor=actor,
            obj=terminal,
            at=now,
            facility_id=unit.facility_id,
            details={"name": name, "unit": unit.code},
        )
    return terminal, code


def _new_code(terminal: Terminal, now: dt.datetime, code_hours: int) -> str:
    code = new_code(CODE_LENGTH)
    terminal.enrolment_code_hash = token_hash(normalize_code(code), _CODE_CONTEXT)
    terminal.enrolment_expires_at = now + dt.timedelta(hours=code_hours)
    return code


def issue_enrolment_code(
    session: Session, *, actor: Actor, terminal: Terminal, now: dt.datetime, code_hours: int
) -> str:
    """A new one-time code; using it replaces the device credential (re-enrolment)."""
    with unit_of_work(session):
        code = _new_code(terminal, now, code_hours)
        audit.record(
            session,
            "terminal.code",
            actor=actor,
            obj=terminal,
            at=now,
            facility_id=terminal.unit.facility_id,
            details={"expires_at": terminal.enrolment_expires_at},
        )
    return code


def enrol(
    session: Session,
    *,
    code: str,
    now: dt.datetime,
    ip: str | None,
    fingerprint: str | None,
) -> tuple[Terminal, str]:
    """Exchange a one-time code for the device credential; the code stops working."""
    normalized = normalize_code(code)
    failure: DomainError | None = None
    result: tuple[Terminal, str] | None = None
    with unit_of_work(session):
        terminal = None
        if len(normalized) == CODE_LENGTH:
            terminal = session.scalars(
                select(Terminal)
                .where(Terminal.enrolment_code_hash == token_hash(normalized, _CODE_CONTEXT))
                .with_for_update(of=Terminal)
            ).first()
        if (
            terminal is None
            or terminal.enrolment_expires_at is None
            or terminal.enrolment_expires_at <= now
        ):
            audit.record(
                session,
                "terminal.enrol",
                actor=Actor.anonymous(ip),
                outcome="failed",
                at=now,
                object_type="terminal",
                object_id=terminal.id if terminal else None,
                facility_id=terminal.unit.facility_id if terminal else None,
            )
            failure = EnrolmentCodeInvalid()
        else:
            credential = new_token()
            terminal.credential_hash = token_hash(credential, _CREDENTIAL_CONTEXT)
            terminal.enrolment_code_hash = None
            terminal.enrolment_expires_at = None
            terminal.enrolled_at = now
            terminal.revoked_at = None
            terminal.locked_until = None
            if fingerprint:
                terminal.cert_fingerprint = fingerprint
            # Whatever device held the old credential is signed out with it.
            end_sessions(session, now=now, reason="re-enrolled", terminal_id=terminal.id)
            audit.record(
                session,
                "terminal.enrol",
                actor=Actor.anonymous(ip, terminal.id),
                obj=terminal,
                at=now,
                facility_id=terminal.unit.facility_id,
                details={"certificate": fingerprint or None},
            )
            result = (terminal, credential)
    if failure is not None:
        raise failure
    assert result is not None  # noqa: S101 - one of the two branches ran
    return result


# Built once: every portal request runs it.
_BY_CREDENTIAL = select(Terminal).where(
    Terminal.credential_hash == bindparam("digest"), Terminal.revoked_at.is_(None)
)


def identify(
    session: Session, *, credential: str | None, fingerprint: str | None, require_cert: bool
) -> Terminal | None:
    """The enrolled terminal a request comes from, or None.

    With ``require_cert`` (behind nginx with client certificates) the fingerprint
    nginx passes must be present and equal to the one recorded for the terminal:
    a credential copied to another device does not work there.
    """
    if not credential or len(credential) > 100:
        return None
    terminal = session.scalars(
        _BY_CREDENTIAL, {"digest": token_hash(credential, _CREDENTIAL_CONTEXT)}
    ).first()
    if terminal is None:
        return None
    if require_cert and (fingerprint is None or fingerprint != terminal.cert_fingerprint):
        return None
    if fingerprint is not None and terminal.cert_fingerprint not in (None, fingerprint):
        # nginx vouches for another certificate than the one recorded: the credential
        # was copied to a different device, even where certificates are not yet required.
        return None
    return terminal


def revoke(session: Session, *, actor: Actor, terminal: Terminal, now: dt.datetime) -> None:
    """The device credential stops working now, and its sessions end."""
    with unit_of_work(session):
        terminal.revoked_at = now
        terminal.credential_hash = None
        terminal.enrolment_code_hash = None
        terminal.enrolment_expires_at = None
        ended = end_sessions(session, now=now, reason="terminal revoked", terminal_id=terminal.id)
        audit.record(
            session,
            "terminal.revoke",
            actor=actor,
            obj=terminal,
            at=now,
            facility_id=terminal.unit.facility_id,
            details={"sessions_ended": ended},
        )


def unlock(session: Session, *, actor: Actor, terminal: Terminal, now: dt.datetime) -> None:
    """Lift a terminal's lock after failed sign-ins."""
    with unit_of_work(session):
        terminal.locked_until = None
        audit.record(
            session,
            "terminal.unlock",
            actor=actor,
            obj=terminal,
            at=now,
            facility_id=terminal.unit.facility_id,
        )


def set_fingerprint(
    session: Session, *, actor: Actor, terminal: Terminal, fingerprint: str | None, now: dt.datetime
) -> None:
    """Record (or clear) the client-certificate fingerprint a terminal must present."""
    with unit_of_work(session):
        before = terminal.cert_fingerprint
        terminal.cert_fingerprint = fingerprint
        audit.record(
            session,
            "terminal.certificate",
            actor=actor,
            obj=terminal,
            at=now,
            facility_id=terminal.unit.facility_id,
            details={"before": before, "after": fingerprint},
        )
