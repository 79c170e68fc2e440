"""Requests: the shipped catalogue, 200,000 requests with their timelines, and their pages."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.data import Context, area, bulk_insert, fix_sequence, next_id
from bench.pages import Page, PageData, add_page
from bench.sessions import Client

TABLES = ("request_types", "requests", "request_events")
# The type the form benchmark posts: ordinary (not health), several open at once allowed.
FORM_TYPE = "library"
SAMPLE = {
    "long_text": "I would like a book about gardening, and one about the history of Sweden.",
    "short_text": "0701234567",
    "choice": None,  # the first choice
    "yes_no": "yes",
    "date": "2026-12-01",
    "number": "2",
}
OPEN = ("submitted", "in_progress", "waiting")
CLOSED = ("answered", "approved", "rejected", "closed", "withdrawn")


def _raw_answers(fields: list[dict[str, Any]]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for spec in fields:
        value = SAMPLE.get(spec["kind"])
        if spec["kind"] == "choice":
            value = spec.get("choices", [{}])[0].get("value", "")
        raw[spec["key"]] = str(value or "")
    return raw


@area("requests", *TABLES)
def generate_requests(ctx: Context) -> None:
    """The catalogue through the service, then requests spread over every inmate."""
    from kiosk.models.requests import RequestType
    from kiosk.services import audit
    from kiosk.services import requests as svc

    session = Session(bind=ctx.conn)
    if not session.scalar(select(RequestType.id).limit(1)):
        svc.seed_catalogue(session, actor=audit.Actor.system("bench"), now=ctx.now)
    types = list(session.scalars(select(RequestType).order_by(RequestType.id)))
    templates: list[tuple[Any, str, bool]] = []
    for rtype in types:
        try:
            answers = svc.check_answers(rtype, _raw_answers(rtype.fields))
        except svc.InvalidAnswers:
            continue
        text = json.dumps(answers, ensure_ascii=False)
        health = rtype.sensitivity.value == "health"
        templates.append((rtype, ctx.vault_encrypt(text) if health else text, health))
        if rtype.code == FORM_TYPE:
            ctx.result.extra["request_form_type"] = rtype.id
            ctx.result.extra["request_form_fields"] = _raw_answers(rtype.fields)
    session.close()

    rng = ctx.rng
    inmates = ctx.result.inmates
    facility_code = {f: f"BF{f:04d}" for f in ctx.result.facilities}
    inmate_facility = {i: ctx.result.unit_facility[u] for i, u in ctx.result.inmate_unit.items()}
    first = next_id(ctx.conn, "requests")
    first_event = next_id(ctx.conn, "request_events")
    reply = ctx.vault_encrypt("We have booked a time for you.")
    requests_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    event_id = first_event
    count = ctx.scale.requests
    for n in range(count):
        rid = first + n
        # A tenth of all requests come from ten heavy users (there are always some): their
        # lists run to many pages, which the pagination test and the benchmark both need.
        heavy = n % 10 == 0 and len(inmates) >= 10
        inmate = inmates[(n // 10) % 10] if heavy else inmates[n % len(inmates)]
        facility = inmate_facility[inmate]
        rtype, answers_text, health = templates[rng.randrange(len(templates))]
        submitted = ctx.now - dt.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        # Most requests of the past are settled; the newest are open.
        status = (
            rng.choice(OPEN) if ctx.now - submitted < dt.timedelta(days=20) else rng.choice(CLOSED)
        )
        is_open = status in OPEN
        requests_rows.append(
            {
                "id": rid,
                "receipt_number": f"{facility_code.get(facility, 'X')}-{submitted.year}-{rid:07d}",
                "type_id": rtype.id,
                "inmate_id": inmate,
                "facility_id": facility,
                "group_role": rtype.handler_role.value,
                "group_facility_id": facility,
                "sensitivity": rtype.sensitivity.value,
                "status": status,
                "is_open": is_open,
                "source": "portal",
                "logged_by_id": None,
                "idempotency_key": None,
                "answers": answers_text,
                "encrypted": health,
                "submitted_at": submitted,
                "reply_by": (submitted + dt.timedelta(days=rtype.reply_days + 2)).date(),
                "first_reply_at": None if is_open else submitted + dt.timedelta(days=2),
                "decided_at": None if is_open else submitted + dt.timedelta(days=2),
                "closed_at": None if is_open else submitted + dt.timedelta(days=3),
                "escalated_at": None,
                "escalated_to_id": None,
                "updated_at": submitted,
            }
        )
        event_rows.append(
            {
                "id": event_id,
                "request_id": rid,
                "kind": "submitted",
                "visible_to_inmate": True,
                "staff_id": None,
                "by_inmate": True,
                "body": "",
                "encrypted": False,
                "from_status": None,
                "to_status": "submitted",
                "to_role": None,
                "to_facility_id": None,
                "created_at": submitted,
            }
        )
        event_id += 1
        if not is_open:
            event_rows.append(
                {
                    "id": event_id,
                    "request_id": rid,
                    "kind": "reply",
                    "visible_to_inmate": True,
                    "staff_id": None,
                    "by_inmate": False,
                    "body": reply if health else "We have booked a time for you.",
                    "encrypted": health,
                    "from_status": "submitted",
                    "to_status": status,
                    "to_role": None,
                    "to_facility_id": None,
                    "created_at": submitted + dt.timedelta(days=2),
                }
            )
            event_id += 1
    bulk_insert(ctx.conn, "requests", requests_rows)
    bulk_insert(ctx.conn, "request_events", event_rows)
    fix_sequence(ctx.conn, "requests")
    fix_sequence(ctx.conn, "request_events")
    ctx.result.counts["requests"] = ctx.result.counts.get("requests", 0) + len(requests_rows)
    ctx.result.counts["request_events"] = ctx.result.counts.get("request_events", 0) + len(
        event_rows
    )


def _form_path(_client: Client, data: PageData) -> str:
    return f"/requests/new/{data.extra['request_form_type']}"


def _form(client: Client, data: PageData) -> dict[str, str]:
    fields = data.extra.get("request_form_fields", {})
    # One key per session: posting the same form twice makes one request (idempotency).
    key = f"bench{client.session_id}x{secrets.token_hex(4)}"
    return {"idem": key, **{f"f_{k}": v for k, v in fields.items()}}


add_page(
    Page(
        "request list",
        "kiosk",
        "/requests/",
        needs=TABLES,
        mix=2.0,
        list_page=True,
        list_item='class="request-card"',
        per_page=20,
    )
)
add_page(
    Page(
        "request form post",
        "kiosk",
        _form_path,
        method="POST",
        form=_form,
        expect=(303,),
        needs=TABLES,
        mix=0.3,
    )
)
add_page(
    Page(
        "staff request queue",
        "admin",
        "/requests/",
        endpoint="requests.index",
        inmate=False,
        role="officer",
        needs=TABLES,
        list_page=True,
        per_page=51,  # 50 requests and the heading row
        list_path="/requests/?status=all",
    )
)
