"""Facilities, their units (with kiosk opening hours) and the terminals enrolled to them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kiosk.db import Base, utcnow


class Facility(Base):
    """A prison or remand centre."""

    __tablename__ = "facilities"

    CODE_MAX = 16
    NAME_MAX = 120

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Stockholm")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    units: Mapped[list[Unit]] = relationship(back_populates="facility", order_by="Unit.code")

    @property
    def audit_facility_id(self) -> int:
        """Events about a facility belong to that facility."""
        return self.id

    def __repr__(self) -> str:
        return f"<Facility {self.code}>"


class Unit(Base):
    """A living unit or a study area inside a facility, with the kiosk's opening hours."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("facility_id", "code"),)

    CODE_MAX = 16
    NAME_MAX = 120

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    # JSON: {"0": [["07:00", "21:00"]], ...} keyed by ISO weekday - 1 (Monday is "0").
    # An empty object means closed: a unit is never open by accident.
    opening_hours: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    facility: Mapped[Facility] = relationship(back_populates="units", lazy="joined")

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class Terminal(Base):
    """A cell tablet, thin client or corridor kiosk, enrolled to one unit."""

    __tablename__ = "terminals"
    __table_args__ = (Index("ix_terminals_unit_id_name", "unit_id", "name"),)

    NAME_MAX = 80

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # SHA-256 of the long-lived device credential kept in the terminal's cookie.
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # SHA-256 of the one-time enrolment code, and when it stops working.
    enrolment_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolment_expires_at: Mapped[dt.datetime | None]
    enrolled_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    # SHA-256 fingerprint of the terminal's client certificate, checked when nginx passes it.
    cert_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Set when sign-ins on this terminal failed for many different accounts.
    locked_until: Mapped[dt.datetime | None]
    last_sign_in_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")

    @property
    def facility_id(self) -> int:
        """The facility of the terminal's unit."""
        return self.unit.facility_id

    @property
    def is_enrolled(self) -> bool:
        """True while the terminal holds a working device credential."""
        return self.credential_hash is not None and self.revoked_at is None

    def __repr__(self) -> str:
        return f"<Terminal {self.id} {self.name}>"
