"""Learning: teachers write and publish courses, enrol learners and mark work; learners
read, watch, take quizzes and hand in work; nobody opens what is not theirs."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import Portal, StaffBrowser, World, audit_actions, fresh
from flask import Flask
from sqlalchemy import event, func, select

from kiosk.clock import FrozenClock
from kiosk.models import (
    Certificate,
    Course,
    CourseLevel,
    CourseMedia,
    Enrolment,
    EnrolmentStatus,
    Inmate,
    Lesson,
    LessonRead,
    QuestionKind,
    QuizAttempt,
    Staff,
    Submission,
)
from kiosk.services import audit as audit_service
from kiosk.services import learning

ACTOR = audit_service.Actor.system("test")
MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
VTT = "WEBVTT\n\n00:00.000 --> 00:02.000\nHej och välkommen\n".encode()


@dataclass
class CourseWorld:
    """A published course at NRB with one module, two lessons, a video and a quiz."""

    course: int
    module: int
    lessons: list[int]
    video: int
    captions: int
    quiz: int
    single: int
    multiple: int
    assignment: int


def _teacher(db: Any, world: World) -> Staff:
    return fresh(db).get(Staff, world.staff["teacher"].id)


def build_course(db: Any, world: World, settings: Any, now: dt.datetime) -> CourseWorld:
    """A published course with content, built through the services."""
    teacher = _teacher(db, world)
    course = learning.create_course(
        db,
        actor=ACTOR,
        staff=teacher,
        title="Svenska för nybörjare",
        summary="Läsa och skriva enkla texter.",
        language="sv",
        level=CourseLevel.INTRO,
        home_facility_id=world.facility,
        offered_at=[world.facility],
        open_for_requests=True,
        now=now,
    )
    module = learning.add_module(db, actor=ACTOR, course=course, title="Del 1", now=now)
    first = learning.save_lesson(
        db,
        actor=ACTOR,
        staff=teacher,
        course=course,
        module=module,
        lesson=None,
        title="Alfabetet",
        body="<h2>ABC</h2><p>Åäö finns också.</p><script>alert(1)</script>",
        now=now,
    )
    second = learning.save_lesson(
        db,
        actor=ACTOR,
        staff=teacher,
        course=course,
        module=module,
        lesson=None,
        title="Ord",
        body="Första stycket.\n\nAndra stycket.",
        now=now,
    )
    video = learning.add_media(
        db,
        actor=ACTOR,
        staff=teacher,
        course=course,
        instance_path=settings.instance_path,
        stream=io.BytesIO(MP4),
        filename="film.mp4",
        title="Filmen",
        alt_text="En lärare visar bokstäverna",
        lesson=first,
        now=now,
    )
    captions = learning.add_media(
        db,
        actor=ACTOR,
        staff=teacher,
        course=course,
        instance_path=settings.instance_path,
        stream=io.BytesIO(VTT),
        filename="film.vtt",
        title="Svenska",
        alt_text="",
        lesson=None,
        now=now,
    )
    learning.update_media(
        db,
        actor=ACTOR,
        course=course,
        item=video,
        title="Filmen",
        alt_text="En lärare visar bokstäverna",
        lesson_id=first.id,
        captions_id=captions.id,
        now=now,
    )
    quiz = learning.save_quiz(
        db,
        actor=ACTOR,
        course=course,
        module=module,
        quiz=None,
        title="Förhör",
        intro="",
        pass_mark=100,
        max_attempts=2,
        now=now,
    )
    single = learning.add_question(
        db,
        actor=ACTOR,
        course=course,
        quiz=quiz,
        text="Vilken bokstav kommer först?",
        kind=QuestionKind.SINGLE,
        feedback="A kommer först.",
        choices=[("A", True), ("B", False), ("C", False)],
        now=now,
    )
    multiple = learning.add_question(
        db,
        actor=ACTOR,
        course=course,
        quiz=quiz,
        text="Vilka är vokaler?",
        kind=QuestionKind.MULTIPLE,
        feedback="A och E är vokaler.",
        choices=[("A", True), ("B", False), ("E", True)],
        now=now,
    )
    work = learning.save_assignment(
        db,
        actor=ACTOR,
        course=course,
        module=module,
        assignment=None,
        title="Skriv om dig själv",
        instructions="Tre meningar.",
        allow_file=True,
        now=now,
    )
    learning.set_published(db, actor=ACTOR, course=course, published=True, now=now)
    return CourseWorld(
        course.id,
        module.id,
        [first.id, second.id],
        video.id,
        captions.id,
        quiz.id,
        single.id,
        multiple.id,
        work.id,
    )


@pytest.fixture
def cw(db: Any, world: World, settings: Any, clock: FrozenClock) -> CourseWorld:
    """The published course."""
    return build_course(db, world, settings, clock.now())


def enrol(db: Any, world: World, cw: CourseWorld, booking: str, now: dt.datetime) -> Enrolment:
    """The teacher enrols one learner."""
    session = fresh(db)
    return learning.enrol(
        session,
        actor=ACTOR,
        staff=session.get(Staff, world.staff["teacher"].id),
        course=session.get(Course, cw.course),
        inmate=session.get(Inmate, world.inmates[booking].id),
        now=now,
    )


def learner(portal: Portal, world: World, booking: str = "2026-0001") -> Portal:
    """Sign a learner in on tablet A1."""
    person = world.inmates[booking]
    assert portal.sign_in(person.booking, person.pin).status_code == 302
    return portal


def teacher(
    admin_app: Flask, clock: FrozenClock, world: World, who: str = "teacher"
) -> StaffBrowser:
    """A signed-in teacher."""
    browser = StaffBrowser(admin_app, clock)
    browser.sign_in(world.staff[who])
    return browser


def choice_ids(db: Any, question_id: int) -> dict[str, int]:
    """Choice text to id."""
    from kiosk.models import Question

    question = fresh(db).get(Question, question_id)
    return {c.text: c.id for c in question.choices}


# Content and cleaning -----------------------------------------------------------------


def test_lesson_text_is_cleaned_when_saved_and_the_source_is_kept_for_editing(
    db: Any, cw: CourseWorld
) -> None:
    lesson = fresh(db).get(Lesson, cw.lessons[0])
    assert "<script" not in lesson.body_html
    assert "alert(1)" not in lesson.body_html
    assert "<h2>ABC</h2>" in lesson.body_html
    assert "Åäö" in lesson.body_html
    assert "<script>" in lesson.body_source
    plain = fresh(db).get(Lesson, cw.lessons[1])
    assert plain.body_html == "<p>Första stycket.</p>\n<p>Andra stycket.</p>"


def test_a_course_without_lessons_cannot_be_published(
    db: Any, world: World, clock: FrozenClock
) -> None:
    course = learning.create_course(
        db,
        actor=ACTOR,
        staff=_teacher(db, world),
        title="Tom",
        summary="",
        language="sv",
        level=CourseLevel.BASIC,
        home_facility_id=world.facility,
        offered_at=[world.facility],
        open_for_requests=False,
        now=clock.now(),
    )
    with pytest.raises(learning.Conflict):
        learning.set_published(db, actor=ACTOR, course=course, published=True, now=clock.now())


# Learner access -----------------------------------------------------------------------


def test_an_enrolled_learner_reads_a_lesson_and_marks_it_read(
    portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    home = portal.get("/learning/").get_data(as_text=True)
    assert "Svenska för nybörjare" in home
    page = portal.get(f"/learning/lessons/{cw.lessons[0]}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<h2>ABC</h2>" in html
    assert "alert(1)" not in html
    assert f'src="/media/course/{cw.video}"' in html
    assert f'<track kind="captions" src="/media/course/{cw.captions}"' in html
    done = portal.post(f"/learning/lessons/{cw.lessons[0]}/read", form_page="/learning/")
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/learning/lessons/{cw.lessons[1]}")
    again = portal.post(f"/learning/lessons/{cw.lessons[0]}/read", form_page="/learning/")
    assert again.status_code == 303
    reads = fresh(db).scalar(select(func.count(LessonRead.id)))
    assert reads == 1, "a double submit marks the lesson once"
    assert "lesson.read" in audit_actions(db)
    assert "You have read this lesson." in portal.get(
        f"/learning/lessons/{cw.lessons[0]}"
    ).get_data(as_text=True)


def test_a_learner_cannot_open_a_course_they_are_not_enrolled_in(
    portal: Portal, world: World, cw: CourseWorld
) -> None:
    learner(portal, world)
    course_page = portal.get(f"/learning/courses/{cw.course}")
    assert course_page.status_code == 200
    assert "Ask to join this course" in course_page.get_data(as_text=True)
    assert "Alfabetet" not in course_page.get_data(as_text=True)
    for path in (
        f"/learning/lessons/{cw.lessons[0]}",
        f"/media/course/{cw.video}",
        f"/learning/quizzes/{cw.quiz}",
        f"/learning/assignments/{cw.assignment}",
    ):
        assert portal.get(path).status_code == 404, path
    refused = portal.post(f"/learning/quizzes/{cw.quiz}", {}, form_page="/learning/")
    assert refused.status_code == 404


def test_a_draft_course_is_invisible_even_to_its_enrolled_learners(
    portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    session = fresh(db)
    learning.set_published(
        session,
        actor=ACTOR,
        course=session.get(Course, cw.course),
        published=False,
        now=clock.now(),
    )
    learner(portal, world)
    assert "Svenska för nybörjare" not in portal.get("/learning/").get_data(as_text=True)
    for path in (
        f"/learning/courses/{cw.course}",
        f"/learning/lessons/{cw.lessons[0]}",
        f"/media/course/{cw.video}",
    ):
        assert portal.get(path).status_code == 404, path


def test_a_course_offered_elsewhere_is_invisible(
    kiosk_app: Flask, db: Any, world: World, cw: CourseWorld
) -> None:
    other = Portal(kiosk_app, world.terminals["other"][1])
    learner(other, world, "2026-0009")
    assert other.get(f"/learning/courses/{cw.course}").status_code == 404
    assert "Svenska för nybörjare" not in other.get("/learning/").get_data(as_text=True)


def test_whether_a_course_is_offered_is_the_same_with_and_without_its_offer_rows_loaded(
    db: Any, world: World, cw: CourseWorld
) -> None:
    from sqlalchemy.orm import Session, lazyload, selectinload

    from kiosk.security.policy import Perm, can

    here = fresh(db).get(Inmate, world.inmates["2026-0001"].id)
    elsewhere = fresh(db).get(Inmate, world.inmates["2026-0009"].id)
    for option, loaded in (
        (lazyload(Course.offer_rows), False),
        (selectinload(Course.offer_rows), True),
    ):
        with Session(db.get_bind()) as session:
            course = session.get(Course, cw.course, options=[option])
            assert course is not None
            assert ("offer_rows" in course.__dict__) is loaded
            assert can(here, Perm.PORTAL_USE, course), "offered at the learner's facility"
            assert not can(elsewhere, Perm.PORTAL_USE, course), "not offered at the other one"
            assert course.is_offered_at(world.facility)
            assert not course.is_offered_at(world.other_facility)


def test_a_video_is_streamed_with_range_requests_to_an_enrolled_learner(
    portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    part = portal.client.get(f"/media/course/{cw.video}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.get_data() == MP4[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(MP4)}"
    assert part.mimetype == "video/mp4"
    assert part.headers["X-Content-Type-Options"] == "nosniff"
    captions = portal.get(f"/media/course/{cw.captions}")
    assert captions.mimetype == "text/vtt"
    assert "Hej och välkommen" in captions.get_data(as_text=True)


def test_reading_settings_change_spacing_and_font_of_lesson_text(
    portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    path = f"/learning/lessons/{cw.lessons[0]}"
    portal.post("/learning/reading", {"font": "dyslexic", "next": path}, form_page=path)
    response = portal.post("/learning/reading", {"spacing": "wide", "next": path}, form_page=path)
    assert response.headers["Location"].endswith(path)
    html = portal.get(path).get_data(as_text=True)
    assert "lesson--wide" in html
    assert "lesson--font-dyslexic" in html
    evil = portal.post(
        "/learning/reading", {"font": "x", "next": "https://evil.example/"}, form_page=path
    )
    assert evil.headers["Location"] == "/learning/"


def test_the_lesson_page_needs_the_same_number_of_queries_however_big_the_course(
    portal: Portal,
    kiosk_app: Flask,
    db: Any,
    world: World,
    cw: CourseWorld,
    clock: FrozenClock,
    settings: Any,
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    engine = kiosk_app.extensions["kiosk"].database.engine
    counts: list[int] = []
    offers: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counts[-1] += 1
        if "course_facilities" in statement:
            offers.append(statement)

    def measure() -> int:
        counts.append(0)
        offers.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert portal.get(f"/learning/lessons/{cw.lessons[0]}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return counts[-1]

    measure()  # the first page of a session also renews it
    small = measure()
    # The policy asks twice (may see the course, may study it); the course's offer at the
    # learner's facility is read once.
    assert len(offers) == 1, offers
    session = fresh(db)
    course = session.get(Course, cw.course)
    module = learning.add_module(
        session, actor=ACTOR, course=course, title="Del 2", now=clock.now()
    )
    for n in range(15):
        learning.save_lesson(
            session,
            actor=ACTOR,
            staff=_teacher(session, world),
            course=course,
            module=module,
            lesson=None,
            title=f"Extra {n}",
            body="Text",
            now=clock.now(),
        )
        learning.add_media(
            session,
            actor=ACTOR,
            staff=_teacher(session, world),
            course=course,
            instance_path=settings.instance_path,
            stream=io.BytesIO(PNG + bytes([n])),
            filename="p.png",
            title=f"Bild {n}",
            alt_text="bild",
            lesson=session.get(Lesson, cw.lessons[0]),
            now=clock.now(),
        )
    big = measure()
    assert big == small, (small, big)


# Enrolment ----------------------------------------------------------------------------


def test_a_learner_asks_to_join_and_the_teacher_accepts(
    portal: Portal, admin_app: Flask, clock: FrozenClock, db: Any, world: World, cw: CourseWorld
) -> None:
    learner(portal, world)
    asked = portal.post(f"/learning/courses/{cw.course}/join", form_page="/learning/")
    assert asked.status_code == 303
    twice = portal.post(f"/learning/courses/{cw.course}/join", form_page="/learning/")
    assert twice.status_code == 303
    rows = fresh(db).scalars(select(Enrolment)).all()
    assert [r.status for r in rows] == [EnrolmentStatus.REQUESTED]
    assert portal.get(f"/learning/lessons/{cw.lessons[0]}").status_code == 404
    browser = teacher(admin_app, clock, world)
    page = browser.get(f"/courses/{cw.course}/learners").get_data(as_text=True)
    assert "Asking to join" in page
    assert "Inmate 1" in page
    accepted = browser.post(
        f"/courses/{cw.course}/enrolments/{rows[0].id}/decide",
        {"decision": "accept"},
        f"/courses/{cw.course}/learners",
    )
    assert accepted.status_code == 303
    assert portal.get(f"/learning/lessons/{cw.lessons[0]}").status_code == 200
    assert {"course.join_request", "course.join_accept"} <= set(audit_actions(db))


def test_a_teacher_enrols_a_whole_unit_once(
    admin_app: Flask, clock: FrozenClock, db: Any, world: World, cw: CourseWorld
) -> None:
    browser = teacher(admin_app, clock, world)
    path = f"/courses/{cw.course}/learners"
    first = browser.post(f"{path}/class", {"unit": str(world.unit_a)}, path)
    assert first.status_code == 303
    again = browser.post(f"{path}/class", {"unit": str(world.unit_a)}, path)
    assert again.status_code == 303
    active = fresh(db).scalars(select(Enrolment.inmate_id)).all()
    assert sorted(active) == sorted([world.inmates["2026-0001"].id, world.inmates["2026-0002"].id])


def test_enrolling_an_unknown_or_foreign_booking_number_says_so_on_the_page(
    admin_app: Flask, clock: FrozenClock, world: World, cw: CourseWorld
) -> None:
    browser = teacher(admin_app, clock, world)
    path = f"/courses/{cw.course}/learners"
    for booking in ("2026-9999", "2026-0009"):
        response = browser.post(f"{path}/enrol", {"booking_number": booking}, path)
        assert response.status_code == 422
        assert "No inmate with this booking number" in response.get_data(as_text=True)


# Quizzes ------------------------------------------------------------------------------


def test_quiz_marking_is_right_for_single_and_multiple_choice(
    db: Any, world: World, cw: CourseWorld
) -> None:
    from kiosk.models import Question

    session = fresh(db)
    single = session.get(Question, cw.single)
    multiple = session.get(Question, cw.multiple)
    s = {c.text: c.id for c in single.choices}
    m = {c.text: c.id for c in multiple.choices}
    assert learning.is_right(single, [s["A"]])
    assert not learning.is_right(single, [s["B"]])
    assert not learning.is_right(single, [s["A"], s["B"]]), "two answers to a one-answer question"
    assert not learning.is_right(single, [])
    assert learning.is_right(multiple, [m["A"], m["E"]])
    assert not learning.is_right(multiple, [m["A"]]), "half the right answers is wrong"
    assert not learning.is_right(multiple, [m["A"], m["E"], m["B"]]), "a wrong one too is wrong"


def test_a_learner_passes_a_quiz_sees_feedback_and_has_attempts_limited(
    portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    s = choice_ids(db, cw.single)
    m = choice_ids(db, cw.multiple)
    path = f"/learning/quizzes/{cw.quiz}"
    incomplete = portal.post(path, {f"q{cw.single}": str(s["A"])}, form_page=path)
    assert incomplete.status_code == 422
    assert "Answer every question" in incomplete.get_data(as_text=True)
    wrong = portal.post(
        path, {f"q{cw.single}": str(s["A"]), f"q{cw.multiple}": str(m["A"])}, form_page=path
    )
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 200
    assert "1 of 2 right (50%)" in html
    assert "Not passed yet" in html
    assert "A och E är vokaler." in html
    right = portal.client.post(
        path,
        data={
            "csrf_token": portal.token(path),
            f"q{cw.single}": str(s["A"]),
            f"q{cw.multiple}": [str(m["A"]), str(m["E"])],
        },
    )
    assert "2 of 2 right (100%)" in right.get_data(as_text=True)
    assert "Passed" in right.get_data(as_text=True)
    third = portal.client.post(
        path,
        data={
            "csrf_token": portal.token(path),
            f"q{cw.single}": str(s["A"]),
            f"q{cw.multiple}": [str(m["A"]), str(m["E"])],
        },
    )
    assert third.status_code == 409
    assert "used all your attempts" in third.get_data(as_text=True)
    attempts = fresh(db).scalars(select(QuizAttempt).order_by(QuizAttempt.number)).all()
    assert [(a.number, a.percent, a.passed) for a in attempts] == [(1, 50, False), (2, 100, True)]


def test_choices_of_another_question_do_not_count(
    db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    session = fresh(db)
    m = choice_ids(db, cw.multiple)
    attempt = learning.submit_attempt(
        session,
        actor=ACTOR,
        inmate=session.get(Inmate, world.inmates["2026-0001"].id),
        quiz_id=cw.quiz,
        answers={cw.single: [m["A"]], cw.multiple: [m["A"], m["E"], 999999]},
        now=clock.now(),
    )
    assert attempt.score == 1


# Assignments, progress, certificates ----------------------------------------------------


def test_a_learner_hands_in_work_and_the_teacher_marks_it(
    portal: Portal, admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    path = f"/learning/assignments/{cw.assignment}"
    empty = portal.post(path, {"text": "  "}, form_page=path)
    assert empty.status_code == 422
    assert "Write your answer" in empty.get_data(as_text=True)
    handed = portal.client.post(
        path,
        data={
            "csrf_token": portal.token(path),
            "text": "Jag heter Alex.",
            "file": (io.BytesIO(b"<html><script>x</script>"), "work.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert handed.status_code == 415, "an HTML file named .pdf is refused"
    handed = portal.post(path, {"text": "Jag heter Alex."}, form_page=path)
    assert handed.status_code == 303
    again = portal.post(path, {"text": "Igen"}, form_page=path)
    assert again.status_code == 409
    sub = fresh(db).scalars(select(Submission)).one()
    browser = teacher(admin_app, clock, world)
    listing = browser.get(f"/courses/{cw.course}/assignments/{cw.assignment}")
    assert "Not marked yet" in listing.get_data(as_text=True)
    mark_path = f"/courses/{cw.course}/submissions/{sub.id}"
    no_grade = browser.post(mark_path, {"grade": "", "outcome": "accept"}, mark_path)
    assert no_grade.status_code == 422
    marked = browser.post(
        mark_path, {"grade": "G", "comment": "Bra skrivet!", "outcome": "accept"}, mark_path
    )
    assert marked.status_code == 303
    seen = portal.get(path).get_data(as_text=True)
    assert "Bra skrivet!" in seen
    assert "Accepted" in seen
    twice = browser.post(mark_path, {"grade": "VG", "outcome": "accept"}, mark_path)
    assert twice.status_code == 409
    assert fresh(db).get(Submission, sub.id).grade == "G"


def test_finishing_everything_earns_a_certificate_that_staff_can_check(
    portal: Portal, admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrolment = enrol(db, world, cw, "2026-0001", clock.now())
    session = fresh(db)
    inmate = session.get(Inmate, world.inmates["2026-0001"].id)
    browser = teacher(admin_app, clock, world)
    early = browser.post(
        f"/courses/{cw.course}/enrolments/{enrolment.id}/certificate",
        {},
        f"/courses/{cw.course}/progress",
    )
    assert early.status_code == 303
    assert fresh(db).scalar(select(func.count(Certificate.id))) == 0
    for lesson_id in cw.lessons:
        learning.mark_read(
            session, actor=ACTOR, inmate=inmate, lesson_id=lesson_id, now=clock.now()
        )
    s = choice_ids(db, cw.single)
    m = choice_ids(db, cw.multiple)
    learning.submit_attempt(
        session,
        actor=ACTOR,
        inmate=inmate,
        quiz_id=cw.quiz,
        answers={cw.single: [s["A"]], cw.multiple: [m["A"], m["E"]]},
        now=clock.now(),
    )
    sub = learning.hand_in(
        session,
        actor=ACTOR,
        inmate=inmate,
        assignment_id=cw.assignment,
        text="Klart",
        instance_path=None,  # type: ignore[arg-type]
        file=None,
        filename="",
        now=clock.now(),
    )
    learning.mark_submission(
        session,
        actor=ACTOR,
        staff=_teacher(session, world),
        course=session.get(Course, cw.course),
        submission=sub,
        grade="G",
        comment="",
        accepted=True,
        now=clock.now(),
    )
    progress = browser.get(f"/courses/{cw.course}/progress").get_data(as_text=True)
    assert "Issue certificate" in progress
    issued = browser.post(
        f"/courses/{cw.course}/enrolments/{enrolment.id}/certificate",
        {},
        f"/courses/{cw.course}/progress",
    )
    assert issued.status_code == 303
    cert = fresh(db).scalars(select(Certificate)).one()
    assert cert.learner_name == "Inmate 1"
    checked = browser.get(f"/certificates/check?code={cert.code.lower().replace('-', ' ')}")
    assert checked.status_code == 200
    assert "This certificate is real." in checked.get_data(as_text=True)
    assert "Svenska för nybörjare" in checked.get_data(as_text=True)
    forged = browser.get("/certificates/check?code=AAAA-BBBB-CCCC")
    assert forged.status_code == 404
    assert "No valid certificate has this code." in forged.get_data(as_text=True)
    assert cert.code in portal_progress(portal, world)
    assert "certificate.check" in audit_actions(db)
    mine = portal.get(f"/learning/certificates/{cert.id}")
    assert mine.status_code == 200
    assert cert.code in mine.get_data(as_text=True)
    withdrawn = browser.post(f"/certificates/{cert.id}/revoke", {}, f"/certificates/{cert.id}")
    assert withdrawn.status_code == 303
    after = browser.get(f"/certificates/check?code={cert.code}")
    assert "No valid certificate has this code." in after.get_data(as_text=True)
    assert "certificate.revoke" in audit_actions(db)
    assert portal.get(f"/learning/certificates/{cert.id}").status_code == 404


def portal_progress(portal: Portal, world: World) -> str:
    """The learner's progress page."""
    learner(portal, world)
    return portal.get("/learning/progress").get_data(as_text=True)


def test_the_teacher_sees_who_is_stuck(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    enrol(db, world, cw, "2026-0002", clock.now())
    session = fresh(db)
    clock.advance(days=13)
    learning.mark_read(
        session,
        actor=ACTOR,
        inmate=session.get(Inmate, world.inmates["2026-0002"].id),
        lesson_id=cw.lessons[0],
        now=clock.now(),
    )
    clock.advance(days=2)
    rows = learning.course_progress(fresh(db), fresh(db).get(Course, cw.course), now=clock.now())
    stuck = {r.inmate.booking_number: r.stuck for r in rows}
    assert stuck == {"2026-0001": True, "2026-0002": False}
    browser = teacher(admin_app, clock, world)
    page = browser.get(f"/courses/{cw.course}/progress?stuck=1").get_data(as_text=True)
    assert "2026-0001" in page
    assert "2026-0002" not in page


# Teachers' pages ----------------------------------------------------------------------


def test_a_teacher_writes_a_lesson_previews_it_and_the_preview_is_the_learners_view(
    admin_app: Flask, portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    path = f"/courses/{cw.course}/modules/{cw.module}/lessons/new"
    body = (
        '<p onclick="x()">Hej <a href="javascript:alert(1)">länk</a></p>'
        '<img src="/media/course/1" alt="Bild">'
    )
    preview = browser.post(path, {"title": "Ny", "body": body, "action": "preview"}, path)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "onclick" not in html.split("Preview: this is what")[1]
    assert "javascript:" not in html.split("Preview: this is what")[1]
    assert fresh(db).scalar(select(func.count(Lesson.id))) == 2, "a preview saves nothing"
    saved = browser.post(path, {"title": "Ny", "body": body, "action": "save"}, path)
    assert saved.status_code == 303
    lesson = fresh(db).scalars(select(Lesson).where(Lesson.title == "Ny")).one()
    assert lesson.body_html == '<p>Hej <a>länk</a></p><img src="/media/course/1" alt="Bild">'
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    staff_view = browser.get(f"/courses/{cw.course}/lessons/{lesson.id}/preview").get_data(
        as_text=True
    )
    learner_view = portal.get(f"/learning/lessons/{lesson.id}").get_data(as_text=True)

    def article(page: str) -> str:
        return page[page.index("<article") : page.index("</article>")]

    assert article(staff_view) == article(learner_view)


def test_a_disguised_upload_is_refused_on_the_teachers_page(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    path = f"/courses/{cw.course}/media"
    for name, data in (
        ("handout.pdf", b"<!doctype html><script>alert(1)</script>"),
        ("logo.pdf", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ):
        response = browser.client.post(
            path,
            data={
                "csrf_token": browser.token(path),
                "title": "X",
                "alt_text": "",
                "lesson": "0",
                "file": (io.BytesIO(data), name),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 415
        assert "This kind of file cannot be uploaded" in response.get_data(as_text=True)
    assert fresh(db).scalar(select(func.count(CourseMedia.id))) == 2
    ok = browser.client.post(
        path,
        data={
            "csrf_token": browser.token(path),
            "title": "Bild",
            "alt_text": "En bild",
            "lesson": str(cw.lessons[1]),
            "file": (io.BytesIO(PNG), "bild.png"),
        },
        content_type="multipart/form-data",
    )
    assert ok.status_code == 303
    item = fresh(db).scalars(select(CourseMedia).order_by(CourseMedia.id.desc())).first()
    assert item.file.content_type == "image/png"
    assert item.lesson_id == cw.lessons[1]


def test_a_teacher_of_another_facility_gets_404_for_our_course(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock, kiosk_app: Flask
) -> None:
    from conftest import add_staff

    from kiosk.models import Role

    state = kiosk_app.extensions["kiosk"]
    with kiosk_app.app_context():
        world.staff["oteacher"] = add_staff(
            fresh(db), state, "oteacher", [Role.TEACHER], [world.other_facility], clock.now()
        )
    browser = teacher(admin_app, clock, world, "oteacher")
    for path in (
        f"/courses/{cw.course}",
        f"/courses/{cw.course}/learners",
        f"/courses/{cw.course}/lessons/{cw.lessons[0]}",
        f"/courses/{cw.course}/progress",
        f"/media/course/{cw.video}",
    ):
        assert browser.get(path).status_code == 404, path
    assert "Svenska för nybörjare" not in browser.get("/courses/").get_data(as_text=True)


def test_a_teacher_creates_a_course_adds_a_module_and_publishes(
    admin_app: Flask, db: Any, world: World, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    bad = browser.post(
        "/courses/new",
        {"title": "", "language": "sv", "level": "basic", "home": str(world.facility)},
        "/courses/new",
    )
    assert bad.status_code == 422
    created = browser.post(
        "/courses/new",
        {
            "title": "Matematik",
            "summary": "Tal",
            "language": "sv",
            "level": "basic",
            "home": str(world.facility),
            "facilities": [str(world.facility)],
            "open_for_requests": "y",
        },
        "/courses/new",
    )
    assert created.status_code == 303
    course = fresh(db).scalars(select(Course)).one()
    assert course.status.value == "draft"
    page = f"/courses/{course.id}"
    browser.post(f"{page}/modules", {"title": "Del 1"}, page)
    refused = browser.post(f"{page}/publish", {"publish": "1"}, page)
    assert refused.status_code == 303
    assert fresh(db).get(Course, course.id).status.value == "draft"
    assert "Write at least one lesson" in browser.get(page).get_data(as_text=True)


# Concurrency (PostgreSQL) -------------------------------------------------------------


@pytest.mark.postgres_only
def test_simultaneous_quiz_attempts_never_pass_the_attempt_limit(
    kiosk_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    import threading

    enrol(db, world, cw, "2026-0001", clock.now())
    s = choice_ids(db, cw.single)
    database = kiosk_app.extensions["kiosk"].database
    threads_n = 6
    barrier = threading.Barrier(threads_n)
    outcomes: list[str] = []

    def attempt() -> None:
        with database.session() as session:
            inmate = session.get(Inmate, world.inmates["2026-0001"].id)
            barrier.wait()
            try:
                learning.submit_attempt(
                    session,
                    actor=ACTOR,
                    inmate=inmate,
                    quiz_id=cw.quiz,
                    answers={cw.single: [s["B"]], cw.multiple: []},
                    now=clock.now(),
                )
            except learning.AttemptsUsedUp:
                outcomes.append("refused")
            else:
                outcomes.append("marked")

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["marked"] * 2 + ["refused"] * 4
    numbers = fresh(db).scalars(select(QuizAttempt.number).order_by(QuizAttempt.number)).all()
    assert numbers == [1, 2]


@pytest.mark.postgres_only
def test_simultaneous_requests_to_join_make_one_enrolment(
    kiosk_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    import threading

    database = kiosk_app.extensions["kiosk"].database
    barrier = threading.Barrier(4)

    def ask() -> None:
        with database.session() as session:
            inmate = session.get(Inmate, world.inmates["2026-0002"].id)
            barrier.wait()
            learning.request_to_join(
                session, actor=ACTOR, inmate=inmate, course_id=cw.course, now=clock.now()
            )

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = fresh(db).scalars(select(Enrolment)).all()
    assert [r.status for r in rows] == [EnrolmentStatus.REQUESTED]


def test_a_teacher_moves_a_lesson_and_learners_read_in_the_new_order(
    admin_app: Flask, portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    page = f"/courses/{cw.course}"
    moved = browser.post(f"{page}/lessons/{cw.lessons[1]}/move", {"direction": "up"}, page)
    assert moved.status_code == 303
    titles = fresh(db).scalars(select(Lesson.title).order_by(Lesson.position)).all()
    assert titles == ["Ord", "Alfabetet"]
    assert "lesson.move" in audit_actions(db)
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    first = portal.get(f"/learning/lessons/{cw.lessons[1]}").get_data(as_text=True)
    assert 'rel="prev"' not in first
    second = portal.get(f"/learning/lessons/{cw.lessons[0]}").get_data(as_text=True)
    assert f'rel="prev" href="/learning/lessons/{cw.lessons[1]}"' in second


def test_the_overview_shows_teachers_requests_to_join_and_work_to_mark(
    admin_app: Flask, portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    learner(portal, world, "2026-0002")
    portal.post(f"/learning/courses/{cw.course}/join", form_page="/learning/")
    browser = teacher(admin_app, clock, world)
    html = browser.get("/").get_data(as_text=True)
    assert "learners asking to join a course" in html
    assert "hand-ins waiting for a mark" in html


def test_the_lesson_editor_works_as_a_plain_textarea_and_offers_a_toolbar_to_scripts(
    admin_app: Flask, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    html = browser.get(f"/courses/{cw.course}/lessons/{cw.lessons[0]}").get_data(as_text=True)
    assert re.search(r'<textarea [^>]*class="input input--editor"', html)
    assert "&lt;h2&gt;ABC&lt;/h2&gt;" in html, "the teacher edits what they typed"
    assert 'class="editor-toolbar stack" role="toolbar"' in html
    assert " hidden>" in html.split('class="editor-toolbar')[1].split("\n")[0]
    assert '<script src="/static/js/lesson-editor.js"></script>' in html


def test_a_teacher_sees_one_learners_progress_in_every_course(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    browser = teacher(admin_app, clock, world)
    page = browser.get(f"/courses/learner/{world.inmates['2026-0001'].id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Svenska för nybörjare" in html
    assert "0 / 2" in html
    assert "No attempts yet." in html
    session = fresh(db)
    s = choice_ids(db, cw.single)
    learning.submit_attempt(
        session,
        actor=ACTOR,
        inmate=session.get(Inmate, world.inmates["2026-0001"].id),
        quiz_id=cw.quiz,
        answers={cw.single: [s["A"]], cw.multiple: []},
        now=clock.now(),
    )
    again = browser.get(f"/courses/learner/{world.inmates['2026-0001'].id}").get_data(as_text=True)
    assert "1 of 2 right (50%)." in again
    foreign = browser.get(f"/courses/learner/{world.inmates['2026-0009'].id}")
    assert foreign.status_code == 404


def test_a_course_is_offered_only_where_its_teacher_works(
    db: Any, world: World, clock: FrozenClock
) -> None:
    with pytest.raises(learning.LearningError) as refused:
        learning.create_course(
            db,
            actor=ACTOR,
            staff=_teacher(db, world),
            title="Utanför",
            summary="",
            language="sv",
            level=CourseLevel.BASIC,
            home_facility_id=world.facility,
            offered_at=[world.facility, world.other_facility],
            open_for_requests=True,
            now=clock.now(),
        )
    assert refused.value.field == "facilities"
    assert fresh(db).scalar(select(func.count(Course.id))) == 0


def test_absurd_quiz_answers_are_ignored_not_a_server_error(
    portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    path = f"/learning/quizzes/{cw.quiz}"
    response = portal.post(
        path, {f"q{cw.single}": "9" * 5000, f"q{cw.multiple}": "-1"}, form_page=path
    )
    assert response.status_code == 422
    assert "Answer every question" in response.get_data(as_text=True)


def test_captions_are_read_from_their_bytes_and_must_be_text(
    db: Any, world: World, cw: CourseWorld, settings: Any, clock: FrozenClock
) -> None:
    from kiosk.services import media as media_service

    assert media_service.sniff(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHej").family == "captions"
    assert media_service.sniff(b"\xef\xbb\xbfWEBVTT - med BOM\n").family == "captions"
    assert media_service.sniff(b"WEBVTTX<html><script>alert(1)</script>") is None
    assert media_service.sniff(b"<html>WEBVTT") is None
    session = fresh(db)
    with pytest.raises(media_service.UnsupportedFile):
        learning.add_media(
            session,
            actor=ACTOR,
            staff=_teacher(session, world),
            course=session.get(Course, cw.course),
            instance_path=settings.instance_path,
            stream=io.BytesIO(b"WEBVTT\n\n00:00.000 --> 00:01.000\n\xff\xfe not utf-8"),
            filename="bad.vtt",
            title="Trasig",
            alt_text="",
            lesson=None,
            now=clock.now(),
        )
    from kiosk.models import MediaFile

    kept = fresh(db).scalars(select(MediaFile.content_type)).all()
    assert sorted(kept) == ["text/vtt", "video/mp4"], "the refused captions left no row"


def test_the_progress_page_needs_the_same_number_of_queries_however_many_courses(
    portal: Portal,
    kiosk_app: Flask,
    db: Any,
    world: World,
    cw: CourseWorld,
    clock: FrozenClock,
    settings: Any,
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    engine = kiosk_app.extensions["kiosk"].database.engine
    counts: list[int] = []

    def count(*_args: Any) -> None:
        counts[-1] += 1

    def measure() -> int:
        counts.append(0)
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert portal.get("/learning/progress").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return counts[-1]

    measure()  # the first page of a session also renews it
    one = measure()
    for _ in range(3):
        more = build_course(db, world, settings, clock.now())
        enrol(db, world, more, "2026-0001", clock.now())
    four = measure()
    assert four == one, (one, four)
    assert (
        portal.get("/learning/progress").get_data(as_text=True).count("Lessons read: 0 of 2") == 4
    )


def test_a_teacher_deletes_only_what_no_learner_has_used(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    enrol(db, world, cw, "2026-0001", clock.now())
    session = fresh(db)
    learning.mark_read(
        session,
        actor=ACTOR,
        inmate=session.get(Inmate, world.inmates["2026-0001"].id),
        lesson_id=cw.lessons[0],
        now=clock.now(),
    )
    browser = teacher(admin_app, clock, world)
    page = f"/courses/{cw.course}"
    kept = browser.post(f"{page}/lesson/{cw.lessons[0]}/delete", {}, page)
    assert kept.status_code == 303
    assert "Learners have already used this" in browser.get(page).get_data(as_text=True)
    assert fresh(db).get(Lesson, cw.lessons[0]) is not None
    gone = browser.post(f"{page}/lesson/{cw.lessons[1]}/delete", {}, page)
    assert gone.status_code == 303
    assert fresh(db).get(Lesson, cw.lessons[1]) is None
    assert browser.post(f"{page}/quiz/{cw.quiz}/delete", {}, page).status_code == 303
    from kiosk.models import Quiz

    assert fresh(db).get(Quiz, cw.quiz) is None
    full = browser.post(f"{page}/modules/{cw.module}/delete", {}, page)
    assert full.status_code == 303
    assert "Move or delete what the module holds first." in browser.get(page).get_data(as_text=True)
    assert {"lesson.delete", "quiz.delete"} <= set(audit_actions(db))


def test_files_larger_than_ordinary_forms_can_be_uploaded_and_handed_in(
    admin_app: Flask, portal: Portal, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    path = f"/courses/{cw.course}/media"
    big = PNG + b"\x00" * (3 * 1024 * 1024)
    uploaded = browser.client.post(
        path,
        data={
            "csrf_token": browser.token(path),
            "title": "Stor bild",
            "alt_text": "",
            "lesson": "0",
            "file": (io.BytesIO(big), "stor.png"),
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303, "a 3 MB picture passes the 1 MB limit of forms"
    too_big = browser.client.post(
        path,
        data={
            "csrf_token": browser.token(path),
            "title": "För stor",
            "alt_text": "",
            "lesson": "0",
            "file": (io.BytesIO(PNG + b"\x00" * (9 * 1024 * 1024)), "stor.png"),
        },
        content_type="multipart/form-data",
    )
    assert too_big.status_code == 413
    assert "too large" in too_big.get_data(as_text=True)
    enrol(db, world, cw, "2026-0001", clock.now())
    learner(portal, world)
    work = f"/learning/assignments/{cw.assignment}"
    handed = portal.client.post(
        work,
        data={
            "csrf_token": portal.token(work),
            "text": "Se filen.",
            "file": (io.BytesIO(b"%PDF-1.7\n" + b"\x00" * (2 * 1024 * 1024)), "arbete.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert handed.status_code == 303
    sub = fresh(db).scalars(select(Submission)).one()
    assert sub.file.content_type == "application/pdf"
    mine = portal.get(f"/learning/submissions/{sub.id}/file")
    assert mine.status_code == 200
    assert mine.headers["Content-Disposition"].startswith("attachment;")
