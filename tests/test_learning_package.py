"""Course packages: a course exported here imports elsewhere whole; a hostile package is
refused whole and leaves no course behind."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from conftest import World, audit_actions, fresh
from flask import Flask
from sqlalchemy import func, select
from test_learning import CourseWorld, build_course, teacher

from kiosk.clock import FrozenClock
from kiosk.models import Course, CourseMedia, Lesson, Question, Quiz, Staff
from kiosk.services import course_package
from kiosk.services import media as media_service
from kiosk.services.audit import Actor

ACTOR = Actor.system("test")


@pytest.fixture
def cw(db: Any, world: World, settings: Any, clock: FrozenClock) -> CourseWorld:
    """The published course of test_learning."""
    return build_course(db, world, settings, clock.now())


def _export(db: Any, cw: CourseWorld, settings: Any, clock: FrozenClock) -> bytes:
    session = fresh(db)
    with course_package.export_course(
        session,
        actor=ACTOR,
        course=session.get(Course, cw.course),
        instance_path=settings.instance_path,
        now=clock.now(),
    ) as out:
        return out.read()


def _import(db: Any, world: World, data: bytes, settings: Any, clock: FrozenClock) -> Course:
    session = fresh(db)
    return course_package.import_course(
        session,
        actor=ACTOR,
        staff=session.get(Staff, world.staff["teacher"].id),
        home_facility_id=world.facility,
        stream=io.BytesIO(data),
        instance_path=settings.instance_path,
        now=clock.now(),
    )


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def _manifest(**overrides: Any) -> bytes:
    manifest: dict[str, Any] = {
        "format": "kiosk-course",
        "version": 1,
        "course": {"title": "Paket", "summary": "", "language": "sv", "level": "basic"},
        "modules": [{"title": "Del", "lessons": [{"title": "L", "body": "<p>Hej</p>"}]}],
        "media": [],
    }
    manifest.update(overrides)
    return json.dumps(manifest).encode()


def test_an_exported_course_imports_as_a_draft_with_its_content_and_files(
    db: Any, world: World, cw: CourseWorld, settings: Any, clock: FrozenClock
) -> None:
    session = fresh(db)
    lesson = session.get(Lesson, cw.lessons[1])
    from kiosk.services import learning

    learning.save_lesson(
        session,
        actor=ACTOR,
        staff=session.get(Staff, world.staff["teacher"].id),
        course=session.get(Course, cw.course),
        module=session.get(learning.Module, lesson.module_id),
        lesson=lesson,
        title=lesson.title,
        body=f'<p>Se filmen:</p><img src="/media/course/{cw.video}" alt="stillbild">',
        now=clock.now(),
    )
    data = _export(db, cw, settings, clock)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sorted(z.namelist()) == ["manifest.json", "media/m1", "media/m2"]
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["course"]["title"] == "Svenska för nybörjare"
    assert "/media/package/m1" in manifest["modules"][0]["lessons"][1]["body"]
    copy = _import(db, world, data, settings, clock)
    session = fresh(db)
    copy = session.get(Course, copy.id)
    assert copy.status.value == "draft"
    assert copy.title == "Svenska för nybörjare"
    lessons = session.scalars(
        select(Lesson).where(Lesson.course_id == copy.id).order_by(Lesson.position)
    ).all()
    assert [x.title for x in lessons] == ["Alfabetet", "Ord"]
    assert "<script" not in lessons[0].body_html
    items = session.scalars(select(CourseMedia).where(CourseMedia.course_id == copy.id)).all()
    video = next(m for m in items if m.file.content_type == "video/mp4")
    captions = next(m for m in items if m.file.content_type == "text/vtt")
    assert video.lesson_id == lessons[0].id
    assert video.captions_id == captions.id
    assert f'src="/media/course/{video.id}"' in lessons[1].body_html
    quiz = session.scalars(select(Quiz).where(Quiz.course_id == copy.id)).one()
    questions = session.scalars(select(Question).where(Question.quiz_id == quiz.id)).all()
    assert [len(q.choices) for q in questions] == [3, 3]
    assert (quiz.pass_mark, quiz.max_attempts) == (100, 2)
    assert {"course.export", "course.import"} <= set(audit_actions(db))


HOSTILE = {
    "not a zip": b"%PDF-1.7 not a zip at all",
    "no manifest": _zip({"media/m1": b"\x89PNG\r\n\x1a\n"}),
    "path traversal": _zip({"manifest.json": _manifest(), "../../evil.py": b"print(1)"}),
    "absolute path": _zip({"manifest.json": _manifest(), "/etc/cron.d/x": b"* * * * *"}),
    "nested media path": _zip({"manifest.json": _manifest(), "media/../m1": b"x"}),
    "another program": _zip({"manifest.json": _manifest(format="other")}),
    "manifest is not json": _zip({"manifest.json": b"{not json"}),
    "wrong field type": _zip(
        {"manifest.json": _manifest(course={"title": 5, "language": "sv", "level": "basic"})}
    ),
    "html disguised as a picture": _zip(
        {
            "manifest.json": _manifest(
                media=[{"key": "m1", "title": "x", "name": "x.png", "lesson": [0, 0]}]
            ),
            "media/m1": b"<html><script>alert(1)</script></html>",
        }
    ),
    "svg disguised as a pdf": _zip(
        {
            "manifest.json": _manifest(media=[{"key": "m1", "title": "x", "name": "x.pdf"}]),
            "media/m1": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        }
    ),
    "file the manifest does not name": _zip(
        {"manifest.json": _manifest(), "media/m1": b"\x89PNG\r\n\x1a\n" + b"\x00" * 10}
    ),
    "single choice with two right": _zip(
        {
            "manifest.json": _manifest(
                modules=[
                    {
                        "title": "Del",
                        "quizzes": [
                            {
                                "title": "Q",
                                "pass_mark": 50,
                                "max_attempts": 1,
                                "questions": [
                                    {
                                        "text": "?",
                                        "kind": "single",
                                        "choices": [
                                            {"text": "a", "correct": True},
                                            {"text": "b", "correct": True},
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            )
        }
    ),
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_package_is_refused_whole(
    data: bytes, db: Any, world: World, settings: Any, clock: FrozenClock
) -> None:
    with pytest.raises((course_package.learning.LearningError, media_service.MediaError)):
        _import(db, world, data, settings, clock)
    assert fresh(db).scalar(select(func.count(Course.id))) == 0
    assert fresh(db).scalar(select(func.count(CourseMedia.id))) == 0


def test_a_zip_bomb_stops_at_the_cap_of_its_kind(
    db: Any, world: World, settings: Any, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A picture that inflates far past the picture cap (8 MB) from a few kilobytes.
    bomb = b"\x89PNG\r\n\x1a\n" + b"\x00" * (9 * media_service.MB)
    data = _zip(
        {
            "manifest.json": _manifest(media=[{"key": "m1", "title": "x", "name": "x.png"}]),
            "media/m1": bomb,
        }
    )
    assert len(data) < 100_000
    with pytest.raises(media_service.FileTooLarge):
        _import(db, world, data, settings, clock)
    assert fresh(db).scalar(select(func.count(Course.id))) == 0


def test_a_package_that_declares_too_much_is_refused_before_reading(
    db: Any, world: World, settings: Any, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(course_package, "PACKAGE_MAX", 1000)
    data = _zip({"manifest.json": _manifest(), "media/m1": b"\x00" * 2000})
    with pytest.raises(course_package.PackageTooLarge):
        _import(db, world, data, settings, clock)


def test_a_teacher_exports_and_imports_through_the_staff_pages(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock
) -> None:
    browser = teacher(admin_app, clock, world)
    exported = browser.get(f"/courses/{cw.course}/export")
    assert exported.status_code == 200
    assert exported.mimetype == "application/zip"
    assert "attachment" in exported.headers["Content-Disposition"]
    package = exported.get_data()
    imported = browser.client.post(
        "/courses/import",
        data={
            "csrf_token": browser.token("/courses/import"),
            "home": str(world.facility),
            "file": (io.BytesIO(package), "course.zip"),
        },
        content_type="multipart/form-data",
    )
    assert imported.status_code == 303
    assert fresh(db).scalar(select(func.count(Course.id))) == 2
    bad = browser.client.post(
        "/courses/import",
        data={
            "csrf_token": browser.token("/courses/import"),
            "home": str(world.facility),
            "file": (io.BytesIO(HOSTILE["path traversal"]), "course.zip"),
        },
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert "not a course package that can be imported" in bad.get_data(as_text=True)


def test_exporting_a_course_whose_file_went_missing_says_so_instead_of_failing(
    admin_app: Flask, db: Any, world: World, cw: CourseWorld, clock: FrozenClock, settings: Any
) -> None:
    item = fresh(db).get(CourseMedia, cw.video)
    media_service.path_of(settings.instance_path, item.file.sha256).unlink()
    browser = teacher(admin_app, clock, world)
    response = browser.get(f"/courses/{cw.course}/export")
    assert response.status_code == 303
    page = browser.get(f"/courses/{cw.course}").get_data(as_text=True)
    assert "A file of this course is missing on the server: Filmen" in page
