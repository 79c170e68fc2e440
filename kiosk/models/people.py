"""Inmates and staff."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kiosk.db import Base, utcnow
from kiosk.models.places import Facility, Unit


class InmateStatus(enum.StrEnum):
    """Where an inmate stands with this prison service."""

    ACTIVE = "active"
    TRANSFERRED = "transferred"
    RELEASED = "released"


class Role(enum.StrEnum):
    """Staff roles; what each may do is decided in ``kiosk.security.policy``."""

    ADMIN = "admin"
    SECURITY = "security"
    OFFICER = "officer"
    HEALTHCARE = "healthcare"
    CHAPLAIN = "chaplain"
    COMMISSARY = "commissary"
    TEACHER = "teacher"
    CASEWORKER = "caseworker"
    AUDITOR = "auditor"


def _enum(cls: type[enum.StrEnum], length: int = 16) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=length,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Inmate(Base):
    """A person held in a facility who may use the inmate portal."""

    __tablename__ = "inmates"

    BOOKING_MAX = 32
    NAME_MAX = 120

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_number: Mapped[str] = mapped_column(String(BOOKING_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    preferred_language: Mapped[str] = mapped_column(String(8), default="sv")
    status: Mapped[InmateStatus] = mapped_column(
        _enum(InmateStatus), default=InmateStatus.ACTIVE, index=True
    )
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    pin_set_at: Mapped[dt.datetime | None]
    # True while the PIN is the one staff issued (the inmate is invited to choose their own).
    pin_issued: Mapped[bool] = mapped_column(Boolean, default=True)
    # Failed sign-ins since the last success, across all terminals.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    # Set after too many failures in all: only staff can lift it.
    hard_locked_at: Mapped[dt.datetime | None]
    last_sign_in_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    left_at: Mapped[dt.datetime | None]

    facility: Mapped[Facility] = relationship(lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        """A loaded inmate is a signed-in one."""
        return True

    @property
    def is_active(self) -> bool:
        """Only active inmates may use the portal."""
        return self.status is InmateStatus.ACTIVE

    @property
    def is_anonymous(self) -> bool:
        """Never anonymous."""
        return False

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session."""
        return str(self.id)

    def __repr__(self) -> str:
        return f"<Inmate {self.booking_number}>"


class StaffRole(Base):
    """One role held by one staff member."""

    __tablename__ = "staff_roles"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role), primary_key=True)


class StaffFacility(Base):
    """A facility inside one staff member's scope."""

    __tablename__ = "staff_facilities"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), primary_key=True)


class Staff(Base):
    """An employee who signs in to the staff app with password and TOTP."""

    __tablename__ = "staff"

    USERNAME_MAX = 64
    NAME_MAX = 120

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None]
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    # Fernet-encrypted TOTP seed; None until enrolled (or after a reset).
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    # The last accepted 30-second time step: no step at or before it is accepted again.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    totp_confirmed_at: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # National staff see every facility; others only those in staff_facilities.
    all_facilities: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_language: Mapped[str] = mapped_column(String(8), default="sv")
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    hard_locked_at: Mapped[dt.datetime | None]
    last_sign_in_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[dt.datetime | None]
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)

    role_rows: Mapped[list[StaffRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    facility_rows: Mapped[list[StaffFacility]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[Role]:
        """The roles this staff member holds."""
        return frozenset(r.role for r in self.role_rows)

    @property
    def facility_ids(self) -> frozenset[int]:
        """The facilities inside this staff member's scope (see ``all_facilities``)."""
        return frozenset(f.facility_id for f in self.facility_rows)

    @property
    def audit_facility_id(self) -> int | None:
        """The facility whose auditors see events about this account (one-facility staff)."""
        ids = self.facility_ids
        if self.all_facilities or len(ids) != 1:
            return None
        return next(iter(ids))

    @property
    def is_authenticated(self) -> bool:
        """A loaded staff member is a signed-in one."""
        return True

    @property
    def is_active(self) -> bool:
        """Deactivated accounts cannot be used."""
        return self.active

    @property
    def is_anonymous(self) -> bool:
        """Never anonymous."""
        return False

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session."""
        return str(self.id)

    def __repr__(self) -> str:
        return f"<Staff {self.username}>"


class RecoveryCode(Base):
    """A single-use code that replaces a TOTP code once; stored as a keyed hash."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
