"""Learning: the rules for courses, lessons, media, enrolment, progress, quizzes,
assignments and certificates.

Every function takes the session explicitly, changes state in one unit of work with
its audit events, and raises a ``LearningError`` (or ``NotFound``) that the views turn
into a message on the same page. Lesson text is cleaned by ``clean_html`` here, when it
is saved; pages render ``Lesson.body_html`` only.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased, lazyload

from kiosk.db import unit_of_work
from kiosk.errors import DomainError, NotFound
from kiosk.i18n import _l
from kiosk.models import (
    Assignment,
    Certificate,
    Choice,
    Course,
    CourseFacility,
    CourseLevel,
    CourseMedia,
    CourseStatus,
    Enrolment,
    EnrolmentStatus,
    Facility,
    Inmate,
    InmateStatus,
    Lesson,
    LessonRead,
    MediaFile,
    Module,
    Question,
    QuestionKind,
    Quiz,
    QuizAttempt,
    Staff,
    Submission,
    Unit,
)
from kiosk.security.policy import Perm, can, in_scope, may_study
from kiosk.services import audit
from kiosk.services import media as media_service
from kiosk.services.audit import Actor

# Files a teacher may attach to a course, and a learner to an assignment.
COURSE_FAMILIES = frozenset({"image", "pdf", "audio", "video", "captions"})
SUBMISSION_FAMILIES = frozenset({"image", "pdf"})
# A learner who did nothing in an unfinished course for this long is "stuck".
STUCK_AFTER = dt.timedelta(days=14)
# Certificate codes: no 0/O or 1/I/L to misread when typed from paper.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_GROUPS = 3
_CODE_GROUP_LEN = 4
_TAG = re.compile(r"<[A-Za-z/!]")
MEDIA_URL = "/media/course/{id}"
_MEDIA_REF = re.compile(r"/media/course/([0-9]{1,12})\b")


class LearningError(DomainError):
    """A learning rule said no."""


class Conflict(LearningError):
    """The state of things does not allow this now."""

    status = 409


class NotEnrolled(LearningError):
    """The learner has no active place in the course."""

    status = 404
    default_message = _l("You are not taking this course.")


class AttemptsUsedUp(LearningError):
    """No attempts left."""

    status = 409
    default_message = _l("You have used all your attempts at this quiz.")


class AlreadyEnrolled(LearningError):
    """The learner is in the course already (or has asked)."""

    status = 409
    default_message = _l("This learner is already taking the course.")


class NotComplete(LearningError):
    """A certificate needs every part of the course done."""

    status = 409
    default_message = _l("The learner has not finished every part of the course yet.")


# Course and content -------------------------------------------------------------------


def _text(value: str, maximum: int, field_name: str, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise LearningError(_l("This field cannot be empty."), field=field_name)
    if len(value) > maximum:
        raise LearningError(
            _l("Use at most %(n)d characters.", n=maximum),
            field=field_name,
        )
    return value


def _title(value: str, maximum: int = Course.TITLE_MAX) -> str:
    return " ".join(_text(value, maximum, "title").split())


def _check_offer(staff: Staff, facility_ids: Iterable[int]) -> frozenset[int]:
    ids = frozenset(facility_ids)
    if not ids:
        raise LearningError(
            _l("Choose at least one facility that offers the course."), field="facilities"
        )
    # A course is offered only where its teachers work: they enrol and answer the
    # learners there. Another prison imports an exported copy instead.
    if not all(in_scope(staff, f) for f in ids):
        raise LearningError(
            _l("Offer the course only at facilities where you work."), field="facilities"
        )
    return ids


def create_course(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    title: str,
    summary: str,
    language: str,
    level: CourseLevel,
    home_facility_id: int,
    offered_at: Iterable[int],
    open_for_requests: bool,
    now: dt.datetime,
) -> Course:
    """A new draft course, managed by teachers of its home facility."""
    title = _title(title)
    summary = _text(summary, Course.SUMMARY_MAX, "summary", required=False)
    if not in_scope(staff, home_facility_id):
        raise NotFound()
    offer = _check_offer(staff, offered_at)
    with unit_of_work(session):
        course = Course(
            title=title,
            summary=summary,
            language=language,
            level=level,
            status=CourseStatus.DRAFT,
            facility_id=home_facility_id,
            open_for_requests=open_for_requests,
            created_by_id=staff.id,
            created_at=now,
            updated_at=now,
            offer_rows=[CourseFacility(facility_id=f) for f in sorted(offer)],
        )
        session.add(course)
        session.flush()
        audit.record(
            session, "course.create", actor=actor, obj=course, at=now, details={"title": title}
        )
    return course


def update_course(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    title: str,
    summary: str,
    language: str,
    level: CourseLevel,
    offered_at: Iterable[int],
    open_for_requests: bool,
    now: dt.datetime,
) -> None:
    """Change what a course says about itself and where it is offered."""
    title = _title(title)
    summary = _text(summary, Course.SUMMARY_MAX, "summary", required=False)
    offer = _check_offer(staff, offered_at)
    with unit_of_work(session):
        row = _locked(session, Course, course.id)
        row.title = title
        row.summary = summary
        row.language = language
        row.level = level
        row.open_for_requests = open_for_requests
        current = {r.facility_id: r for r in row.offer_rows}
        for fid, r in current.items():
            if fid not in offer:
                row.offer_rows.remove(r)
        for fid in sorted(offer - current.keys()):
            row.offer_rows.append(CourseFacility(facility_id=fid))
        row.updated_at = now
        audit.record(session, "course.update", actor=actor, obj=row, at=now)


def set_published(
    session: Session, *, actor: Actor, course: Course, published: bool, now: dt.datetime
) -> None:
    """Publish a course (learners see it) or take it back to draft."""
    with unit_of_work(session):
        row = _locked(session, Course, course.id)
        if published:
            lessons = session.scalar(
                select(func.count(Lesson.id)).where(Lesson.course_id == row.id)
            )
            if not lessons:
                raise Conflict(_l("Write at least one lesson before publishing."))
            row.status = CourseStatus.PUBLISHED
            row.published_at = now
        else:
            row.status = CourseStatus.DRAFT
        row.updated_at = now
        audit.record(
            session,
            "course.publish" if published else "course.unpublish",
            actor=actor,
            obj=row,
            at=now,
        )


def _locked(session: Session, model: type[Any], object_id: int) -> Any:
    row = session.get(model, object_id, with_for_update={"of": model}, populate_existing=True)
    if row is None:
        raise NotFound()
    return row


def _next_position(session: Session, column: Any, where: Any) -> int:
    current = session.scalar(select(func.max(column)).where(where))
    return int(current or 0) + 1


def add_module(
    session: Session, *, actor: Actor, course: Course, title: str, now: dt.datetime
) -> Module:
    """A new module at the end of the course."""
    title = _title(title, Module.TITLE_MAX)
    with unit_of_work(session):
        _locked(session, Course, course.id)
        module = Module(
            course_id=course.id,
            title=title,
            position=_next_position(session, Module.position, Module.course_id == course.id),
        )
        session.add(module)
        session.flush()
        audit.record(
            session,
            "course.module_add",
            actor=actor,
            obj=module,
            facility_id=course.facility_id,
            at=now,
        )
    return module


def rename_module(
    session: Session, *, actor: Actor, course: Course, module: Module, title: str, now: dt.datetime
) -> None:
    """A module's new title."""
    title = _title(title, Module.TITLE_MAX)
    with unit_of_work(session):
        row = _locked(session, Module, module.id)
        row.title = title
        audit.record(
            session,
            "course.module_rename",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )


def text_to_html(body: str) -> str:
    """What the teacher typed as HTML: markup as it is, plain text as paragraphs."""
    if _TAG.search(body):
        return body
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body.replace("\r\n", "\n"))]
    return "\n".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p
    )


def render_lesson_body(body: str) -> str:
    """The cleaned HTML a lesson body turns into (also what the preview shows)."""
    # Imported here: only staff save or preview lessons (pages show the stored
    # ``body_html``), so the inmate portal never loads bleach and html5lib for it.
    from kiosk.sanitize import clean_html

    return clean_html(text_to_html(body))


def save_lesson(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    module: Module,
    lesson: Lesson | None,
    title: str,
    body: str,
    now: dt.datetime,
) -> Lesson:
    """Create or change a lesson; the text is cleaned now and rendered from that form only."""
    title = _title(title, Lesson.TITLE_MAX)
    if len(body) > Lesson.BODY_MAX:
        raise LearningError(_l("Use at most %(n)d characters.", n=Lesson.BODY_MAX), field="body")
    cleaned = render_lesson_body(body)
    with unit_of_work(session):
        _locked(session, Course, course.id)
        if lesson is None:
            row = Lesson(
                course_id=course.id,
                module_id=module.id,
                position=_next_position(session, Lesson.position, Lesson.module_id == module.id),
            )
            session.add(row)
            action = "lesson.create"
        else:
            row = _locked(session, Lesson, lesson.id)
            action = "lesson.update"
        row.title = title
        row.body_source = body
        row.body_html = cleaned
        row.updated_at = now
        row.updated_by_id = staff.id
        session.get(Course, course.id).updated_at = now  # type: ignore[union-attr]
        session.flush()
        audit.record(
            session,
            action,
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
            details={"changed_by_cleaning": cleaned != text_to_html(body)},
        )
    return row


def add_media(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    instance_path: Path,
    stream: IO[bytes],
    filename: str,
    title: str,
    alt_text: str,
    lesson: Lesson | None,
    now: dt.datetime,
) -> CourseMedia:
    """Keep an uploaded file for a course (type read from its bytes, size capped)."""
    title = _title(title or filename or "file", CourseMedia.TITLE_MAX)
    alt_text = _text(alt_text, CourseMedia.ALT_MAX, "alt_text", required=False)
    if lesson is not None and lesson.course_id != course.id:
        raise NotFound()
    stored = media_service.store(
        session,
        actor=actor,
        instance_path=instance_path,
        stream=stream,
        filename=filename,
        purpose="course",
        facility_id=course.facility_id,
        staff_id=staff.id,
        now=now,
        families=COURSE_FAMILIES,
    )
    if stored.content_type == "text/vtt":
        try:
            _check_captions(instance_path, stored)
        except media_service.UnsupportedFile:
            # Not kept: the row goes again (the file is content-addressed and harmless).
            with unit_of_work(session):
                refused = session.get(MediaFile, stored.id)
                if refused is not None:
                    session.delete(refused)
                audit.record(
                    session,
                    "media.discard",
                    actor=actor,
                    object_type="media",
                    object_id=stored.id,
                    facility_id=course.facility_id,
                    at=now,
                    details={"reason": "captions are not UTF-8 text"},
                )
            raise
    with unit_of_work(session):
        row = CourseMedia(
            course_id=course.id,
            lesson_id=lesson.id if lesson is not None else None,
            media_file_id=stored.id,
            title=title,
            alt_text=alt_text,
            position=_next_position(
                session, CourseMedia.position, CourseMedia.course_id == course.id
            ),
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            "course.media_add",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
            details={"type": stored.content_type, "size": stored.size},
        )
    return row


def _check_captions(instance_path: Path, stored: MediaFile) -> None:
    data = media_service.path_of(instance_path, stored.sha256).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise media_service.UnsupportedFile(field="file") from None


def update_media(
    session: Session,
    *,
    actor: Actor,
    course: Course,
    item: CourseMedia,
    title: str,
    alt_text: str,
    lesson_id: int | None,
    captions_id: int | None,
    now: dt.datetime,
) -> None:
    """Title, alternative text, the lesson that shows it and its captions."""
    title = _title(title, CourseMedia.TITLE_MAX)
    alt_text = _text(alt_text, CourseMedia.ALT_MAX, "alt_text", required=False)
    with unit_of_work(session):
        row = _locked(session, CourseMedia, item.id)
        if lesson_id is not None:
            lesson = session.get(Lesson, lesson_id)
            if lesson is None or lesson.course_id != course.id:
                raise LearningError(_l("Choose a lesson of this course."), field="lesson")
        if captions_id is not None:
            captions = session.get(CourseMedia, captions_id)
            if (
                captions is None
                or captions.course_id != course.id
                or captions.file.content_type != "text/vtt"
            ):
                raise LearningError(_l("Choose a captions file of this course."), field="captions")
        row.title = title
        row.alt_text = alt_text
        row.lesson_id = lesson_id
        row.captions_id = captions_id
        audit.record(
            session,
            "course.media_update",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )


# Reading a course --------------------------------------------------------------------


@dataclass
class ModuleOutline:
    """A module with its parts in order."""

    module: Module
    lessons: list[Lesson] = field(default_factory=list)
    quizzes: list[Quiz] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)


def outline(session: Session, course: Course) -> list[ModuleOutline]:
    """Every module with its lessons, quizzes and assignments (four queries in all)."""
    modules = {
        m.id: ModuleOutline(m)
        for m in session.scalars(
            select(Module).where(Module.course_id == course.id).order_by(Module.position, Module.id)
        )
    }
    for lesson in session.scalars(
        select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position, Lesson.id)
    ):
        modules[lesson.module_id].lessons.append(lesson)
    for quiz in session.scalars(
        select(Quiz).where(Quiz.course_id == course.id).order_by(Quiz.position, Quiz.id)
    ):
        modules[quiz.module_id].quizzes.append(quiz)
    for work in session.scalars(
        select(Assignment)
        .where(Assignment.course_id == course.id)
        .order_by(Assignment.position, Assignment.id)
    ):
        modules[work.module_id].assignments.append(work)
    return list(modules.values())


# Statements of the learner's lesson page, built once (building them cost more than
# running them).
_ENROLMENT = select(Enrolment).where(
    Enrolment.course_id == bindparam("course_id"), Enrolment.inmate_id == bindparam("inmate_id")
)
# A lesson's own files and the captions they name (not every file of the course).
_CAPTIONED = aliased(CourseMedia)  # its own FROM: the subquery must not correlate
_LESSON_MEDIA = (
    select(CourseMedia)
    .where(
        CourseMedia.course_id == bindparam("course_id"),
        or_(
            CourseMedia.lesson_id == bindparam("lesson_id"),
            CourseMedia.id.in_(
                select(_CAPTIONED.captions_id).where(
                    _CAPTIONED.lesson_id == bindparam("lesson_id"),
                    _CAPTIONED.captions_id.is_not(None),
                )
            ),
        ),
    )
    .order_by(CourseMedia.position, CourseMedia.id)
)
_LESSON_ORDER = (
    select(Lesson.id)
    .join(Module, Module.id == Lesson.module_id)
    .where(Lesson.course_id == bindparam("course_id"))
    .order_by(Module.position, Module.id, Lesson.position, Lesson.id)
)
_READ_AT = select(LessonRead.read_at).where(
    LessonRead.lesson_id == bindparam("lesson_id"), LessonRead.inmate_id == bindparam("inmate_id")
)


def enrolment_of(session: Session, course_id: int, inmate_id: int) -> Enrolment | None:
    """The learner's enrolment row in a course, if any."""
    return session.scalars(_ENROLMENT, {"course_id": course_id, "inmate_id": inmate_id}).first()


def visible_course(session: Session, inmate: Inmate, course_id: int) -> Course:
    """A course in the learner's catalogue (published, offered at their facility), else 404."""
    # The policy asks for the learner's own facility only (Course.is_offered_at): the
    # rows of every other facility that offers the course are not loaded.
    course = session.get(Course, course_id, options=[lazyload(Course.offer_rows)])
    if course is None or not can(inmate, Perm.PORTAL_USE, course):
        raise NotFound()
    return course


def studied_course(session: Session, inmate: Inmate, course_id: int) -> tuple[Course, Enrolment]:
    """A course the learner is taking, with the enrolment, else 404."""
    course = visible_course(session, inmate, course_id)
    enrolment = enrolment_of(session, course.id, inmate.id)
    if not may_study(inmate, course, enrolment):
        raise NotFound()
    assert enrolment is not None  # noqa: S101 - may_study checked it
    return course, enrolment


@dataclass
class LessonView:
    """Everything the lesson page shows."""

    course: Course
    lesson: Lesson
    module: Module
    media: list[CourseMedia]
    captions: dict[int, CourseMedia]
    read_at: dt.datetime | None
    previous_id: int | None
    next_id: int | None


def lesson_view(
    session: Session, lesson: Lesson, course: Course, inmate_id: int | None
) -> LessonView:
    """A lesson with its media, captions, read mark and neighbours (a fixed number of
    queries, whatever the size of the course)."""
    module = session.get(Module, lesson.module_id)
    assert module is not None  # noqa: S101 - foreign key
    items = list(session.scalars(_LESSON_MEDIA, {"course_id": course.id, "lesson_id": lesson.id}))
    by_id = {m.id: m for m in items}
    shown = [m for m in items if m.lesson_id == lesson.id and m.family != "captions"]
    captions = {
        m.id: by_id[m.captions_id]
        for m in shown
        if m.captions_id is not None and m.captions_id in by_id
    }
    order = list(session.execute(_LESSON_ORDER, {"course_id": course.id}).scalars())
    index = order.index(lesson.id)
    read_at = None
    if inmate_id is not None:
        read_at = session.scalar(_READ_AT, {"lesson_id": lesson.id, "inmate_id": inmate_id})
    return LessonView(
        course=course,
        lesson=lesson,
        module=module,
        media=shown,
        captions=captions,
        read_at=read_at,
        previous_id=order[index - 1] if index > 0 else None,
        next_id=order[index + 1] if index + 1 < len(order) else None,
    )


def learner_lesson(session: Session, inmate: Inmate, lesson_id: int) -> LessonView:
    """A lesson of a course the learner is taking, else 404."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound()
    course, _enrolment = studied_course(session, inmate, lesson.course_id)
    return lesson_view(session, lesson, course, inmate.id)


def learner_media(session: Session, inmate: Inmate, media_id: int) -> CourseMedia:
    """A course file the learner may open (their course, published), else 404."""
    item = session.get(CourseMedia, media_id)
    if item is None:
        raise NotFound()
    studied_course(session, inmate, item.course_id)
    return item


def _touch(enrolment: Enrolment, now: dt.datetime) -> None:
    enrolment.last_activity_at = now


def mark_read(
    session: Session, *, actor: Actor, inmate: Inmate, lesson_id: int, now: dt.datetime
) -> bool:
    """The learner read a lesson (once; True when this is new)."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound()
    with unit_of_work(session):
        course, enrolment = studied_course(session, inmate, lesson.course_id)
        enrolment = _locked(session, Enrolment, enrolment.id)
        exists = session.scalar(
            select(LessonRead.id).where(
                LessonRead.lesson_id == lesson.id, LessonRead.inmate_id == inmate.id
            )
        )
        if exists is not None:
            return False
        session.add(
            LessonRead(course_id=course.id, lesson_id=lesson.id, inmate_id=inmate.id, read_at=now)
        )
        _touch(enrolment, now)
        audit.record(
            session,
            "lesson.read",
            actor=actor,
            object_type="lesson",
            object_id=lesson.id,
            facility_id=inmate.facility_id,
            at=now,
        )
    return True


@dataclass
class CourseCard:
    """A course in a learner's list."""

    course: Course
    enrolment: Enrolment | None
    lessons: int = 0
    read: int = 0


def learner_courses(session: Session, inmate: Inmate) -> tuple[list[CourseCard], list[CourseCard]]:
    """(courses the learner takes or asked for, catalogue of other courses open to them)."""
    offered = list(
        session.scalars(
            select(Course)
            .join(CourseFacility, CourseFacility.course_id == Course.id)
            .where(
                CourseFacility.facility_id == inmate.facility_id,
                Course.status == CourseStatus.PUBLISHED,
            )
            .order_by(Course.title, Course.id)
        ).unique()
    )
    ids = [c.id for c in offered]
    enrolments = {
        e.course_id: e
        for e in session.scalars(
            select(Enrolment).where(Enrolment.inmate_id == inmate.id, Enrolment.course_id.in_(ids))
        )
    }
    lesson_counts = dict(
        session.execute(
            select(Lesson.course_id, func.count(Lesson.id))
            .where(Lesson.course_id.in_(ids))
            .group_by(Lesson.course_id)
        ).all()
    )
    read_counts = dict(
        session.execute(
            select(LessonRead.course_id, func.count(LessonRead.id))
            .where(LessonRead.inmate_id == inmate.id, LessonRead.course_id.in_(ids))
            .group_by(LessonRead.course_id)
        ).all()
    )
    mine, catalogue = [], []
    for course in offered:
        enrolment = enrolments.get(course.id)
        card = CourseCard(
            course, enrolment, lesson_counts.get(course.id, 0), read_counts.get(course.id, 0)
        )
        if enrolment is not None and enrolment.status in (
            EnrolmentStatus.ACTIVE,
            EnrolmentStatus.REQUESTED,
        ):
            mine.append(card)
        else:
            catalogue.append(card)
    return mine, catalogue


def read_lesson_ids(session: Session, inmate_id: int, course_id: int) -> set[int]:
    """The lessons of a course the learner has read."""
    return set(
        session.scalars(
            select(LessonRead.lesson_id).where(
                LessonRead.inmate_id == inmate_id, LessonRead.course_id == course_id
            )
        )
    )


# Enrolment ----------------------------------------------------------------------------


def _check_learner(staff: Staff | None, course: Course, inmate: Inmate) -> None:
    if inmate.status is not InmateStatus.ACTIVE:
        raise LearningError(_l("Only active inmates can take courses."), field="booking_number")
    if staff is not None and not in_scope(staff, inmate.facility_id):
        raise NotFound()
    if inmate.facility_id not in course.facility_ids:
        raise LearningError(
            _l("The course is not offered at this learner's facility."), field="booking_number"
        )


def enrol(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    inmate: Inmate,
    now: dt.datetime,
) -> Enrolment:
    """The teacher puts a learner in the course (accepting a request if there is one)."""
    _check_learner(staff, course, inmate)
    with unit_of_work(session):
        _locked(session, Course, course.id)
        row = enrolment_of(session, course.id, inmate.id)
        if row is not None and row.status is EnrolmentStatus.ACTIVE:
            raise AlreadyEnrolled(field="booking_number")
        row = _activate(session, row, course, inmate, staff, now)
        audit.record(
            session,
            "course.enrol",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
            details={"course": course.id, "inmate": inmate.booking_number},
        )
    return row


def _activate(
    session: Session,
    row: Enrolment | None,
    course: Course,
    inmate: Inmate,
    staff: Staff,
    now: dt.datetime,
) -> Enrolment:
    if row is None:
        row = Enrolment(course_id=course.id, inmate_id=inmate.id)
        session.add(row)
    row.status = EnrolmentStatus.ACTIVE
    row.enrolled_at = now
    row.decided_at = now
    row.decided_by_id = staff.id
    row.last_activity_at = row.last_activity_at or now
    session.flush()
    return row


def enrol_unit(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    unit: Unit,
    now: dt.datetime,
) -> int:
    """Enrol every active inmate of a unit (a class); returns how many were added."""
    if not in_scope(staff, unit.facility_id):
        raise NotFound()
    if unit.facility_id not in course.facility_ids:
        raise LearningError(_l("The course is not offered at this unit's facility."), field="unit")
    added = 0
    with unit_of_work(session):
        _locked(session, Course, course.id)
        learners = list(
            session.scalars(
                select(Inmate).where(
                    Inmate.unit_id == unit.id, Inmate.status == InmateStatus.ACTIVE
                )
            )
        )
        existing = {
            e.inmate_id: e
            for e in session.scalars(
                select(Enrolment).where(
                    Enrolment.course_id == course.id,
                    Enrolment.inmate_id.in_([i.id for i in learners]),
                )
            )
        }
        for inmate in learners:
            row = existing.get(inmate.id)
            if row is not None and row.status is EnrolmentStatus.ACTIVE:
                continue
            _activate(session, row, course, inmate, staff, now)
            added += 1
        audit.record(
            session,
            "course.enrol_unit",
            actor=actor,
            obj=course,
            at=now,
            details={"unit": unit.code, "added": added},
        )
    return added


def request_to_join(
    session: Session, *, actor: Actor, inmate: Inmate, course_id: int, now: dt.datetime
) -> Enrolment:
    """The learner asks to join a course; the teacher decides."""
    course = visible_course(session, inmate, course_id)
    if not course.open_for_requests:
        raise Conflict(_l("Ask your teacher to join this course."))
    with unit_of_work(session):
        _locked(session, Course, course.id)
        row = enrolment_of(session, course.id, inmate.id)
        if row is not None and row.status in (EnrolmentStatus.ACTIVE, EnrolmentStatus.REQUESTED):
            return row
        if row is None:
            row = Enrolment(course_id=course.id, inmate_id=inmate.id)
            session.add(row)
        row.status = EnrolmentStatus.REQUESTED
        row.requested_at = now
        row.decided_at = None
        row.decided_by_id = None
        session.flush()
        audit.record(
            session,
            "course.join_request",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )
    return row


def decide(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    enrolment: Enrolment,
    accept: bool,
    now: dt.datetime,
) -> None:
    """Accept or decline a learner's request to join."""
    with unit_of_work(session):
        row = _locked(session, Enrolment, enrolment.id)
        if row.course_id != course.id:
            raise NotFound()
        if row.status is not EnrolmentStatus.REQUESTED:
            raise Conflict(_l("This request was already answered."))
        inmate = session.get(Inmate, row.inmate_id)
        assert inmate is not None  # noqa: S101 - foreign key
        if not in_scope(staff, inmate.facility_id):
            raise NotFound()
        if accept:
            _check_learner(staff, course, inmate)
            _activate(session, row, course, inmate, staff, now)
        else:
            row.status = EnrolmentStatus.DECLINED
            row.decided_at = now
            row.decided_by_id = staff.id
        audit.record(
            session,
            "course.join_accept" if accept else "course.join_decline",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )


def withdraw(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    enrolment: Enrolment,
    now: dt.datetime,
) -> None:
    """Take a learner out of a course (their work and marks are kept)."""
    with unit_of_work(session):
        row = _locked(session, Enrolment, enrolment.id)
        if row.course_id != course.id:
            raise NotFound()
        row.status = EnrolmentStatus.WITHDRAWN
        row.decided_at = now
        row.decided_by_id = staff.id
        audit.record(
            session,
            "course.withdraw",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )


# Quizzes ------------------------------------------------------------------------------


def save_quiz(
    session: Session,
    *,
    actor: Actor,
    course: Course,
    module: Module,
    quiz: Quiz | None,
    title: str,
    intro: str,
    pass_mark: int,
    max_attempts: int,
    now: dt.datetime,
) -> Quiz:
    """Create or change a quiz's settings."""
    title = _title(title, Quiz.TITLE_MAX)
    intro = _text(intro, 4000, "intro", required=False)
    if not 0 <= pass_mark <= 100:
        raise LearningError(_l("The pass mark is a percentage from 0 to 100."), field="pass_mark")
    if not 0 <= max_attempts <= 99:
        raise LearningError(_l("Attempts: 0 for no limit, or at most 99."), field="max_attempts")
    with unit_of_work(session):
        _locked(session, Course, course.id)
        if quiz is None:
            row = Quiz(
                course_id=course.id,
                module_id=module.id,
                position=_next_position(session, Quiz.position, Quiz.module_id == module.id),
            )
            session.add(row)
        else:
            row = _locked(session, Quiz, quiz.id)
        row.title = title
        row.intro = intro
        row.pass_mark = pass_mark
        row.max_attempts = max_attempts
        session.flush()
        audit.record(
            session,
            "quiz.save",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )
    return row


def add_question(
    session: Session,
    *,
    actor: Actor,
    course: Course,
    quiz: Quiz,
    text: str,
    kind: QuestionKind,
    feedback: str,
    choices: Sequence[tuple[str, bool]],
    now: dt.datetime,
) -> Question:
    """A question with its choices; a single-choice question has exactly one right answer."""
    text = _text(text, Question.TEXT_MAX, "text")
    feedback = _text(feedback, Question.TEXT_MAX, "feedback", required=False)
    options = [(t.strip(), ok) for t, ok in choices if t.strip()]
    if len(options) < 2:
        raise LearningError(_l("Give at least two answers to choose from."), field="choices")
    if any(len(t) > Choice.TEXT_MAX for t, _ in options):
        raise LearningError(_l("Use at most %(n)d characters.", n=Choice.TEXT_MAX), field="choices")
    right = sum(1 for _, ok in options if ok)
    if kind is QuestionKind.SINGLE and right != 1:
        raise LearningError(_l("Mark exactly one answer as right."), field="choices")
    if kind is QuestionKind.MULTIPLE and right < 1:
        raise LearningError(_l("Mark at least one answer as right."), field="choices")
    with unit_of_work(session):
        _locked(session, Quiz, quiz.id)
        question = Question(
            quiz_id=quiz.id,
            text=text,
            kind=kind,
            feedback=feedback,
            position=_next_position(session, Question.position, Question.quiz_id == quiz.id),
            choices=[
                Choice(text=t, correct=ok, position=i) for i, (t, ok) in enumerate(options, 1)
            ],
        )
        session.add(question)
        session.flush()
        audit.record(
            session,
            "quiz.question_add",
            actor=actor,
            obj=question,
            facility_id=course.facility_id,
            at=now,
        )
    return question


def delete_question(
    session: Session, *, actor: Actor, course: Course, question: Question, now: dt.datetime
) -> None:
    """Remove a question (attempts already marked keep their score)."""
    with unit_of_work(session):
        row = _locked(session, Question, question.id)
        session.delete(row)
        audit.record(
            session,
            "quiz.question_delete",
            actor=actor,
            object_type="question",
            object_id=question.id,
            facility_id=course.facility_id,
            at=now,
        )


def questions_of(session: Session, quiz: Quiz) -> list[Question]:
    """A quiz's questions in order, with their choices (two queries)."""
    return list(
        session.scalars(
            select(Question)
            .where(Question.quiz_id == quiz.id)
            .order_by(Question.position, Question.id)
        )
    )


def is_right(question: Question, chosen: Iterable[int]) -> bool:
    """Right when exactly the right choices were chosen (one for single choice)."""
    picked = set(chosen)
    right = {c.id for c in question.choices if c.correct}
    if question.kind is QuestionKind.SINGLE and len(picked) != 1:
        return False
    return picked == right


@dataclass
class QuizState:
    """A learner's standing with one quiz."""

    quiz: Quiz
    questions: list[Question]
    attempts: list[QuizAttempt]

    @property
    def used(self) -> int:
        """Attempts made."""
        return len(self.attempts)

    @property
    def left(self) -> int | None:
        """Attempts left (None: no limit)."""
        if self.quiz.max_attempts == 0:
            return None
        return max(self.quiz.max_attempts - self.used, 0)

    @property
    def passed(self) -> bool:
        """Passed in any attempt."""
        return any(a.passed for a in self.attempts)

    @property
    def best(self) -> QuizAttempt | None:
        """The best attempt."""
        return max(self.attempts, key=lambda a: (a.percent, -a.number), default=None)


def learner_quiz(session: Session, inmate: Inmate, quiz_id: int) -> tuple[Course, QuizState]:
    """A quiz of a course the learner is taking, with their attempts, else 404."""
    quiz = session.get(Quiz, quiz_id)
    if quiz is None:
        raise NotFound()
    course, _ = studied_course(session, inmate, quiz.course_id)
    attempts = list(
        session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.quiz_id == quiz.id, QuizAttempt.inmate_id == inmate.id)
            .order_by(QuizAttempt.number)
        )
    )
    return course, QuizState(quiz, questions_of(session, quiz), attempts)


def submit_attempt(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    quiz_id: int,
    answers: Mapping[int, Sequence[int]],
    now: dt.datetime,
) -> QuizAttempt:
    """Mark an attempt now; refused when the attempts are used up."""
    quiz = session.get(Quiz, quiz_id)
    if quiz is None:
        raise NotFound()
    with unit_of_work(session):
        course, enrolment = studied_course(session, inmate, quiz.course_id)
        # The enrolment row is the lock that makes "count, then add" safe for two tabs.
        enrolment = _locked(session, Enrolment, enrolment.id)
        used = (
            session.scalar(
                select(func.count(QuizAttempt.id)).where(
                    QuizAttempt.quiz_id == quiz.id, QuizAttempt.inmate_id == inmate.id
                )
            )
            or 0
        )
        if quiz.max_attempts and used >= quiz.max_attempts:
            raise AttemptsUsedUp()
        questions = questions_of(session, quiz)
        if not questions:
            raise NotFound()
        valid = {q.id: {c.id for c in q.choices} for q in questions}
        given: dict[str, list[int]] = {}
        score = 0
        for question in questions:
            chosen = sorted(set(answers.get(question.id, ())) & valid[question.id])
            given[str(question.id)] = chosen
            if is_right(question, chosen):
                score += 1
        percent = round(100 * score / len(questions))
        attempt = QuizAttempt(
            quiz_id=quiz.id,
            course_id=course.id,
            inmate_id=inmate.id,
            number=used + 1,
            score=score,
            max_score=len(questions),
            percent=percent,
            passed=percent >= quiz.pass_mark,
            answers=json.dumps(given, sort_keys=True),
            submitted_at=now,
        )
        session.add(attempt)
        _touch(enrolment, now)
        session.flush()
        audit.record(
            session,
            "quiz.attempt",
            actor=actor,
            obj=attempt,
            facility_id=inmate.facility_id,
            at=now,
            details={"quiz": quiz.id, "number": attempt.number, "percent": percent},
        )
    return attempt


def attempt_answers(attempt: QuizAttempt) -> dict[int, set[int]]:
    """What the learner chose in an attempt."""
    try:
        raw = json.loads(attempt.answers)
    except ValueError:
        return {}
    return {int(k): set(v) for k, v in raw.items()}


# Assignments ----------------------------------------------------------------------------


def save_assignment(
    session: Session,
    *,
    actor: Actor,
    course: Course,
    module: Module,
    assignment: Assignment | None,
    title: str,
    instructions: str,
    allow_file: bool,
    now: dt.datetime,
) -> Assignment:
    """Create or change an assignment."""
    title = _title(title, Assignment.TITLE_MAX)
    instructions = _text(instructions, 8000, "instructions", required=False)
    with unit_of_work(session):
        _locked(session, Course, course.id)
        if assignment is None:
            row = Assignment(
                course_id=course.id,
                module_id=module.id,
                position=_next_position(
                    session, Assignment.position, Assignment.module_id == module.id
                ),
            )
            session.add(row)
        else:
            row = _locked(session, Assignment, assignment.id)
        row.title = title
        row.instructions = instructions
        row.allow_file = allow_file
        session.flush()
        audit.record(
            session,
            "assignment.save",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
        )
    return row


def learner_assignment(
    session: Session, inmate: Inmate, assignment_id: int
) -> tuple[Course, Assignment, list[Submission]]:
    """An assignment of a course the learner is taking, with their hand-ins, else 404."""
    work = session.get(Assignment, assignment_id)
    if work is None:
        raise NotFound()
    course, _ = studied_course(session, inmate, work.course_id)
    handed = list(
        session.scalars(
            select(Submission)
            .where(Submission.assignment_id == work.id, Submission.inmate_id == inmate.id)
            .order_by(Submission.number.desc())
        )
    )
    return course, work, handed


def hand_in(
    session: Session,
    *,
    actor: Actor,
    inmate: Inmate,
    assignment_id: int,
    text: str,
    instance_path: Path,
    file: IO[bytes] | None,
    filename: str,
    now: dt.datetime,
) -> Submission:
    """The learner hands in work; each hand-in is kept. Refused once accepted."""
    work = session.get(Assignment, assignment_id)
    if work is None:
        raise NotFound()
    studied_course(session, inmate, work.course_id)
    text = text.strip()
    if len(text) > Submission.TEXT_MAX:
        raise LearningError(
            _l("Use at most %(n)d characters.", n=Submission.TEXT_MAX), field="text"
        )
    if file is not None and not work.allow_file:
        file = None
    if not text and file is None:
        raise LearningError(_l("Write your answer before handing it in."), field="text")
    stored = None
    if file is not None:
        stored = media_service.store(
            session,
            actor=actor,
            instance_path=instance_path,
            stream=file,
            filename=filename,
            purpose="submission",
            facility_id=inmate.facility_id,
            staff_id=None,
            now=now,
            families=SUBMISSION_FAMILIES,
        )
    with unit_of_work(session):
        course, enrolment = studied_course(session, inmate, work.course_id)
        enrolment = _locked(session, Enrolment, enrolment.id)
        previous = list(
            session.scalars(
                select(Submission).where(
                    Submission.assignment_id == work.id, Submission.inmate_id == inmate.id
                )
            )
        )
        if any(s.accepted for s in previous):
            raise Conflict(_l("Your work was accepted already."))
        if any(s.marked_at is None for s in previous):
            raise Conflict(_l("Your teacher has not marked your last hand-in yet."))
        row = Submission(
            assignment_id=work.id,
            course_id=course.id,
            inmate_id=inmate.id,
            number=len(previous) + 1,
            text=text,
            media_file_id=stored.id if stored is not None else None,
            submitted_at=now,
        )
        session.add(row)
        _touch(enrolment, now)
        session.flush()
        audit.record(
            session,
            "assignment.hand_in",
            actor=actor,
            obj=row,
            facility_id=inmate.facility_id,
            at=now,
            details={"assignment": work.id, "number": row.number},
        )
    return row


def mark_submission(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    submission: Submission,
    grade: str,
    comment: str,
    accepted: bool,
    now: dt.datetime,
) -> None:
    """The teacher marks a hand-in with a grade and a comment (a mark is never overwritten)."""
    grade = _text(grade, Submission.GRADE_MAX, "grade")
    comment = _text(comment, Submission.COMMENT_MAX, "comment", required=False)
    with unit_of_work(session):
        row = _locked(session, Submission, submission.id)
        if row.course_id != course.id:
            raise NotFound()
        if row.marked_at is not None:
            raise Conflict(_l("This hand-in was marked already."))
        row.grade = grade
        row.comment = comment
        row.accepted = accepted
        row.marked_at = now
        row.marked_by_id = staff.id
        audit.record(
            session,
            "assignment.mark",
            actor=actor,
            obj=row,
            facility_id=course.facility_id,
            at=now,
            details={"accepted": accepted},
        )


# Progress -----------------------------------------------------------------------------


@dataclass
class Progress:
    """One learner's progress in one course."""

    course: Course
    enrolment: Enrolment
    inmate: Inmate
    lessons: int
    read: int
    quizzes: int
    quizzes_passed: int
    quizzes_blocked: int
    assignments: int
    handed_in: int
    accepted: int
    waiting_for_mark: int
    certificate: Certificate | None
    stuck: bool = False

    @property
    def complete(self) -> bool:
        """Every lesson read, every quiz passed, every assignment accepted."""
        return (
            self.read >= self.lessons
            and self.quizzes_passed >= self.quizzes
            and self.accepted >= self.assignments
        )

    @property
    def percent(self) -> int:
        """Share of the parts done."""
        total = self.lessons + self.quizzes + self.assignments
        done = self.read + self.quizzes_passed + self.accepted
        return round(100 * done / total) if total else 0


def course_progress(
    session: Session,
    course: Course,
    *,
    now: dt.datetime,
    inmate_ids: Sequence[int] | None = None,
) -> list[Progress]:
    """Progress of the course's active learners (or of those named), in a fixed number of
    queries."""
    return progress_of(session, [course], now=now, inmate_ids=inmate_ids)


def progress_of(
    session: Session,
    courses: Sequence[Course],
    *,
    now: dt.datetime,
    inmate_ids: Sequence[int] | None = None,
) -> list[Progress]:
    """Progress of the active learners (or of those named) in several courses, in a fixed
    number of queries however many courses, learners and parts there are."""
    by_id = {c.id: c for c in courses}
    cids = list(by_id)
    stmt = (
        select(Enrolment, Inmate)
        .join(Inmate, Inmate.id == Enrolment.inmate_id)
        .where(Enrolment.course_id.in_(cids), Enrolment.status == EnrolmentStatus.ACTIVE)
        .order_by(Inmate.name, Inmate.id)
    )
    if inmate_ids is not None:
        stmt = stmt.where(Enrolment.inmate_id.in_(inmate_ids))
    rows = list(session.execute(stmt).all())
    ids = sorted({i.id for _, i in rows})
    lessons: dict[int, int] = dict(
        session.execute(
            select(Lesson.course_id, func.count(Lesson.id))
            .where(Lesson.course_id.in_(cids))
            .group_by(Lesson.course_id)
        ).all()
    )
    quizzes: dict[int, list[Quiz]] = {}
    for quiz in session.scalars(select(Quiz).where(Quiz.course_id.in_(cids))):
        quizzes.setdefault(quiz.course_id, []).append(quiz)
    assignments: dict[int, int] = dict(
        session.execute(
            select(Assignment.course_id, func.count(Assignment.id))
            .where(Assignment.course_id.in_(cids))
            .group_by(Assignment.course_id)
        ).all()
    )
    read: dict[tuple[int, int], int] = {
        (cid, iid): n
        for cid, iid, n in session.execute(
            select(LessonRead.course_id, LessonRead.inmate_id, func.count(LessonRead.id))
            .where(LessonRead.course_id.in_(cids), LessonRead.inmate_id.in_(ids))
            .group_by(LessonRead.course_id, LessonRead.inmate_id)
        ).all()
    }
    attempts: dict[tuple[int, int], dict[int, list[QuizAttempt]]] = {}
    for a in session.scalars(
        select(QuizAttempt).where(QuizAttempt.course_id.in_(cids), QuizAttempt.inmate_id.in_(ids))
    ):
        attempts.setdefault((a.course_id, a.inmate_id), {}).setdefault(a.quiz_id, []).append(a)
    subs: dict[tuple[int, int], dict[int, list[Submission]]] = {}
    for sub in session.scalars(
        select(Submission).where(Submission.course_id.in_(cids), Submission.inmate_id.in_(ids))
    ):
        subs.setdefault((sub.course_id, sub.inmate_id), {}).setdefault(
            sub.assignment_id, []
        ).append(sub)
    certs = {
        (c.course_id, c.inmate_id): c
        for c in session.scalars(
            select(Certificate).where(
                Certificate.course_id.in_(cids), Certificate.inmate_id.in_(ids)
            )
        )
    }
    out = []
    for enrolment, inmate in rows:
        course = by_id[enrolment.course_id]
        key = (course.id, inmate.id)
        mine = attempts.get(key, {})
        course_quizzes = quizzes.get(course.id, [])
        passed = sum(1 for q in course_quizzes if any(a.passed for a in mine.get(q.id, [])))
        blocked = sum(
            1
            for q in course_quizzes
            if q.max_attempts
            and len(mine.get(q.id, [])) >= q.max_attempts
            and not any(a.passed for a in mine.get(q.id, []))
        )
        work = subs.get(key, {})
        p = Progress(
            course=course,
            enrolment=enrolment,
            inmate=inmate,
            lessons=lessons.get(course.id, 0),
            read=read.get(key, 0),
            quizzes=len(course_quizzes),
            quizzes_passed=passed,
            quizzes_blocked=blocked,
            assignments=assignments.get(course.id, 0),
            handed_in=len(work),
            accepted=sum(1 for v in work.values() if any(x.accepted for x in v)),
            waiting_for_mark=sum(1 for v in work.values() if any(x.marked_at is None for x in v)),
            certificate=certs.get(key),
        )
        last = enrolment.last_activity_at or enrolment.enrolled_at
        idle = last is None or now - last >= STUCK_AFTER
        p.stuck = not p.complete and (idle or blocked > 0)
        out.append(p)
    return out


def learner_progress(session: Session, inmate: Inmate, *, now: dt.datetime) -> list[Progress]:
    """The learner's progress in each course they take (a fixed number of queries)."""
    courses = list(
        session.scalars(
            select(Course)
            .join(Enrolment, Enrolment.course_id == Course.id)
            .where(
                Enrolment.inmate_id == inmate.id,
                Enrolment.status == EnrolmentStatus.ACTIVE,
                Course.status == CourseStatus.PUBLISHED,
            )
        )
    )
    mine = [c for c in courses if can(inmate, Perm.PORTAL_USE, c)]
    rows = progress_of(session, mine, now=now, inmate_ids=[inmate.id])
    return sorted(rows, key=lambda p: (p.course.title, p.course.id))


# Certificates ---------------------------------------------------------------------------


def new_code() -> str:
    """A random verification code such as ``K7QP-3MZD-9XRT``."""
    groups = [
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUP_LEN))
        for _ in range(_CODE_GROUPS)
    ]
    return "-".join(groups)


def normalize_code(raw: str) -> str:
    """A typed code in its stored form (upper case, dashes in place)."""
    letters = re.sub(r"[^A-Za-z0-9]", "", raw).upper()[: _CODE_GROUPS * _CODE_GROUP_LEN]
    return "-".join(
        letters[i : i + _CODE_GROUP_LEN] for i in range(0, len(letters), _CODE_GROUP_LEN)
    )


def issue_certificate(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    course: Course,
    enrolment: Enrolment,
    now: dt.datetime,
) -> Certificate:
    """A certificate for a learner who finished every part of the course (once)."""
    with unit_of_work(session):
        row = _locked(session, Enrolment, enrolment.id)
        if row.course_id != course.id or row.status is not EnrolmentStatus.ACTIVE:
            raise NotFound()
        progress = course_progress(session, course, now=now, inmate_ids=[row.inmate_id])
        if not progress or not progress[0].complete:
            raise NotComplete()
        if progress[0].certificate is not None:
            return progress[0].certificate
        inmate = progress[0].inmate
        cert = Certificate(
            code=new_code(),
            course_id=course.id,
            inmate_id=inmate.id,
            course_title=course.title,
            learner_name=inmate.name,
            facility_id=inmate.facility_id,
            issued_at=now,
            issued_by_id=staff.id,
        )
        session.add(cert)
        row.completed_at = now
        session.flush()
        audit.record(
            session,
            "certificate.issue",
            actor=actor,
            obj=cert,
            at=now,
            details={"course": course.id, "inmate": inmate.booking_number},
        )
    return cert


def check_certificate(
    session: Session, *, actor: Actor, code: str, now: dt.datetime
) -> Certificate | None:
    """The certificate with this code (the check is recorded), or None."""
    normalized = normalize_code(code)
    cert = session.scalars(select(Certificate).where(Certificate.code == normalized)).first()
    with unit_of_work(session):
        audit.record(
            session,
            "certificate.check",
            actor=actor,
            object_type="certificate",
            object_id=cert.id if cert else None,
            outcome="ok" if cert else "failed",
            at=now,
        )
    return cert


def facilities_named(session: Session, ids: Iterable[int]) -> list[Facility]:
    """Facilities by id, by name."""
    return list(
        session.scalars(select(Facility).where(Facility.id.in_(list(ids))).order_by(Facility.name))
    )


def media_refs(body_html: str) -> set[int]:
    """The course media ids a lesson's text refers to."""
    return {int(m) for m in _MEDIA_REF.findall(body_html)}


def move_lesson(
    session: Session, *, actor: Actor, course: Course, lesson: Lesson, up: bool, now: dt.datetime
) -> None:
    """Swap a lesson with the one before (or after) it in its module."""
    with unit_of_work(session):
        _locked(session, Course, course.id)
        siblings = list(
            session.scalars(
                select(Lesson)
                .where(Lesson.module_id == lesson.module_id)
                .order_by(Lesson.position, Lesson.id)
            )
        )
        index = next((i for i, x in enumerate(siblings) if x.id == lesson.id), None)
        if index is None:
            raise NotFound()
        other = index - 1 if up else index + 1
        if not 0 <= other < len(siblings):
            return
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, row in enumerate(siblings, 1):
            row.position = position
        audit.record(
            session,
            "lesson.move",
            actor=actor,
            obj=lesson,
            facility_id=course.facility_id,
            at=now,
            details={"up": up},
        )


def move_module(
    session: Session, *, actor: Actor, course: Course, module: Module, up: bool, now: dt.datetime
) -> None:
    """Swap a module with the one before (or after) it."""
    with unit_of_work(session):
        _locked(session, Course, course.id)
        siblings = list(
            session.scalars(
                select(Module)
                .where(Module.course_id == course.id)
                .order_by(Module.position, Module.id)
            )
        )
        index = next((i for i, x in enumerate(siblings) if x.id == module.id), None)
        if index is None:
            raise NotFound()
        other = index - 1 if up else index + 1
        if not 0 <= other < len(siblings):
            return
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, row in enumerate(siblings, 1):
            row.position = position
        audit.record(
            session,
            "course.module_move",
            actor=actor,
            obj=module,
            facility_id=course.facility_id,
            at=now,
            details={"up": up},
        )


def learner_overview(
    session: Session, staff: Staff, inmate: Inmate, *, now: dt.datetime
) -> list[Progress]:
    """One learner's progress in every course of the staff member's facilities."""
    courses = list(
        session.scalars(
            select(Course)
            .join(Enrolment, Enrolment.course_id == Course.id)
            .where(
                Enrolment.inmate_id == inmate.id,
                Enrolment.status == EnrolmentStatus.ACTIVE,
            )
        )
    )
    mine = [c for c in courses if can(staff, Perm.COURSE_MANAGE, c)]
    rows = progress_of(session, mine, now=now, inmate_ids=[inmate.id])
    return sorted(rows, key=lambda p: (p.course.title, p.course.id))


def revoke_certificate(
    session: Session, *, actor: Actor, certificate: Certificate, now: dt.datetime
) -> None:
    """Withdraw a certificate issued by mistake; a check then says it is not valid."""
    with unit_of_work(session):
        row = _locked(session, Certificate, certificate.id)
        if row.revoked_at is not None:
            return
        row.revoked_at = now
        audit.record(session, "certificate.revoke", actor=actor, obj=row, at=now)


class InUse(Conflict):
    """Learners have used it: deleting it would lose their work or progress."""

    default_message = _l(
        "Learners have already used this, so it stays: deleting it would lose their work."
    )


def delete_part(
    session: Session,
    *,
    actor: Actor,
    course: Course,
    part: Lesson | Quiz | Assignment,
    now: dt.datetime,
) -> None:
    """Delete a lesson, quiz or assignment nobody has read, tried or handed in yet."""
    kind = {Lesson: "lesson", Quiz: "quiz", Assignment: "assignment"}[type(part)]
    with unit_of_work(session):
        _locked(session, Course, course.id)
        row = _locked(session, type(part), part.id)
        if row.course_id != course.id:
            raise NotFound()
        used: Any
        if isinstance(row, Lesson):
            used = select(LessonRead.id).where(LessonRead.lesson_id == row.id)
        elif isinstance(row, Quiz):
            used = select(QuizAttempt.id).where(QuizAttempt.quiz_id == row.id)
        else:
            used = select(Submission.id).where(Submission.assignment_id == row.id)
        if session.scalar(used.limit(1)) is not None:
            raise InUse()
        if isinstance(row, Lesson):
            for item in session.scalars(select(CourseMedia).where(CourseMedia.lesson_id == row.id)):
                item.lesson_id = None
        session.delete(row)
        audit.record(
            session,
            f"{kind}.delete",
            actor=actor,
            object_type=kind,
            object_id=part.id,
            facility_id=course.facility_id,
            at=now,
            details={"title": row.title},
        )


def delete_module(
    session: Session, *, actor: Actor, course: Course, module: Module, now: dt.datetime
) -> None:
    """Delete an empty module."""
    with unit_of_work(session):
        _locked(session, Course, course.id)
        row = _locked(session, Module, module.id)
        if row.course_id != course.id:
            raise NotFound()
        for model in (Lesson, Quiz, Assignment):
            if session.scalar(select(model.id).where(model.module_id == row.id).limit(1)):
                raise Conflict(_l("Move or delete what the module holds first."))
        session.delete(row)
        audit.record(
            session,
            "course.module_delete",
            actor=actor,
            object_type="module",
            object_id=module.id,
            facility_id=course.facility_id,
            at=now,
            details={"title": row.title},
        )
