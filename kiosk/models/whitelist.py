"""Whitelisted learning resources: rules, visits, site requests, page cache, offline libraries."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kiosk.db import Base, utcnow
from kiosk.models.people import Inmate, Staff, _enum
from kiosk.models.places import Facility, Unit


class RuleStatus(enum.StrEnum):
    """Where a rule stands: only an approved, unexpired rule allows anything."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    DISABLED = "disabled"


class WhitelistRule(Base):
    """An allowed URL prefix, scoped to a facility or one of its units (or national).

    Two people: the proposer can never approve their own rule (checked by the service
    and by the database).
    """

    __tablename__ = "whitelist_rules"
    __table_args__ = (
        CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name="two_people"
        ),
        CheckConstraint("unit_id IS NULL OR facility_id IS NOT NULL", name="unit_in_facility"),
        Index("ix_whitelist_rules_status_facility_id", "status", "facility_id"),
    )

    PREFIX_MAX = 2048
    TITLE_MAX = 120
    NOTE_MAX = 1000

    id: Mapped[int] = mapped_column(primary_key=True)
    # The canonical spelling of the prefix (``kiosk.whitelist.Rule.canonical``).
    prefix: Mapped[str] = mapped_column(String(PREFIX_MAX))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    note: Mapped[str] = mapped_column(Text, default="")
    # An on-site mirror may live on a private address and a non-default port.
    on_site_mirror: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: every facility (national rule). A unit narrows the rule to that unit.
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    status: Mapped[RuleStatus] = mapped_column(
        _enum(RuleStatus), default=RuleStatus.PROPOSED, index=True
    )
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    approved_at: Mapped[dt.datetime | None]
    # Who rejected or disabled it, and when.
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    closed_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    # The inmate's request that led to this rule, when there was one.
    site_request_id: Mapped[int | None] = mapped_column(ForeignKey("whitelist_site_requests.id"))

    facility: Mapped[Facility | None] = relationship(lazy="joined")
    unit: Mapped[Unit | None] = relationship(lazy="joined")
    proposed_by: Mapped[Staff] = relationship(foreign_keys=[proposed_by_id], lazy="joined")
    approved_by: Mapped[Staff | None] = relationship(foreign_keys=[approved_by_id], lazy="joined")
    closed_by: Mapped[Staff | None] = relationship(foreign_keys=[closed_by_id], lazy="joined")

    def in_force(self, now: dt.datetime) -> bool:
        """True when the rule allows anything at ``now``."""
        return self.status is RuleStatus.APPROVED and (
            self.expires_at is None or self.expires_at > now
        )

    def __repr__(self) -> str:
        return f"<WhitelistRule {self.id} {self.prefix} {self.status}>"


class VisitVerdict(enum.StrEnum):
    """What happened to one visit."""

    ALLOWED = "allowed"
    REFUSED = "refused"  # the whitelist (or the address check) said no
    FAILED = "failed"  # allowed, but the upstream did not answer usefully


class WhitelistVisit(Base):
    """One page or image an inmate asked the reader for, with the verdict (never the content)."""

    __tablename__ = "whitelist_visits"
    __table_args__ = (
        Index("ix_whitelist_visits_facility_id_at", "facility_id", "at"),
        Index("ix_whitelist_visits_inmate_id_at", "inmate_id", "at"),
        Index("ix_whitelist_visits_verdict_at", "verdict", "at"),
    )

    URL_MAX = 2048

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    # What was asked for, cut to the column (a refused URL may be longer or hostile).
    url: Mapped[str] = mapped_column(String(URL_MAX))
    host: Mapped[str] = mapped_column(String(255), default="")
    verdict: Mapped[VisitVerdict] = mapped_column(_enum(VisitVerdict))
    # A ``kiosk.whitelist.Reason`` or a fetch failure name ("timeout", "too_large", ...).
    reason: Mapped[str] = mapped_column(String(40))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("whitelist_rules.id"))
    # "page", "image", "pdf" or "library".
    kind: Mapped[str] = mapped_column(String(16), default="page")
    upstream_status: Mapped[int | None] = mapped_column(Integer)

    inmate: Mapped[Inmate] = relationship(lazy="joined")


class SiteRequestStatus(enum.StrEnum):
    """Where an inmate's request for a new site stands."""

    OPEN = "open"
    PROPOSED = "proposed"  # staff proposed a rule from it
    DECLINED = "declined"


class SiteRequest(Base):
    """An inmate's request to add a site, with the refused URL that led to it."""

    __tablename__ = "whitelist_site_requests"
    __table_args__ = (
        Index("ix_whitelist_site_requests_facility_id_status", "facility_id", "status"),
    )

    URL_MAX = 2048
    REASON_MAX = 1000
    ANSWER_MAX = 1000

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    url: Mapped[str] = mapped_column(String(URL_MAX))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[SiteRequestStatus] = mapped_column(
        _enum(SiteRequestStatus), default=SiteRequestStatus.OPEN
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    handled_at: Mapped[dt.datetime | None]
    answer: Mapped[str] = mapped_column(Text, default="")

    inmate: Mapped[Inmate] = relationship(lazy="joined")
    handled_by: Mapped[Staff | None] = relationship(lazy="joined")


class CachedPage(Base):
    """Upstream bytes of one fetched URL, kept for a configurable time (cleaned when shown)."""

    __tablename__ = "whitelist_cache"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the canonical URL.
    url_hash: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The URL the content finally came from, after checked redirects.
    final_url: Mapped[str] = mapped_column(String(2048))
    content_type: Mapped[str] = mapped_column(String(100))
    charset: Mapped[str] = mapped_column(String(40), default="utf-8")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    upstream_status: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class OfflineLibrary(Base):
    """A ZIM archive (offline Wikipedia, dictionaries, textbooks) in the instance's zim folder."""

    __tablename__ = "whitelist_libraries"

    NAME_MAX = 120
    FILE_MAX = 255

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    # A bare file name inside ``<instance>/zim``: never a path a form could choose freely.
    file_name: Mapped[str] = mapped_column(String(FILE_MAX), unique=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    facility: Mapped[Facility | None] = relationship(lazy="joined")
