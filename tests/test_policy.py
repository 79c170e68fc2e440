"""The one access policy, asked directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kiosk.errors import NotFound
from kiosk.models import Inmate, InmateStatus, Role, Staff, StaffFacility, StaffRole
from kiosk.security.policy import Forbidden, Perm, can, may_assign, require


@dataclass
class Thing:
    """Something an inmate owns (a request, an order, a message)."""

    inmate_id: int
    facility_id: int


def inmate(id_: int, facility: int = 1, status: InmateStatus = InmateStatus.ACTIVE) -> Inmate:
    return Inmate(
        id=id_, booking_number=f"B{id_}", name="x", facility_id=facility, unit_id=1, status=status
    )


def staff(
    *roles: Role, facilities: tuple[int, ...] = (1,), national: bool = False, active: bool = True
) -> Staff:
    return Staff(
        id=99,
        username="s",
        name="s",
        password_hash="x",
        active=active,
        all_facilities=national,
        role_rows=[StaffRole(role=r) for r in roles],
        facility_rows=[StaffFacility(facility_id=f) for f in facilities],
    )


def test_an_inmate_may_touch_only_their_own_things() -> None:
    me, other = inmate(1), inmate(2)
    mine, theirs = Thing(inmate_id=1, facility_id=1), Thing(inmate_id=2, facility_id=1)
    assert can(me, Perm.PORTAL_USE, mine)
    assert not can(me, Perm.PORTAL_USE, theirs)
    with pytest.raises(NotFound):
        require(me, Perm.PORTAL_USE, theirs)
    assert can(other, Perm.PORTAL_USE, theirs)


def test_an_inmate_never_holds_a_staff_permission() -> None:
    for perm in Perm:
        if perm is not Perm.PORTAL_USE:
            assert not can(inmate(1), perm)


def test_a_released_inmate_may_do_nothing() -> None:
    gone = inmate(1, status=InmateStatus.RELEASED)
    assert not can(gone, Perm.PORTAL_USE)
    assert not can(gone, Perm.PORTAL_USE, Thing(inmate_id=1, facility_id=1))


def test_staff_act_only_inside_their_facilities() -> None:
    officer = staff(Role.OFFICER, facilities=(1,))
    assert can(officer, Perm.INMATE_VIEW, inmate(1, facility=1))
    assert not can(officer, Perm.INMATE_VIEW, inmate(2, facility=2))
    with pytest.raises(NotFound):
        require(officer, Perm.INMATE_VIEW, inmate(2, facility=2))
    assert can(staff(Role.OFFICER, national=True), Perm.INMATE_VIEW, inmate(2, facility=2))


def test_roles_grant_only_their_permissions() -> None:
    teacher = staff(Role.TEACHER)
    assert not can(teacher, Perm.STAFF_MANAGE)
    assert not can(teacher, Perm.AUDIT_READ)
    with pytest.raises(Forbidden):
        require(teacher, Perm.AUDIT_READ)
    assert can(staff(Role.AUDITOR), Perm.AUDIT_READ)
    assert can(staff(Role.SECURITY), Perm.TERMINAL_MANAGE)
    assert not can(staff(Role.SECURITY), Perm.STAFF_MANAGE)


def test_a_deactivated_account_may_do_nothing() -> None:
    gone = staff(Role.ADMIN, active=False)
    assert all(not can(gone, perm) for perm in Perm)


def test_only_national_admins_manage_facilities_and_national_accounts() -> None:
    local, national = staff(Role.ADMIN), staff(Role.ADMIN, national=True)
    assert not can(local, Perm.FACILITY_MANAGE)
    assert can(national, Perm.FACILITY_MANAGE)
    national_account: Any = staff(Role.TEACHER, national=True)
    assert not can(local, Perm.STAFF_MANAGE, national_account)
    assert can(national, Perm.STAFF_MANAGE, national_account)


def test_who_may_hand_out_roles() -> None:
    local_admin = staff(Role.ADMIN, facilities=(1,))
    assert may_assign(local_admin, [Role.TEACHER], all_facilities=False, facility_ids=[1])
    assert not may_assign(local_admin, [Role.TEACHER], all_facilities=False, facility_ids=[2])
    assert not may_assign(local_admin, [Role.TEACHER], all_facilities=True, facility_ids=[])
    security = staff(Role.SECURITY)
    assert not may_assign(security, [Role.TEACHER], all_facilities=False, facility_ids=[1])
