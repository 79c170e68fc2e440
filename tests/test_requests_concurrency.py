"""Two posts at the same moment: one request, and one-at-a-time holds (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import fresh
from flask import Flask
from request_helpers import DENTIST, RequestWorld, rworld
from sqlalchemy import func, select

from kiosk.clock import FrozenClock
from kiosk.models import Inmate, InmateRequest, RequestType
from kiosk.services import requests as svc
from kiosk.services.audit import Actor

__all__ = ["rworld"]


def _race(
    kiosk_app: Flask, rw: RequestWorld, clock: FrozenClock, keys: list[str | None]
) -> list[Any]:
    state = kiosk_app.extensions["kiosk"]
    barrier = threading.Barrier(len(keys))
    results: list[Any] = [None] * len(keys)

    def post(index: int, key: str | None) -> None:
        with kiosk_app.app_context(), state.database.session() as session:
            inmate = session.get(Inmate, rw.world.inmates["2026-0001"].id)
            rtype = session.get(RequestType, rw.types["dentist"])
            actor = Actor("inmate", inmate.id, inmate.booking_number)
            barrier.wait()
            try:
                results[index] = svc.submit(
                    session,
                    actor=actor,
                    vault=state.vault,
                    inmate=inmate,
                    rtype=rtype,
                    raw=DENTIST,
                    idempotency_key=key,
                    now=clock.now(),
                ).request.id
            except svc.RequestError as exc:
                results[index] = exc

    threads = [threading.Thread(target=post, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.postgres_only
def test_the_same_form_posted_twice_at_once_makes_one_request(
    kiosk_app: Flask, rworld: RequestWorld, clock: FrozenClock, db: Any
) -> None:
    results = _race(kiosk_app, rworld, clock, ["same-key-" + "x" * 20] * 4)
    assert len(set(results)) == 1
    assert isinstance(results[0], int)
    assert fresh(db).scalar(select(func.count(InmateRequest.id))) == 1


@pytest.mark.postgres_only
def test_two_different_forms_at_once_cannot_open_two_of_a_one_at_a_time_type(
    kiosk_app: Flask, rworld: RequestWorld, clock: FrozenClock, db: Any
) -> None:
    results = _race(kiosk_app, rworld, clock, ["key-one-" + "a" * 20, "key-two-" + "b" * 20])
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, svc.OneOpenOnly) for r in results) == 1
    assert fresh(db).scalar(select(func.count(InmateRequest.id))) == 1
