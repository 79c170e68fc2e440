"""Server-side sessions and the sign-in throttles kept in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, utcnow


class WebSession(Base):
    """One browser session of one app; the cookie holds a random token, this row its hash."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_inmate_open", "inmate_id", "ended_at"),
        Index("ix_web_sessions_staff_open", "staff_id", "ended_at"),
        Index("ix_web_sessions_terminal_open", "terminal_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "kiosk" or "admin": a token is only ever looked up by the app that issued it.
    app: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[str] = mapped_column(Text, default="{}")
    inmate_id: Mapped[int | None] = mapped_column(ForeignKey("inmates.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class PinThrottle(Base):
    """Failed PINs of one account on one terminal: a lock one inmate cannot put on another."""

    __tablename__ = "pin_throttles"
    __table_args__ = (UniqueConstraint("inmate_id", "terminal_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id", ondelete="CASCADE"))
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]


class SignInFailure(Base):
    """One failed inmate sign-in on a terminal, to spot a terminal that tries many accounts."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_terminal_time", "terminal_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"))
    # Keyed hash of the booking number typed: unknown numbers count too, none is stored in clear.
    identifier: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SystemFlag(Base):
    """Small facts about this database, such as whether it holds demo data."""

    __tablename__ = "system_flags"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
