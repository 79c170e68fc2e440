"""The one access policy: may this actor do this to that object?

Every decision about who may do what lives here. Routes declare what they need
(``kiosk.web.access``) and views ask ``require()`` about the object they are
about to show or change. The answer for an object the actor may not see is
``NotFound``: to the actor it does not exist.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select

from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _l
from kiosk.models import (
    AuditEvent,
    Course,
    Enrolment,
    EnrolmentStatus,
    Facility,
    Inmate,
    InmateRequest,
    Product,
    RequestNamedStaff,
    Role,
    Staff,
    Terminal,
    Unit,
    WhitelistRule,
)
from kiosk.models.requests import Sensitivity


class Perm(enum.StrEnum):
    """Things an actor may be allowed to do."""

    # Inmate portal
    PORTAL_USE = "portal.use"
    # Staff app
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    INMATE_VIEW = "inmate.view"
    INMATE_MANAGE = "inmate.manage"
    INMATE_CREDENTIALS = "inmate.credentials"
    TERMINAL_VIEW = "terminal.view"
    TERMINAL_MANAGE = "terminal.manage"
    UNIT_MANAGE = "unit.manage"
    FACILITY_MANAGE = "facility.manage"
    AUDIT_READ = "audit.read"
    SESSION_MANAGE = "session.manage"
    # Commissary and money accounts
    COMMISSARY_MANAGE = "commissary.manage"  # catalogue, rules, order queue, pick lists
    ACCOUNT_VIEW = "account.view"  # an inmate's money account and its history
    ACCOUNT_POST = "account.post"  # deposits, allowance; propose adjustments
    ACCOUNT_APPROVE = "account.approve"  # approve someone else's proposed adjustment
    LOCKDOWN_MANAGE = "lockdown.manage"  # stop ordering in a facility or unit
    # Digitized requests
    REQUEST_TYPES_MANAGE = "request_types.manage"
    REQUEST_HANDLE = "request.handle"  # work a queue; object rules decide which requests
    REQUEST_STATS = "request.stats"
    # Learning
    COURSE_MANAGE = "course.manage"
    CERTIFICATE_CHECK = "certificate.check"
    # Whitelisted learning resources
    WHITELIST_VIEW = "whitelist.view"
    WHITELIST_PROPOSE = "whitelist.propose"
    WHITELIST_APPROVE = "whitelist.approve"


class Forbidden(DomainError):
    """The actor is known but lacks the permission."""

    status = 403
    default_message = _l("You do not have permission to do this.")


_ALL_STAFF = frozenset(p for p in Perm if p is not Perm.PORTAL_USE)

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: _ALL_STAFF,
    Role.SECURITY: frozenset(
        {
            Perm.STAFF_VIEW,
            Perm.INMATE_VIEW,
            Perm.INMATE_CREDENTIALS,
            Perm.TERMINAL_VIEW,
            Perm.TERMINAL_MANAGE,
            Perm.AUDIT_READ,
            Perm.SESSION_MANAGE,
            Perm.LOCKDOWN_MANAGE,
            Perm.WHITELIST_VIEW,
            Perm.WHITELIST_PROPOSE,
            Perm.WHITELIST_APPROVE,
        }
    ),
    Role.AUDITOR: frozenset(
        {
            Perm.AUDIT_READ,
            Perm.STAFF_VIEW,
            Perm.TERMINAL_VIEW,
            Perm.REQUEST_STATS,
            Perm.WHITELIST_VIEW,
        }
    ),
    # Officers on the wing hand out PIN slips, unlock accounts and answer everyday requests.
    Role.OFFICER: frozenset(
        {Perm.INMATE_VIEW, Perm.INMATE_CREDENTIALS, Perm.REQUEST_HANDLE, Perm.LOCKDOWN_MANAGE}
    ),
    Role.CASEWORKER: frozenset(
        {
            Perm.INMATE_VIEW,
            Perm.REQUEST_HANDLE,
            Perm.REQUEST_STATS,
            Perm.ACCOUNT_VIEW,
            Perm.CERTIFICATE_CHECK,
        }
    ),
    Role.HEALTHCARE: frozenset({Perm.INMATE_VIEW, Perm.REQUEST_HANDLE}),
    Role.CHAPLAIN: frozenset({Perm.INMATE_VIEW, Perm.REQUEST_HANDLE}),
    Role.COMMISSARY: frozenset(
        {
            Perm.INMATE_VIEW,
            Perm.COMMISSARY_MANAGE,
            Perm.ACCOUNT_VIEW,
            Perm.ACCOUNT_POST,
            Perm.ACCOUNT_APPROVE,
            Perm.REQUEST_HANDLE,
        }
    ),
    Role.TEACHER: frozenset(
        {
            Perm.INMATE_VIEW,
            Perm.COURSE_MANAGE,
            Perm.CERTIFICATE_CHECK,
            Perm.WHITELIST_VIEW,
            Perm.WHITELIST_PROPOSE,
        }
    ),
}

INMATE_PERMISSIONS = frozenset({Perm.PORTAL_USE})

# Only these roles may hand out roles that can change other accounts.
_PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.SECURITY})


def permissions_of(actor: Any) -> frozenset[Perm]:
    """Everything an actor may do somewhere."""
    if isinstance(actor, Staff):
        if not actor.active:
            return frozenset()
        perms: set[Perm] = set()
        for role in actor.roles:
            perms |= ROLE_PERMISSIONS.get(role, frozenset())
        return frozenset(perms)
    if isinstance(actor, Inmate):
        return INMATE_PERMISSIONS if actor.is_active else frozenset()
    return frozenset()


def facility_scope(staff: Staff) -> frozenset[int] | None:
    """The facilities a staff member may act in; None means all of them."""
    return None if staff.all_facilities else staff.facility_ids


def in_scope(staff: Staff, facility_id: int | None) -> bool:
    """True when a facility (None: something national) lies inside the staff member's scope."""
    if staff.all_facilities:
        return True
    return facility_id is not None and facility_id in staff.facility_ids


def _facility_of(obj: Any) -> int | None:
    if isinstance(obj, Facility):
        return obj.id
    if isinstance(obj, Unit | Inmate):
        return obj.facility_id
    if isinstance(obj, Terminal):
        return obj.unit.facility_id
    if isinstance(obj, AuditEvent):
        return obj.facility_id
    value = getattr(obj, "facility_id", None)
    return value if isinstance(value, int) else None


def _staff_may_touch_staff(actor: Staff, target: Staff) -> bool:
    if target.all_facilities:
        return actor.all_facilities
    if actor.all_facilities:
        return True
    # A facility administrator manages accounts that live entirely inside their own scope.
    return bool(target.facility_ids) and target.facility_ids <= actor.facility_ids


# --- commissary (issue 4) -----------------------------------------------------------


def _inmate_may_buy(inmate: Inmate, product: Product) -> bool:
    """An active product of the inmate's facility that no unit or inmate restriction forbids."""
    if product.facility_id != inmate.facility_id or not product.active:
        return False
    return not any(
        r.unit_id == inmate.unit_id or r.inmate_id == inmate.id for r in product.restrictions
    )


# --- end commissary ----------------------------------------------------------------


# --- Requests (issue 5) -------------------------------------------------------------
# A request is seen by its handling group (role + facility) and by the supervisor it was
# escalated to; health requests only by healthcare staff; a complaint never by a staff
# member it names. Nobody else, however senior: an administrator is no exception.


def staff_may_see_request(actor: Staff, req: InmateRequest) -> bool:
    """May this staff member open this request (and act on it)?"""
    if actor.id in req.named_staff_ids:
        return False
    roles = actor.roles
    if req.sensitivity is Sensitivity.HEALTH and Role.HEALTHCARE not in roles:
        return False
    if req.escalated_to_id == actor.id:
        return True
    return req.group_role in roles and in_scope(actor, req.group_facility_id)


def request_groups_clause(actor: Staff) -> ColumnElement[bool]:
    """Requests held by one of the actor's groups (a part of the rule: the queue's index)."""
    roles = sorted(actor.roles, key=lambda r: r.value)
    group: ColumnElement[bool] = InmateRequest.group_role.in_(roles)
    if not actor.all_facilities:
        group = and_(group, InmateRequest.group_facility_id.in_(sorted(actor.facility_ids)))
    return group


def visible_requests_clause(actor: Staff) -> ColumnElement[bool]:
    """The same rule as ``staff_may_see_request``, as a WHERE clause for queues and lists."""
    if Perm.REQUEST_HANDLE not in permissions_of(actor):
        return false()
    roles = actor.roles
    clause = or_(request_groups_clause(actor), InmateRequest.escalated_to_id == actor.id)
    if Role.HEALTHCARE not in roles:
        clause = and_(clause, InmateRequest.sensitivity != Sensitivity.HEALTH)
    named = (
        select(RequestNamedStaff.request_id)
        .where(
            RequestNamedStaff.request_id == InmateRequest.id,
            RequestNamedStaff.staff_id == actor.id,
        )
        .exists()
    )
    return and_(clause, ~named)


# --- end of requests ------------------------------------------------------------------


def can(actor: Any, perm: Perm, obj: Any = None) -> bool:
    """May ``actor`` do ``perm`` (to ``obj``, when given)?"""
    if perm not in permissions_of(actor):
        return False
    if perm is Perm.FACILITY_MANAGE and not (isinstance(actor, Staff) and actor.all_facilities):
        # New facilities lie outside any local scope: only national administrators add them.
        return False
    if obj is None:
        return True
    # --- commissary (issue 4) -------------------------------------------------------
    if isinstance(actor, Inmate) and isinstance(obj, Product):
        return _inmate_may_buy(actor, obj)
    # --- end commissary ---------------------------------------------------------------
    # --- learning (issue 6): see the learning block below ---------------------------
    if isinstance(obj, Course):
        return _may_touch_course(actor, perm, obj)
    if isinstance(actor, Inmate):
        owner = getattr(obj, "inmate_id", None)
        if isinstance(obj, Inmate):
            owner = obj.id
        return owner == actor.id
    if isinstance(actor, Staff):
        if isinstance(obj, Staff):
            return _staff_may_touch_staff(actor, obj)
        if isinstance(obj, InmateRequest):  # requests (issue 5)
            return perm is Perm.REQUEST_HANDLE and staff_may_see_request(actor, obj)
        # --- whitelist (issue 7) ------------------------------------------------------
        # Two people: nobody approves (or extends) a rule they proposed themselves.
        if (
            perm is Perm.WHITELIST_APPROVE
            and isinstance(obj, WhitelistRule)
            and obj.proposed_by_id == actor.id
        ):
            return False
        # A national rule (no facility) applies everywhere: every whitelist viewer may read
        # it; changing it needs national scope, like any object outside a facility.
        if (
            perm is Perm.WHITELIST_VIEW
            and isinstance(obj, WhitelistRule)
            and obj.facility_id is None
        ):
            return True
        # --- end whitelist ------------------------------------------------------------
        return in_scope(actor, _facility_of(obj))
    return False


# --- Learning ---------------------------------------------------------------------
# A course belongs to its home facility: teachers (COURSE_MANAGE) whose scope holds it
# write it, enrol learners and mark their work. Learners see a course in the catalogue
# only while it is published and offered at their facility, and study it (lessons,
# media, quizzes, assignments) only with an active enrolment of their own.


def _may_touch_course(actor: Any, perm: Perm, course: Course) -> bool:
    if isinstance(actor, Staff):
        return in_scope(actor, course.facility_id)
    if isinstance(actor, Inmate):
        return course.is_published and course.is_offered_at(actor.facility_id)
    return False


def may_study(inmate: Inmate, course: Course, enrolment: Enrolment | None) -> bool:
    """May a learner open the lessons, media, quizzes and assignments of a course?"""
    return (
        can(inmate, Perm.PORTAL_USE, course)
        and enrolment is not None
        and enrolment.inmate_id == inmate.id
        and enrolment.course_id == course.id
        and enrolment.status is EnrolmentStatus.ACTIVE
    )


# --- End of learning -------------------------------------------------------------


def require(actor: Any, perm: Perm, obj: Any = None) -> None:
    """Raise unless ``can``: ``NotFound`` for an object, ``Forbidden`` for a bare permission."""
    if can(actor, perm, obj):
        return
    if obj is not None:
        raise NotFound()
    raise Forbidden()


def may_assign(
    actor: Staff, roles: Iterable[Role], *, all_facilities: bool, facility_ids: Iterable[int]
) -> bool:
    """May ``actor`` give an account these roles and this scope?"""
    if Perm.STAFF_MANAGE not in permissions_of(actor):
        return False
    if all_facilities and not actor.all_facilities:
        return False
    ids = frozenset(facility_ids)
    if not actor.all_facilities and not ids <= actor.facility_ids:
        return False
    return not (set(roles) & _PRIVILEGED_ROLES and Role.ADMIN not in actor.roles)
