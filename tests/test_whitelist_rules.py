"""Whitelist rules: two people, scope, expiry, and what an inmate's whitelist holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import START, World
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk.errors import NotFound
from kiosk.models import AuditEvent, Inmate, RuleStatus, Staff, WhitelistRule
from kiosk.services import whitelist as service
from kiosk.services.audit import Actor

ACTOR = Actor.system("test")


def _staff(db: Any, world: World, name: str) -> Staff:
    staff = db.get(Staff, world.staff[name].id)
    assert staff is not None
    return staff


def _propose(db: Any, world: World, who: str = "teacher", **kw: Any) -> WhitelistRule:
    args: dict[str, Any] = {
        "prefix": "https://en.wikipedia.org/",
        "title": "Wikipedia",
        "facility_id": world.facility,
        "now": START,
    }
    args.update(kw)
    return service.propose_rule(db, actor=ACTOR, staff=_staff(db, world, who), **args)


def _inmate(db: Any, world: World, booking: str = "2026-0001") -> Inmate:
    inmate = db.get(Inmate, world.inmates[booking].id)
    assert inmate is not None
    return inmate


def test_a_proposed_rule_allows_nothing_until_a_second_person_approves_it(
    db: Any, world: World
) -> None:
    rule = _propose(db, world)
    inmate = _inmate(db, world)
    assert not service.whitelist_for(db, inmate, START).allows("https://en.wikipedia.org/wiki/X")
    service.approve_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    assert service.whitelist_for(db, inmate, START).allows("https://en.wikipedia.org/wiki/X")
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == rule.id)))
    assert "whitelist.propose" in actions
    assert "whitelist.approve" in actions


def test_the_proposer_cannot_approve_their_own_rule(db: Any, world: World) -> None:
    rule = _propose(db, world, who="security")
    with pytest.raises(service.SamePerson):
        service.approve_rule(
            db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
        )
    db.rollback()
    assert db.get(WhitelistRule, rule.id).status is RuleStatus.PROPOSED


def test_the_database_refuses_a_rule_approved_by_its_proposer(db: Any, world: World) -> None:
    rule = _propose(db, world, who="security")
    rule.status = RuleStatus.APPROVED
    rule.approved_by_id = rule.proposed_by_id
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_a_teacher_may_propose_but_not_approve(db: Any, world: World) -> None:
    rule = _propose(db, world, who="security")
    with pytest.raises(NotFound):
        service.approve_rule(
            db, actor=ACTOR, staff=_staff(db, world, "teacher"), rule_id=rule.id, now=START
        )


def test_staff_of_another_facility_cannot_see_or_approve_the_rule(db: Any, world: World) -> None:
    rule = _propose(db, world)
    with pytest.raises(NotFound):
        service.approve_rule(
            db, actor=ACTOR, staff=_staff(db, world, "otheradmin"), rule_id=rule.id, now=START
        )


def test_only_national_staff_propose_national_rules(db: Any, world: World) -> None:
    with pytest.raises(NotFound):
        _propose(db, world, who="security", facility_id=None)
    db.rollback()
    rule = _propose(db, world, who="national", facility_id=None)
    with pytest.raises(NotFound):
        service.approve_rule(
            db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
        )


def test_a_national_rule_reaches_inmates_of_every_facility(db: Any, world: World) -> None:
    rule = _propose(db, world, who="national", facility_id=None)
    other = add_national_approver(db, world)
    service.approve_rule(db, actor=ACTOR, staff=other, rule_id=rule.id, now=START)
    for booking in ("2026-0001", "2026-0009"):
        assert service.whitelist_for(db, _inmate(db, world, booking), START).allows(
            "https://en.wikipedia.org/"
        )


def add_national_approver(db: Any, world: World) -> Staff:
    """A second national staff member (the world has one)."""
    from kiosk.models import Role, StaffRole

    staff = Staff(
        username="national2",
        name="National Two",
        password_hash="x",
        all_facilities=True,
    )
    db.add(staff)
    db.flush()
    db.add(StaffRole(staff_id=staff.id, role=Role.SECURITY))
    db.commit()
    db.refresh(staff)
    return staff


def test_a_facility_rule_does_not_reach_another_facility(db: Any, world: World) -> None:
    rule = _propose(db, world)
    service.approve_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    assert not service.whitelist_for(db, _inmate(db, world, "2026-0009"), START).allows(
        "https://en.wikipedia.org/"
    )


def test_a_unit_rule_reaches_only_that_unit(db: Any, world: World) -> None:
    rule = _propose(db, world, unit_id=world.unit_b)
    service.approve_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    url = "https://en.wikipedia.org/"
    assert service.whitelist_for(db, _inmate(db, world, "2026-0003"), START).allows(url)
    assert not service.whitelist_for(db, _inmate(db, world, "2026-0001"), START).allows(url)


def test_a_unit_of_another_facility_is_not_a_scope_of_this_one(db: Any, world: World) -> None:
    with pytest.raises(NotFound):
        _propose(db, world, who="security", facility_id=None, unit_id=world.unit_other)


def test_an_expired_rule_stops_allowing(db: Any, world: World) -> None:
    rule = _propose(db, world, expires_at=START + dt.timedelta(days=1))
    service.approve_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    inmate = _inmate(db, world)
    assert service.whitelist_for(db, inmate, START).allows("https://en.wikipedia.org/")
    later = START + dt.timedelta(days=1, seconds=1)
    assert not service.whitelist_for(db, inmate, later).allows("https://en.wikipedia.org/")


def test_a_disabled_rule_stops_allowing(db: Any, world: World) -> None:
    rule = _propose(db, world)
    service.approve_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    service.close_rule(
        db, actor=ACTOR, staff=_staff(db, world, "teacher"), rule_id=rule.id, now=START
    )
    assert db.get(WhitelistRule, rule.id).status is RuleStatus.DISABLED
    assert not service.whitelist_for(db, _inmate(db, world), START).allows(
        "https://en.wikipedia.org/"
    )


def test_a_rejected_proposal_cannot_be_approved_afterwards(db: Any, world: World) -> None:
    rule = _propose(db, world)
    service.close_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    with pytest.raises(service.WrongState):
        service.approve_rule(
            db, actor=ACTOR, staff=_staff(db, world, "admin"), rule_id=rule.id, now=START
        )


def test_the_same_prefix_cannot_be_proposed_twice_for_one_scope(db: Any, world: World) -> None:
    _propose(db, world)
    with pytest.raises(service.RuleExists):
        _propose(db, world, prefix="HTTPS://EN.wikipedia.org:443/")


@pytest.mark.parametrize(
    "prefix",
    ["https://en.wikipedia.org./", "https://127.0.0.1/", "javascript:alert(1)", "https://a@b.org/"],
)
def test_a_hostile_prefix_is_refused_with_a_reason(db: Any, world: World, prefix: str) -> None:
    with pytest.raises(service.PrefixInvalid) as caught:
        _propose(db, world, prefix=prefix)
    assert caught.value.field == "prefix"
    assert db.scalars(select(WhitelistRule)).first() is None


def test_only_an_approver_other_than_the_proposer_extends_an_approved_rule(
    db: Any, world: World
) -> None:
    end = START + dt.timedelta(days=10)
    rule = _propose(db, world, expires_at=end)
    service.approve_rule(
        db, actor=ACTOR, staff=_staff(db, world, "security"), rule_id=rule.id, now=START
    )
    with pytest.raises(service.SamePerson):
        service.set_expiry(
            db,
            actor=ACTOR,
            staff=_staff(db, world, "teacher"),
            rule_id=rule.id,
            expires_at=end + dt.timedelta(days=30),
            now=START,
        )
    db.rollback()
    service.set_expiry(
        db,
        actor=ACTOR,
        staff=_staff(db, world, "teacher"),
        rule_id=rule.id,
        expires_at=end - dt.timedelta(days=5),
        now=START,
    )
    service.set_expiry(
        db,
        actor=ACTOR,
        staff=_staff(db, world, "security"),
        rule_id=rule.id,
        expires_at=None,
        now=START,
    )
    assert db.get(WhitelistRule, rule.id).expires_at is None


def test_explain_names_the_reason_for_staff(db: Any, world: World) -> None:
    verdict = service.explain(
        db, url="https://en.wikipedia.org./", facility_id=world.facility, unit_id=None, now=START
    )
    assert not verdict.allowed
    assert str(service.reason_text(verdict.reason)) == "The host name ends with a dot."


# Concurrency (PostgreSQL) -----------------------------------------------------------------


@pytest.mark.postgres_only
def test_simultaneous_submits_of_one_site_request_make_one_request(
    kiosk_app: Any, world: World, db: Any, settings: Any
) -> None:
    import threading

    from kiosk.db import Database
    from kiosk.models import SiteRequest

    key = kiosk_app.extensions["kiosk"].secrets.audit_key.encode()
    database = Database(settings.database_url, audit_key=key, pool_size=10, max_overflow=0)
    barrier = threading.Barrier(8)
    created: list[bool] = []

    def submit() -> None:
        with kiosk_app.app_context(), database.session() as session:
            inmate = session.get(Inmate, world.inmates["2026-0001"].id)
            barrier.wait()
            _row, made = service.ask_for_site(
                session,
                actor=ACTOR,
                inmate=inmate,
                url="https://www.khanacademy.org/science/",
                reason="Biology",
                now=START,
            )
            created.append(made)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    database.dispose()
    assert sorted(created) == [False] * 7 + [True]
    db.commit()
    assert len(list(db.scalars(select(SiteRequest)))) == 1


@pytest.mark.postgres_only
def test_two_approvers_at_once_approve_a_rule_once(
    kiosk_app: Any, world: World, db: Any, settings: Any
) -> None:
    import threading

    from kiosk.db import Database

    rule = _propose(db, world)
    key = kiosk_app.extensions["kiosk"].secrets.audit_key.encode()
    database = Database(settings.database_url, audit_key=key, pool_size=4, max_overflow=0)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(who: str) -> None:
        with kiosk_app.app_context(), database.session() as session:
            staff = session.get(Staff, world.staff[who].id)
            barrier.wait()
            try:
                service.approve_rule(session, actor=ACTOR, staff=staff, rule_id=rule.id, now=START)
                outcomes.append("approved")
            except service.WrongState:
                outcomes.append("conflict")

    threads = [threading.Thread(target=approve, args=(w,)) for w in ("security", "admin")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    database.dispose()
    assert sorted(outcomes) == ["approved", "conflict"]
    db.commit()
    actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == rule.id)))
    assert actions.count("whitelist.approve") == 1
