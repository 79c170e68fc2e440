"""The audit trail: every state change and sensitive read, in an append-only hash chain.

``record()`` queues an event on the session; the events are chained and written
in the same transaction, just before it commits, so an event exists exactly when
the change it describes does. Each event's ``hash`` is an HMAC (keyed with the
instance's audit key) over all its fields and the previous event's hash; the
``audit_head`` row seals the newest event, so cutting off the tail shows too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from kiosk.db import utcnow
from kiosk.models.audit import AuditEvent, AuditHead

GENESIS = "0" * 64
HEAD_ID = 1
_PENDING = "kiosk_audit_pending"
_KEY = "kiosk_audit_key"

# Detail keys with any of these words (split on "_") are never written, whatever a caller passes.
_SECRET_WORDS = frozenset(
    {
        "pin",
        "password",
        "passphrase",
        "secret",
        "token",
        "credential",
        "otp",
        "totp",
        "recovery",
        "key",
        "enrolment",
    }
)
_MAX_DETAIL_TEXT = 500


@dataclass(frozen=True)
class Actor:
    """Who did something, from where."""

    kind: str  # "inmate", "staff", "system" or "anonymous"
    id: int | None
    label: str
    terminal_id: int | None = None
    ip: str | None = None
    facility_id: int | None = None

    @staticmethod
    def system(label: str = "system") -> Actor:
        """The product itself, or an operator at the command line."""
        return Actor(kind="system", id=None, label=label[:120])

    @staticmethod
    def anonymous(ip: str | None, terminal_id: int | None = None) -> Actor:
        """Someone not signed in."""
        return Actor(kind="anonymous", id=None, label="anonymous", terminal_id=terminal_id, ip=ip)


@dataclass
class _Pending:
    action: str
    actor: Actor
    obj: Any
    object_type: str | None
    object_id: int | None
    facility_id: int | None
    outcome: str
    details: dict[str, Any]
    at: dt.datetime


def install(factory: sessionmaker[Session], key: bytes | None = None) -> None:
    """Chain queued events into every commit of sessions made by ``factory``."""
    if key is not None:
        factory.kw.setdefault("info", {})[_KEY] = key
    # A mark on the factory itself, not event.contains(): SQLAlchemy keys its registry by
    # id(), and a new factory that reuses a collected one's id would seem to have the
    # listeners already, so its commits would silently write no audit events.
    if not getattr(factory, "_kiosk_audit_installed", False):
        event.listen(factory, "before_commit", _before_commit)
        event.listen(factory, "after_soft_rollback", _after_rollback)
        factory._kiosk_audit_installed = True  # type: ignore[attr-defined]


def set_key(factory: sessionmaker[Session], key: bytes) -> None:
    """Give sessions of ``factory`` the HMAC key of the chain."""
    info = dict(factory.kw.get("info") or {})
    info[_KEY] = key
    factory.kw["info"] = info


def _scrub(details: Mapping[str, Any] | None) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in (details or {}).items():
        if _SECRET_WORDS & set(name.lower().split("_")):
            continue
        if isinstance(value, str) and len(value) > _MAX_DETAIL_TEXT:
            value = value[:_MAX_DETAIL_TEXT] + "…"
        if isinstance(value, dt.datetime | dt.date | dt.time):
            value = value.isoformat()
        if isinstance(value, set | frozenset | tuple):
            value = sorted(str(v) for v in value)
        clean[name] = value
    return clean


def record(
    session: Session,
    action: str,
    *,
    actor: Actor,
    obj: Any = None,
    object_type: str | None = None,
    object_id: int | None = None,
    facility_id: int | None = None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Queue one event; it is written when (and only if) the transaction commits."""
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    pending.append(
        _Pending(
            action=action,
            actor=actor,
            obj=obj,
            object_type=object_type,
            object_id=object_id,
            facility_id=facility_id,
            outcome=outcome,
            details=_scrub(details),
            at=at or utcnow(),
        )
    )


def _object_facility(obj: Any) -> int | None:
    for attr in ("audit_facility_id", "facility_id"):
        value = getattr(obj, attr, None)
        if isinstance(value, int):
            return value
    return None


def canonical_details(details: Mapping[str, Any]) -> str:
    """The one JSON text of a details mapping that the chain covers."""
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    )


def _event_digest(key: bytes, ev: AuditEvent) -> str:
    fields = [
        ev.seq,
        ev.occurred_at.astimezone(dt.UTC).isoformat(),
        ev.actor_type,
        ev.actor_id,
        ev.actor_label,
        ev.terminal_id,
        ev.ip,
        ev.action,
        ev.outcome,
        ev.object_type,
        ev.object_id,
        ev.facility_id,
        ev.details,
        ev.prev_hash,
    ]
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, f"head:{seq}:{digest}".encode("ascii"), hashlib.sha256).hexdigest()


def _session_key(session: Session) -> bytes:
    key = session.info.get(_KEY)
    if not isinstance(key, bytes):
        raise RuntimeError("this session has no audit key: build it from kiosk.db.Database")
    return key


def _after_rollback(session: Session, _previous: Any) -> None:
    # The change was undone, so the events describing it must not be written later.
    session.info.pop(_PENDING, None)


def _before_commit(session: Session) -> None:
    pending: list[_Pending] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    key = _session_key(session)
    # New objects get their ids, so events can name them.
    session.flush()
    # The head row is the chain's lock: one writer extends the chain at a time
    # (SELECT ... FOR UPDATE on PostgreSQL; SQLite writers hold the database lock).
    # Everything else is done before, so the lock is held for as short a time as can be:
    # this read, one statement that writes the events and moves the head, and the commit.
    # Core statements: the ORM's unit of work costs more Python time, under the lock.
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID).with_for_update()
    ).first()
    seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS)
    rows: list[dict[str, Any]] = []
    for item in pending:
        obj = item.obj
        object_type = item.object_type
        object_id = item.object_id
        facility_id = item.facility_id
        if obj is not None:
            object_type = object_type or type(obj).__name__.lower()
            object_id = object_id if object_id is not None else getattr(obj, "id", None)
            if facility_id is None:
                facility_id = _object_facility(obj)
        if facility_id is None:
            facility_id = item.actor.facility_id
        seq += 1
        ev = AuditEvent(
            seq=seq,
            occurred_at=item.at.astimezone(dt.UTC),
            actor_type=item.actor.kind,
            actor_id=item.actor.id,
            actor_label=item.actor.label[:120],
            terminal_id=item.actor.terminal_id,
            ip=item.actor.ip,
            action=item.action,
            outcome=item.outcome,
            object_type=object_type,
            object_id=object_id,
            facility_id=facility_id,
            details=canonical_details(item.details),
            prev_hash=prev,
        )
        ev.hash = _event_digest(key, ev)
        prev = ev.hash
        rows.append({name: getattr(ev, name) for name in _EVENT_COLUMNS})
    seal = {"seq": seq, "hash": prev, "mac": _head_mac(key, seq, prev)}
    if head is None:
        session.execute(insert(AuditEvent).values(rows))
        session.execute(insert(AuditHead).values(id=HEAD_ID, **seal))
        return
    # Core statements on the connection, built once (below), so SQLAlchemy compiles them
    # once: an insert with the values written into it is compiled again on every commit
    # (about 2 ms of Python, under the chain's lock).
    connection = session.connection()
    head_params = {f"head_{name}": value for name, value in seal.items()}
    if len(rows) == 1 and connection.dialect.name == "postgresql":
        # Nearly every commit: one round trip, the insert in a CTE of the head's update.
        connection.execute(_APPEND_ONE_PG, {**rows[0], **head_params})
        return
    connection.execute(insert(AuditEvent), rows)  # several rows: one executemany
    connection.execute(_MOVE_HEAD, head_params)


_EVENT_COLUMNS = tuple(c.key for c in AuditEvent.__table__.columns)
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == HEAD_ID)
    .values(
        seq=bindparam("head_seq", type_=BigInteger()),
        hash=bindparam("head_hash", type_=String()),
        mac=bindparam("head_mac", type_=String()),
    )
)
_APPEND_ONE_PG = _MOVE_HEAD.add_cte(
    insert(AuditEvent)
    .values({c.key: bindparam(c.key, type_=c.type) for c in AuditEvent.__table__.columns})
    .returning(AuditEvent.seq)
    .cte("written_events")
)


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found: ok, or the first bad event and what is wrong with it."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(session: Session, key: bytes, *, batch: int = 2000) -> VerifyResult:
    """Walk the whole chain; report the first event that was changed, removed or moved."""
    expected_seq = 1
    prev = GENESIS
    checked = 0
    last_seq = 0
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    for ev in session.scalars(stmt):
        if ev.seq != expected_seq:
            if ev.seq > expected_seq:
                problem = f"events {expected_seq}..{ev.seq - 1} are missing (deleted)"
                return VerifyResult(False, checked, expected_seq, problem)
            return VerifyResult(False, checked, ev.seq, "sequence number out of order")
        if ev.prev_hash != prev:
            return VerifyResult(
                False, checked, ev.seq, "does not follow the event before it (moved or replaced)"
            )
        if not hmac.compare_digest(_event_digest(key, ev), ev.hash):
            return VerifyResult(False, checked, ev.seq, "contents were changed after writing")
        prev = ev.hash
        last_seq = ev.seq
        expected_seq += 1
        checked += 1
    head = session.get(AuditHead, HEAD_ID)
    if head is None or head.seq == 0:
        if checked:
            return VerifyResult(False, checked, last_seq, "the chain's seal is missing")
        return VerifyResult(True, 0)
    if not hmac.compare_digest(_head_mac(key, head.seq, head.hash), head.mac):
        return VerifyResult(False, checked, head.seq, "the chain's seal was changed")
    if head.seq != last_seq or head.hash != prev:
        problem = f"the seal names event {head.seq}, but the log ends at event {last_seq}"
        return VerifyResult(False, checked, min(head.seq, last_seq + 1), problem)
    return VerifyResult(True, checked)


@dataclass(frozen=True)
class AuditFilter:
    """Filters of the audit trail page."""

    action: str | None = None
    actor_type: str | None = None
    actor_label: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    facility_ids: Iterable[int] | None = None
    include_unscoped: bool = True
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: str | None = None


def search(
    session: Session, flt: AuditFilter, *, before_seq: int | None = None, limit: int = 50
) -> list[AuditEvent]:
    """Newest first, keyset-paginated by sequence number."""
    stmt = select(AuditEvent)
    if flt.action:
        stmt = stmt.where(AuditEvent.action.startswith(flt.action, autoescape=True))
    if flt.actor_type:
        stmt = stmt.where(AuditEvent.actor_type == flt.actor_type)
    if flt.actor_label:
        stmt = stmt.where(AuditEvent.actor_label == flt.actor_label)
    if flt.object_type:
        stmt = stmt.where(AuditEvent.object_type == flt.object_type)
    if flt.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == flt.object_id)
    if flt.outcome:
        stmt = stmt.where(AuditEvent.outcome == flt.outcome)
    if flt.facility_ids is not None:
        ids = list(flt.facility_ids)
        cond: ColumnElement[bool] = AuditEvent.facility_id.in_(ids)
        if flt.include_unscoped:
            cond = cond | AuditEvent.facility_id.is_(None)
        stmt = stmt.where(cond)
    if flt.since:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.occurred_at < flt.until)
    if before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    stmt = stmt.order_by(AuditEvent.seq.desc()).limit(limit)
    return list(session.scalars(stmt))


def parse_details(ev: AuditEvent) -> dict[str, Any]:
    """The details of an event as a mapping."""
    try:
        value = json.loads(ev.details)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
