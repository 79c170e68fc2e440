"""Digitized requests ("applications"): types defined as data, requests, their timeline.

Nothing here is ever deleted: a request keeps every event from submission to
closing, and corrections are new events. Health contents (answers, event bodies,
external appointments) are stored encrypted with the instance data key.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kiosk.db import Base, utcnow
from kiosk.models.people import Inmate, Role, Staff


def _enum(cls: type[enum.StrEnum], length: int = 16, name: str | None = None) -> Enum:
    return Enum(
        cls,
        name=name or cls.__name__.lower(),
        native_enum=False,
        length=length,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Sensitivity(enum.StrEnum):
    """How closely a request is guarded."""

    NORMAL = "normal"
    HEALTH = "health"  # only healthcare staff; contents encrypted at rest
    COMPLAINT = "complaint"  # the handling group only; never the staff member named


class Category(enum.StrEnum):
    """What a request is about, for grouping the catalogue."""

    HEALTH = "health"
    FAITH = "faith"
    DAILY_LIFE = "daily_life"
    MONEY = "money"
    COMPLAINT = "complaint"
    CONTACTS = "contacts"
    VISITS = "visits"
    EDUCATION = "education"
    WORK = "work"
    OTHER = "other"


class FieldKind(enum.StrEnum):
    """Kinds of form field a request type may ask for."""

    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    CHOICE = "choice"
    DATE = "date"
    NUMBER = "number"
    YES_NO = "yes_no"


class Effect(enum.StrEnum):
    """What approving a request of this type does besides answering."""

    NONE = "none"
    ADD_CONTACT = "add_contact"
    REMOVE_CONTACT = "remove_contact"
    BOOK_VISIT = "book_visit"


class Status(enum.StrEnum):
    """Where a request stands."""

    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"  # for the inmate to add information
    APPROVED = "approved"
    REJECTED = "rejected"
    ANSWERED = "answered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = frozenset({Status.SUBMITTED, Status.IN_PROGRESS, Status.WAITING})
DECIDED_STATUSES = frozenset({Status.APPROVED, Status.REJECTED, Status.ANSWERED})


class Source(enum.StrEnum):
    """How the request reached us."""

    PORTAL = "portal"
    PAPER = "paper"  # handed in on paper and logged by staff


class EventKind(enum.StrEnum):
    """One entry of a request's timeline."""

    SUBMITTED = "submitted"
    REPLY = "reply"  # to the inmate
    NOTE = "note"  # internal: the inmate never sees it
    FORWARD = "forward"  # to another group, with a comment (internal)
    STATUS = "status"  # a status change; its body is the reason shown to the inmate
    INFO = "info"  # the inmate added information
    WITHDRAWN = "withdrawn"
    ESCALATED = "escalated"  # overdue: sent to the group's supervisor (internal)
    APPOINTMENT = "appointment"  # an external appointment was arranged (details elsewhere)
    NAMED_STAFF = "named_staff"  # staff linked the staff member a complaint is about


class RequestType(Base):
    """A kind of request inmates can make, defined by staff as data."""

    __tablename__ = "request_types"

    CODE_MAX = 40
    NAME_MAX = 120
    HELP_MAX = 2000
    MAX_FIELDS = 20
    MAX_REPLY_DAYS = 60

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    # {"sv": "...", "en": "..."}: one per language.
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    help_texts: Mapped[dict[str, str]] = mapped_column(JSON)
    category: Mapped[Category] = mapped_column(_enum(Category))
    # The handling group: a role, in a facility (None: the inmate's own facility).
    handler_role: Mapped[Role] = mapped_column(_enum(Role))
    handler_facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    sensitivity: Mapped[Sensitivity] = mapped_column(_enum(Sensitivity))
    # [{"key", "kind", "label": {lang: text}, "help": {...}, "required", "max_length",
    #   "min", "max", "choices": [{"value", "label": {...}}]}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reply_days: Mapped[int] = mapped_column(Integer)
    one_open: Mapped[bool] = mapped_column(Boolean, default=False)
    effect: Mapped[Effect] = mapped_column(_enum(Effect), default=Effect.NONE)
    # True: about a staff member; the handling group sees it, the person named never.
    names_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_everywhere: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    # The facility whose administrators may edit it; None: national (all-facility admins).
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    facility_rows: Mapped[list[RequestTypeFacility]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def facility_ids(self) -> frozenset[int]:
        """Facilities that offer this type (when not offered everywhere)."""
        return frozenset(r.facility_id for r in self.facility_rows)

    def offered_in(self, facility_id: int) -> bool:
        """True when inmates of this facility may ask for it."""
        return self.active and (self.offered_everywhere or facility_id in self.facility_ids)

    def __repr__(self) -> str:
        return f"<RequestType {self.code}>"


class RequestTypeFacility(Base):
    """A facility that offers a request type."""

    __tablename__ = "request_type_facilities"

    type_id: Mapped[int] = mapped_column(
        ForeignKey("request_types.id", ondelete="CASCADE"), primary_key=True
    )
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), primary_key=True)


class RequestGroupSupervisor(Base):
    """Who overdue requests of one handling group (role in a facility) escalate to."""

    __tablename__ = "request_group_supervisors"

    role: Mapped[Role] = mapped_column(_enum(Role), primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))

    staff: Mapped[Staff] = relationship(lazy="joined")


class InmateRequest(Base):
    """One request of one inmate, with its receipt number and reply-by date."""

    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("inmate_id", "idempotency_key"),
        # The staff queue: a group's open requests, most urgent first.
        Index(
            "ix_requests_queue_open",
            "group_facility_id",
            "group_role",
            "is_open",
            "reply_by",
            "id",
        ),
        Index("ix_requests_queue_status", "group_facility_id", "group_role", "status", "reply_by"),
        # The queue with every status ("all"): still in reply-by order from the index.
        Index("ix_requests_queue_all", "group_facility_id", "group_role", "reply_by", "id"),
        # The inmate's own list, newest first.
        Index("ix_requests_inmate_submitted", "inmate_id", "submitted_at", "id"),
        # One-at-a-time checks and overdue escalation.
        Index("ix_requests_inmate_type_open", "inmate_id", "type_id", "is_open"),
        Index("ix_requests_open_reply_by", "is_open", "reply_by"),
    )

    RECEIPT_MAX = 32
    IDEMPOTENCY_MAX = 64

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_number: Mapped[str | None] = mapped_column(String(RECEIPT_MAX), unique=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("request_types.id"), index=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    # The inmate's facility when they asked.
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    # The group handling it now (changes when forwarded).
    group_role: Mapped[Role] = mapped_column(_enum(Role))
    group_facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    sensitivity: Mapped[Sensitivity] = mapped_column(_enum(Sensitivity))
    status: Mapped[Status] = mapped_column(_enum(Status))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[Source] = mapped_column(_enum(Source), default=Source.PORTAL)
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_MAX))
    # JSON of [{"key", "label", "kind", "value"}], encrypted for health requests.
    answers: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[dt.datetime]
    # The last working day by which the inmate should have an answer (facility's calendar).
    reply_by: Mapped[dt.date] = mapped_column(Date)
    first_reply_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    updated_at: Mapped[dt.datetime]

    type: Mapped[RequestType] = relationship(lazy="joined", innerjoin=True)
    inmate: Mapped[Inmate] = relationship(lazy="joined", innerjoin=True)
    named_staff_rows: Mapped[list[RequestNamedStaff]] = relationship(lazy="selectin")

    @property
    def named_staff_ids(self) -> frozenset[int]:
        """Staff members a complaint is about: they never see it."""
        return frozenset(r.staff_id for r in self.named_staff_rows)

    @property
    def audit_facility_id(self) -> int:
        """Events about a request belong to the inmate's facility."""
        return self.facility_id

    def __repr__(self) -> str:
        return f"<InmateRequest {self.receipt_number}>"


class RequestNamedStaff(Base):
    """A staff member a complaint is about."""

    __tablename__ = "request_named_staff"

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequestEvent(Base):
    """One entry of a request's timeline; never changed or removed."""

    __tablename__ = "request_events"
    __table_args__ = (Index("ix_request_events_request_id_id", "request_id", "id"),)

    BODY_MAX = 4000

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    # Shown to the inmate? Notes, forwards and escalations never are.
    visible_to_inmate: Mapped[bool] = mapped_column(Boolean)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    by_inmate: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text, default="")
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    from_status: Mapped[Status | None] = mapped_column(_enum(Status, name="from_status"))
    to_status: Mapped[Status | None] = mapped_column(_enum(Status, name="to_status"))
    to_role: Mapped[Role | None] = mapped_column(_enum(Role))
    to_facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    created_at: Mapped[dt.datetime]

    staff: Mapped[Staff | None] = relationship(lazy="joined")


class ExternalAppointment(Base):
    """An appointment outside the prison: its date, time and place are staff-only.

    Kept in its own table so that no inmate page ever queries it: escapes have
    been staged on escorted trips whose time and place were known in advance.
    """

    __tablename__ = "external_appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    # Encrypted JSON {"when": iso datetime, "place": text, "note": text}.
    details: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime]


class PhoneContact(Base):
    """A number on an inmate's approved contact list (from an approved request)."""

    __tablename__ = "phone_contacts"
    __table_args__ = (Index("ix_phone_contacts_inmate_id_removed_at", "inmate_id", "removed_at"),)

    NAME_MAX = 120
    RELATION_MAX = 60
    NUMBER_MAX = 32

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    relation: Mapped[str] = mapped_column(String(RELATION_MAX))
    number: Mapped[str] = mapped_column(String(NUMBER_MAX))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    approved_at: Mapped[dt.datetime]
    removed_at: Mapped[dt.datetime | None]
    removed_request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))

    inmate: Mapped[Inmate] = relationship(lazy="joined", innerjoin=True)

    @property
    def facility_id(self) -> int:
        """The inmate's facility."""
        return self.inmate.facility_id


class Visit(Base):
    """A visit booked through an approved request."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_inmate_id_starts_at", "inmate_id", "starts_at"),)

    VISITORS_MAX = 500

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    starts_at: Mapped[dt.datetime]
    visitors: Mapped[str] = mapped_column(String(VISITORS_MAX))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime]

    inmate: Mapped[Inmate] = relationship(lazy="joined", innerjoin=True)
