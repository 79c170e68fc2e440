"""A whole course as one package file, so a course written at one prison can be used at
another: a zip with ``manifest.json`` (content) and ``media/<key>`` (files).

Importing treats the package as hostile. Only the two kinds of entry names are read
(nothing is ever extracted to a path, so traversal has nowhere to go); the manifest is
small and checked field by field; every file is read through a counting reader that
stops at the size the entry declares and at the cap of its kind (zip bombs), and goes
through ``media.store``, which reads its type from the bytes; lesson text is cleaned
again with ``clean_html``. The course arrives as a draft, in one unit of work: a bad
package leaves nothing behind but content-addressed files no row points to.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.db import unit_of_work
from kiosk.i18n import _l
from kiosk.models import (
    Assignment,
    Choice,
    Course,
    CourseLevel,
    CourseMedia,
    Lesson,
    Module,
    Question,
    QuestionKind,
    Quiz,
    Staff,
)
from kiosk.services import audit, learning
from kiosk.services import media as media_service
from kiosk.services.audit import Actor

FORMAT: Final = "kiosk-course"
VERSION: Final = 1
MANIFEST: Final = "manifest.json"
MANIFEST_MAX: Final = 5 * media_service.MB
# A package may not be larger, nor hold more, than this.
PACKAGE_MAX: Final = 2 * 1024 * media_service.MB
MAX_ENTRIES: Final = 1000
MAX_MODULES: Final = 100
MAX_PARTS: Final = 300  # lessons, quizzes or assignments in one module
MAX_QUESTIONS: Final = 200
MAX_CHOICES: Final = 10
_MEDIA_NAME: Final = re.compile(r"media/(m[0-9]{1,4})")
_EXPORT_REF: Final = re.compile(r"/media/course/([0-9]{1,12})\b")
_IMPORT_REF: Final = re.compile(r"/media/package/(m[0-9]{1,4})\b")


class PackageError(learning.LearningError):
    """The package cannot be imported."""

    default_message = _l("This file is not a course package that can be imported.")


class PackageTooLarge(PackageError):
    """Over the limits."""

    status = 413
    default_message = _l("The course package is too large or holds too many files.")


# Export -----------------------------------------------------------------------------


def export_course(
    session: Session, *, actor: Actor, course: Course, instance_path: Path, now: dt.datetime
) -> IO[bytes]:
    """The course as a package (a temporary file, positioned at its start)."""
    parts = learning.outline(session, course)
    items = list(
        session.scalars(
            select(CourseMedia)
            .where(CourseMedia.course_id == course.id)
            .order_by(CourseMedia.position, CourseMedia.id)
        )
    )
    keys = {m.id: f"m{n}" for n, m in enumerate(items, 1)}
    lesson_index: dict[int, list[int]] = {}
    modules: list[dict[str, Any]] = []
    for mi, part in enumerate(parts):
        lessons = []
        for li, lesson in enumerate(part.lessons):
            lesson_index[lesson.id] = [mi, li]
            lessons.append({"title": lesson.title, "body": _export_refs(lesson.body_source, keys)})
        quizzes = []
        for quiz in part.quizzes:
            quizzes.append(
                {
                    "title": quiz.title,
                    "intro": quiz.intro,
                    "pass_mark": quiz.pass_mark,
                    "max_attempts": quiz.max_attempts,
                    "questions": [
                        {
                            "text": q.text,
                            "kind": q.kind.value,
                            "feedback": q.feedback,
                            "choices": [{"text": c.text, "correct": c.correct} for c in q.choices],
                        }
                        for q in learning.questions_of(session, quiz)
                    ],
                }
            )
        modules.append(
            {
                "title": part.module.title,
                "lessons": lessons,
                "quizzes": quizzes,
                "assignments": [
                    {"title": a.title, "instructions": a.instructions, "allow_file": a.allow_file}
                    for a in part.assignments
                ],
            }
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now.isoformat(),
        "course": {
            "title": course.title,
            "summary": course.summary,
            "language": course.language,
            "level": course.level.value,
            "open_for_requests": course.open_for_requests,
        },
        "modules": modules,
        "media": [
            {
                "key": keys[m.id],
                "title": m.title,
                "alt_text": m.alt_text,
                "name": m.file.original_name,
                "lesson": lesson_index.get(m.lesson_id) if m.lesson_id else None,
                "captions": keys.get(m.captions_id) if m.captions_id else None,
            }
            for m in items
        ],
    }
    for m in items:
        if not media_service.path_of(instance_path, m.file.sha256).is_file():
            raise PackageError(
                _l("A file of this course is missing on the server: %(name)s", name=m.title)
            )
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, which closes it
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
        for m in items:
            # Video and sound are compressed already: stored as they are.
            package.write(
                media_service.path_of(instance_path, m.file.sha256),
                f"media/{keys[m.id]}",
                compress_type=zipfile.ZIP_STORED
                if m.family in ("video", "audio", "image")
                else zipfile.ZIP_DEFLATED,
            )
    with unit_of_work(session):
        audit.record(
            session,
            "course.export",
            actor=actor,
            obj=course,
            at=now,
            details={"files": len(items)},
        )
    out.seek(0)
    return out


def _export_refs(body: str, keys: dict[int, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        key = keys.get(int(match.group(1)))
        return f"/media/package/{key}" if key else match.group(0)

    return _EXPORT_REF.sub(swap, body)


# Import -----------------------------------------------------------------------------


class _Limited:
    """Reads at most ``limit`` bytes of a stream, then fails (a zip bomb stops here)."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self._raw = raw
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; PackageTooLarge past the limit."""
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        data = self._raw.read(want)
        self._left -= len(data)
        if self._left < 0:
            raise PackageTooLarge(field="file")
        return data


def _str(value: Any, maximum: int, *, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > maximum or (required and not value.strip()):
        raise PackageError(field="file")
    return value


def _int(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PackageError(field="file")
    return value


def _list(value: Any, maximum: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > maximum:
        raise PackageError(field="file")
    return value


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PackageError(field="file")
    return value


@dataclass
class _MediaEntry:
    key: str
    title: str
    alt_text: str
    name: str
    lesson: tuple[int, int] | None
    captions: str | None


def _read_manifest(package: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = package.getinfo(MANIFEST)
    except KeyError:
        raise PackageError(field="file") from None
    if info.file_size > MANIFEST_MAX:
        raise PackageTooLarge(field="file")
    with package.open(info) as raw:
        data = _Limited(raw, MANIFEST_MAX).read()
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PackageError(field="file") from None
    manifest = _dict(manifest)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise PackageError(
            _l("This course package comes from another program or version."), field="file"
        )
    return manifest


def import_course(
    session: Session,
    *,
    actor: Actor,
    staff: Staff,
    home_facility_id: int,
    stream: IO[bytes],
    instance_path: Path,
    now: dt.datetime,
) -> Course:
    """A new draft course from a package; refused whole if anything in it is wrong."""
    try:
        package = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise PackageError(field="file") from None
    with package:
        entries = package.infolist()
        if len(entries) > MAX_ENTRIES:
            raise PackageTooLarge(field="file")
        total = 0
        files: dict[str, zipfile.ZipInfo] = {}
        for info in entries:
            total += info.file_size
            if info.filename == MANIFEST:
                continue
            match = _MEDIA_NAME.fullmatch(info.filename)
            if match is None or info.is_dir() or info.flag_bits & 0x1:
                # Any other name (paths, "..", links, encrypted entries) is refused.
                raise PackageError(field="file")
            files[match.group(1)] = info
        if total > PACKAGE_MAX:
            raise PackageTooLarge(field="file")
        manifest = _read_manifest(package)
        try:
            return _create(
                session,
                actor,
                staff,
                home_facility_id,
                package,
                files,
                manifest,
                instance_path,
                now,
            )
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError):
            raise PackageError(field="file") from None


def _create(
    session: Session,
    actor: Actor,
    staff: Staff,
    home_facility_id: int,
    package: zipfile.ZipFile,
    files: dict[str, zipfile.ZipInfo],
    manifest: dict[str, Any],
    instance_path: Path,
    now: dt.datetime,
) -> Course:
    meta = _dict(manifest.get("course"))
    try:
        level = CourseLevel(_str(meta.get("level"), 16))
    except ValueError:
        raise PackageError(field="file") from None
    modules = _list(manifest.get("modules"), MAX_MODULES)
    media = [_media_entry(m, files) for m in _list(manifest.get("media"), MAX_ENTRIES)]
    keys = [m.key for m in media]
    if len(set(keys)) != len(keys) or set(keys) != set(files):
        raise PackageError(field="file")
    with unit_of_work(session):
        course = learning.create_course(
            session,
            actor=actor,
            staff=staff,
            title=_str(meta.get("title"), Course.TITLE_MAX, required=True),
            summary=_str(meta.get("summary", ""), Course.SUMMARY_MAX),
            language=_str(meta.get("language"), 8, required=True),
            level=level,
            home_facility_id=home_facility_id,
            offered_at=[home_facility_id],
            open_for_requests=bool(meta.get("open_for_requests", True)),
            now=now,
        )
        lessons: dict[tuple[int, int], Lesson] = {}
        bodies: dict[tuple[int, int], str] = {}
        for mi, raw_module in enumerate(modules):
            raw = _dict(raw_module)
            module = learning.add_module(
                session,
                actor=actor,
                course=course,
                title=_str(raw.get("title"), Module.TITLE_MAX, required=True),
                now=now,
            )
            for li, raw_lesson in enumerate(_list(raw.get("lessons", []), MAX_PARTS)):
                item = _dict(raw_lesson)
                body = _str(item.get("body", ""), Lesson.BODY_MAX)
                lessons[(mi, li)] = learning.save_lesson(
                    session,
                    actor=actor,
                    staff=staff,
                    course=course,
                    module=module,
                    lesson=None,
                    title=_str(item.get("title"), Lesson.TITLE_MAX, required=True),
                    body=body,
                    now=now,
                )
                bodies[(mi, li)] = body
            for raw_quiz in _list(raw.get("quizzes", []), MAX_PARTS):
                _import_quiz(session, actor, course, module, _dict(raw_quiz), now)
            for raw_work in _list(raw.get("assignments", []), MAX_PARTS):
                work = _dict(raw_work)
                learning.save_assignment(
                    session,
                    actor=actor,
                    course=course,
                    module=module,
                    assignment=None,
                    title=_str(work.get("title"), Assignment.TITLE_MAX, required=True),
                    instructions=_str(work.get("instructions", ""), 8000),
                    allow_file=bool(work.get("allow_file", False)),
                    now=now,
                )
        created: dict[str, CourseMedia] = {}
        for entry in media:
            info = files[entry.key]
            lesson = lessons.get(entry.lesson) if entry.lesson is not None else None
            if entry.lesson is not None and lesson is None:
                raise PackageError(field="file")
            with package.open(info) as raw_file:
                limited = cast(IO[bytes], _Limited(raw_file, info.file_size))
                created[entry.key] = learning.add_media(
                    session,
                    actor=actor,
                    staff=staff,
                    course=course,
                    instance_path=instance_path,
                    stream=limited,
                    filename=entry.name,
                    title=entry.title or entry.name or entry.key,
                    alt_text=entry.alt_text,
                    lesson=lesson,
                    now=now,
                )
        for entry in media:
            if entry.captions is None:
                continue
            captions = created.get(entry.captions)
            if captions is None or captions.file.content_type != "text/vtt":
                raise PackageError(field="file")
            target = created[entry.key]
            target.captions_id = captions.id
        # Lesson text pointed at the package's files: point it at the new ones.
        for index, body in bodies.items():
            if not _IMPORT_REF.search(body):
                continue
            rewritten = _IMPORT_REF.sub(
                lambda m: (
                    learning.MEDIA_URL.format(id=created[m.group(1)].id)
                    if m.group(1) in created
                    else m.group(0)
                ),
                body,
            )
            lesson = lessons[index]
            learning.save_lesson(
                session,
                actor=actor,
                staff=staff,
                course=course,
                module=session.get(Module, lesson.module_id),  # type: ignore[arg-type]
                lesson=lesson,
                title=lesson.title,
                body=rewritten,
                now=now,
            )
        audit.record(
            session,
            "course.import",
            actor=actor,
            obj=course,
            at=now,
            details={"modules": len(modules), "files": len(media)},
        )
    return course


def _media_entry(raw: Any, files: dict[str, zipfile.ZipInfo]) -> _MediaEntry:
    item = _dict(raw)
    key = _str(item.get("key"), 8, required=True)
    if key not in files:
        raise PackageError(field="file")
    lesson = item.get("lesson")
    where = None
    if lesson is not None:
        pair = _list(lesson, 2)
        if len(pair) != 2:
            raise PackageError(field="file")
        where = (_int(pair[0], 0, MAX_MODULES), _int(pair[1], 0, MAX_PARTS))
    captions = item.get("captions")
    return _MediaEntry(
        key=key,
        title=_str(item.get("title", ""), CourseMedia.TITLE_MAX),
        alt_text=_str(item.get("alt_text", ""), CourseMedia.ALT_MAX),
        name=_str(item.get("name", ""), 200),
        lesson=where,
        captions=_str(captions, 8) if captions is not None else None,
    )


def _import_quiz(
    session: Session,
    actor: Actor,
    course: Course,
    module: Module,
    raw: dict[str, Any],
    now: dt.datetime,
) -> None:
    quiz = learning.save_quiz(
        session,
        actor=actor,
        course=course,
        module=module,
        quiz=None,
        title=_str(raw.get("title"), Quiz.TITLE_MAX, required=True),
        intro=_str(raw.get("intro", ""), 4000),
        pass_mark=_int(raw.get("pass_mark"), 0, 100),
        max_attempts=_int(raw.get("max_attempts"), 0, 99),
        now=now,
    )
    for raw_question in _list(raw.get("questions", []), MAX_QUESTIONS):
        q = _dict(raw_question)
        try:
            kind = QuestionKind(_str(q.get("kind"), 16))
        except ValueError:
            raise PackageError(field="file") from None
        choices = [_dict(c) for c in _list(q.get("choices"), MAX_CHOICES)]
        learning.add_question(
            session,
            actor=actor,
            course=course,
            quiz=quiz,
            text=_str(q.get("text"), Question.TEXT_MAX, required=True),
            kind=kind,
            feedback=_str(q.get("feedback", ""), Question.TEXT_MAX),
            choices=[
                (_str(c.get("text"), Choice.TEXT_MAX, required=True), c.get("correct") is True)
                for c in choices
            ],
            now=now,
        )
