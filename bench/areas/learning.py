"""Learning: 100 published courses with their lessons, enrolments and reading marks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bench.data import Context, area, bulk_insert, fix_sequence, next_id, table
from bench.pages import Page, PageData, add_page
from bench.sessions import Client

TABLES = ("courses", "course_facilities", "course_modules", "lessons", "enrolments", "lesson_reads")
# A lesson as teachers write them: headings, paragraphs, a list (already clean HTML).
BODY = (
    "<h2>{title}</h2>"
    + "<p>Read this part slowly. Each step builds on the one before, and the questions at the"
    " end help you check what you learned. Take notes if you like.</p>"
    * 4
    + "<ul><li>First, the main idea.</li><li>Then an example from daily life.</li>"
    "<li>Last, a short exercise.</li></ul>"
    + "<p>When you are done, mark the lesson as read and go on to the next one.</p>"
    * 2
)
ENROLMENTS_PER_INMATE = 2


@area("learning", *TABLES)
def generate_learning(ctx: Context) -> None:
    """Courses offered everywhere, two modules each; every inmate takes two courses."""
    conn = ctx.conn
    facilities = ctx.result.facilities
    teachers: list[int | None] = [s for s, r in ctx.result.staff_roles.items() if r == "teacher"]
    teachers = teachers or [None]
    course_first = next_id(conn, "courses")
    courses = list(range(course_first, course_first + ctx.scale.courses))
    course_rows: list[dict[str, Any]] = []
    offer_rows: list[dict[str, Any]] = []
    module_rows: list[dict[str, Any]] = []
    lesson_rows: list[dict[str, Any]] = []
    module_id = next_id(conn, "course_modules")
    lesson_id = next_id(conn, "lessons")
    first_lesson: dict[int, int] = {}
    for n, cid in enumerate(courses):
        course_rows.append(
            {
                "id": cid,
                "title": f"Course {cid}: everyday Swedish and numbers",
                "summary": "Reading, writing and counting for everyday life.",
                "language": "sv",
                "level": "basic",
                "status": "published",
                "facility_id": facilities[n % len(facilities)],
                "open_for_requests": True,
                "created_by_id": teachers[n % len(teachers)],
                "created_at": ctx.now,
                "updated_at": ctx.now,
                "published_at": ctx.now,
            }
        )
        offer_rows.extend({"course_id": cid, "facility_id": f} for f in facilities)
        per_module = max(1, ctx.scale.lessons_per_course // 2)
        for m in range(2):
            module_rows.append(
                {"id": module_id, "course_id": cid, "title": f"Part {m + 1}", "position": m}
            )
            for k in range(per_module):
                title = f"Lesson {m * per_module + k + 1}"
                lesson_rows.append(
                    {
                        "id": lesson_id,
                        "course_id": cid,
                        "module_id": module_id,
                        "title": title,
                        "position": k,
                        "body_source": "",
                        "body_html": BODY.format(title=title),
                        "updated_at": ctx.now,
                        "updated_by_id": None,
                    }
                )
                first_lesson.setdefault(cid, lesson_id)
                lesson_id += 1
            module_id += 1
    bulk_insert(conn, "courses", course_rows)
    bulk_insert(conn, "course_facilities", offer_rows)
    bulk_insert(conn, "course_modules", module_rows)
    bulk_insert(conn, "lessons", lesson_rows)
    for name in ("courses", "course_modules", "lessons"):
        fix_sequence(conn, name)

    # Every inmate (earlier ones too, when the data grows) takes two of these courses.
    enrolments = table("enrolments")
    taken = {
        (int(r[0]), int(r[1]))
        for r in conn.execute(select(enrolments.c.course_id, enrolments.c.inmate_id))
    }
    lesson_of: dict[str, int] = ctx.result.extra.setdefault("lesson_of", {})
    enrol_rows: list[dict[str, Any]] = []
    read_rows: list[dict[str, Any]] = []
    enrol_id = next_id(conn, "enrolments")
    read_id = next_id(conn, "lesson_reads")
    lessons_per = len(lesson_rows) // max(1, len(courses))
    for i, inmate in enumerate(ctx.result.inmates):
        for j in range(ENROLMENTS_PER_INMATE):
            cid = courses[(i + j * 37) % len(courses)]
            if (cid, inmate) in taken:
                continue
            taken.add((cid, inmate))
            when = ctx.now - dt.timedelta(days=(i + j) % 300)
            enrol_rows.append(
                {
                    "id": enrol_id,
                    "course_id": cid,
                    "inmate_id": inmate,
                    "status": "active",
                    "requested_at": when,
                    "enrolled_at": when,
                    "decided_at": when,
                    "decided_by_id": None,
                    "completed_at": None,
                    "last_activity_at": when,
                }
            )
            enrol_id += 1
            # Some lessons read already.
            for k in range(i % max(1, lessons_per)):
                read_rows.append(
                    {
                        "id": read_id,
                        "course_id": cid,
                        "lesson_id": first_lesson[cid] + k,
                        "inmate_id": inmate,
                        "read_at": when,
                    }
                )
                read_id += 1
            lesson_of.setdefault(str(inmate), first_lesson[cid] + i % max(1, lessons_per))
    bulk_insert(conn, "enrolments", enrol_rows)
    bulk_insert(conn, "lesson_reads", read_rows)
    fix_sequence(conn, "enrolments")
    fix_sequence(conn, "lesson_reads")
    for name, rows in (
        ("courses", course_rows),
        ("lessons", lesson_rows),
        ("enrolments", enrol_rows),
        ("lesson_reads", read_rows),
    ):
        ctx.result.counts[name] = ctx.result.counts.get(name, 0) + len(rows)


def _lesson_path(client: Client, data: PageData) -> str:
    return f"/learning/lessons/{data.extra['lesson_of'][str(client.user_id)]}"


add_page(Page("lesson", "kiosk", _lesson_path, needs=TABLES, mix=2.0))
