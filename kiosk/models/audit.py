"""The append-only, hash-chained audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base


class AuditEvent(Base):
    """One event; ``hash`` covers every column and the previous event's hash."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_actor", "actor_type", "actor_id"),
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_facility_id", "facility_id"),
    )

    # Assigned by the chain (previous + 1), never by the database: a gap is a deleted event.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime]
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(120))
    terminal_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[int | None] = mapped_column(Integer)
    facility_id: Mapped[int | None] = mapped_column(Integer)
    # Canonical JSON as hashed, so the stored text is exactly what the chain covers.
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's newest event, sealed with the audit key: a cut-off tail cannot be hidden."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
