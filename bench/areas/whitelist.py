"""Whitelist: approved rules per facility, 20 logged visits per inmate, some site requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bench.data import Context, area, bulk_insert, fix_sequence, next_id
from bench.pages import Page, add_page

TABLES = ("whitelist_rules", "whitelist_visits", "whitelist_site_requests")
RULES_PER_FACILITY = 60
VISITS_PER_INMATE = 20
REQUEST_EVERY = 2  # one site request per this many inmates
REASONS = ("no_rule", "no_rule", "ip_literal", "userinfo", "private_address")


@area("whitelist", *TABLES)
def generate_whitelist(ctx: Context) -> None:
    """Rules proposed by one staff member and approved by another; visits and requests."""
    conn = ctx.conn
    staff = ctx.result.staff
    if len(staff) < 2:
        return
    rule_id = next_id(conn, "whitelist_rules")
    first_rule = rule_id
    rules: list[dict[str, Any]] = []
    for facility in ctx.result.facilities:
        for n in range(RULES_PER_FACILITY):
            proposer = staff[(rule_id + n) % len(staff)]
            approver = staff[(rule_id + n + 1) % len(staff)]
            rules.append(
                {
                    "id": rule_id,
                    "prefix": f"https://site{rule_id}.example.org/learn/",
                    "title": f"Learning site {rule_id}",
                    "note": "",
                    "on_site_mirror": False,
                    "facility_id": facility,
                    "unit_id": None,
                    "status": "approved",
                    "proposed_by_id": proposer,
                    "proposed_at": ctx.now - dt.timedelta(days=30),
                    "approved_by_id": approver,
                    "approved_at": ctx.now - dt.timedelta(days=29),
                    "closed_by_id": None,
                    "closed_at": None,
                    "expires_at": None,
                    "site_request_id": None,
                }
            )
            rule_id += 1
    bulk_insert(conn, "whitelist_rules", rules)
    fix_sequence(conn, "whitelist_rules")
    visit_id = next_id(conn, "whitelist_visits")
    visits: list[dict[str, Any]] = []
    request_id = next_id(conn, "whitelist_site_requests")
    requests: list[dict[str, Any]] = []
    for i, inmate in enumerate(ctx.result.inmates):
        unit = ctx.result.inmate_unit[inmate]
        facility = ctx.result.unit_facility[unit]
        for k in range(VISITS_PER_INMATE):
            refused = k % 4 == 0
            visits.append(
                {
                    "id": visit_id,
                    "at": ctx.now - dt.timedelta(minutes=visit_id % 5000),
                    "inmate_id": inmate,
                    "facility_id": facility,
                    "unit_id": unit,
                    "terminal_id": None,
                    "url": f"https://site{first_rule + k}.example.org/learn/page{visit_id}"
                    if not refused
                    else f"https://blocked{k}.example.com/",
                    "host": f"site{first_rule + k}.example.org"
                    if not refused
                    else f"blocked{k}.example.com",
                    "verdict": "refused" if refused else "allowed",
                    "reason": REASONS[k % len(REASONS)] if refused else "allowed",
                    "rule_id": None,
                    "kind": "page",
                    "upstream_status": None if refused else 200,
                }
            )
            visit_id += 1
        if i % REQUEST_EVERY == 0:
            requests.append(
                {
                    "id": request_id,
                    "inmate_id": inmate,
                    "facility_id": facility,
                    "unit_id": unit,
                    "url": f"https://blocked{i % 7}.example.com/",
                    "reason": "I need it for my course.",
                    "status": "open",
                    "created_at": ctx.now - dt.timedelta(minutes=i),
                    "handled_by_id": None,
                    "handled_at": None,
                    "answer": "",
                }
            )
            request_id += 1
    bulk_insert(conn, "whitelist_visits", visits)
    bulk_insert(conn, "whitelist_site_requests", requests)
    fix_sequence(conn, "whitelist_visits")
    fix_sequence(conn, "whitelist_site_requests")
    for name, rows in (
        ("whitelist_rules", rules),
        ("whitelist_visits", visits),
        ("whitelist_site_requests", requests),
    ):
        ctx.result.counts[name] = ctx.result.counts.get(name, 0) + len(rows)


add_page(Page("reader start", "kiosk", "/reader/", needs=TABLES, endpoint="reader.index", mix=0.5))
add_page(
    Page(
        "staff whitelist rules",
        "admin",
        "/whitelist/",
        endpoint="whitelist.index",
        inmate=False,
        role="security",
        needs=TABLES,
        list_page=True,
        per_page=51,  # 50 rules and the heading row
    )
)
add_page(
    Page(
        "staff whitelist visits",
        "admin",
        "/whitelist/visits",
        endpoint="whitelist.visits",
        inmate=False,
        role="security",
        needs=TABLES,
        list_page=True,
        list_item="<time datetime=",
        per_page=50,
    )
)
add_page(
    Page(
        "staff whitelist requests",
        "admin",
        "/whitelist/requests",
        endpoint="whitelist.requests",
        inmate=False,
        role="security",
        needs=TABLES,
        list_page=True,
        list_item='<section class="panel">',
        per_page=50,
    )
)
