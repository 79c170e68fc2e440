"""Learning: courses, modules, lessons, media, enrolments, progress, quizzes, assignments,
certificates."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from kiosk.db import Base, utcnow
from kiosk.models.media import MediaFile


def _enum(cls: type[enum.StrEnum], length: int = 16) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=length,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class CourseStatus(enum.StrEnum):
    """Learners see a course only while it is published."""

    DRAFT = "draft"
    PUBLISHED = "published"


class CourseLevel(enum.StrEnum):
    """How much a learner should know before starting."""

    INTRO = "intro"
    BASIC = "basic"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class Course(Base):
    """A course written by teachers of one facility, offered at one or more facilities."""

    __tablename__ = "courses"

    TITLE_MAX = 160
    SUMMARY_MAX = 2000

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    summary: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="sv")
    level: Mapped[CourseLevel] = mapped_column(_enum(CourseLevel), default=CourseLevel.BASIC)
    status: Mapped[CourseStatus] = mapped_column(
        _enum(CourseStatus), default=CourseStatus.DRAFT, index=True
    )
    # The facility whose teachers manage the course (its home).
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    # Learners may ask to join (the teacher accepts or declines).
    open_for_requests: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None]

    offer_rows: Mapped[list[CourseFacility]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def facility_ids(self) -> frozenset[int]:
        """The facilities whose learners may take the course."""
        return frozenset(r.facility_id for r in self.offer_rows)

    def is_offered_at(self, facility_id: int) -> bool:
        """True when learners of ``facility_id`` may take the course.

        From the loaded offer rows when they are loaded (staff pages show them); otherwise
        one indexed lookup of this facility's row, so a learner's lesson does not load a
        row for every facility that offers a national course.
        """
        if "offer_rows" in self.__dict__:
            return facility_id in self.facility_ids
        session = object_session(self)
        if session is None:
            return facility_id in self.facility_ids
        # Asked twice per page (may the learner see the course, may they study it): the
        # answer is kept on this instance, which lives as long as the request's session.
        known: dict[int, bool] = self.__dict__.setdefault("_kiosk_offered_at", {})
        if facility_id not in known:
            found = session.scalar(_OFFERED_AT, {"course_id": self.id, "facility_id": facility_id})
            known[facility_id] = found is not None
        return known[facility_id]

    @property
    def is_published(self) -> bool:
        """True while learners can see it."""
        return self.status is CourseStatus.PUBLISHED

    @property
    def audit_facility_id(self) -> int:
        """Events about a course belong to its home facility."""
        return self.facility_id

    def __repr__(self) -> str:
        return f"<Course {self.id} {self.title!r}>"


class CourseFacility(Base):
    """One facility that offers a course."""

    __tablename__ = "course_facilities"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facilities.id"), primary_key=True, index=True
    )


_OFFERED_AT = select(CourseFacility.course_id).where(
    CourseFacility.course_id == bindparam("course_id"),
    CourseFacility.facility_id == bindparam("facility_id"),
)


class Module(Base):
    """A part of a course: lessons, quizzes and assignments in order."""

    __tablename__ = "course_modules"
    __table_args__ = (Index("ix_course_modules_course_id_position", "course_id", "position"),)

    TITLE_MAX = 160

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Lesson(Base):
    """A text to read, with media. ``body_html`` is the cleaned form, the only one rendered."""

    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_module_id_position", "module_id", "position"),)

    TITLE_MAX = 160
    BODY_MAX = 100_000

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("course_modules.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # What the teacher typed, kept for editing; never rendered.
    body_source: Mapped[str] = mapped_column(Text, default="")
    # clean_html(body_source), made when saved: the only form shown to anyone.
    body_html: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class CourseMedia(Base):
    """A file of a course (picture, PDF, sound, video, captions), shown in one lesson or
    referenced from lesson text as ``/media/course/<id>``."""

    __tablename__ = "course_media"

    TITLE_MAX = 160
    ALT_MAX = 300

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    # Shown under the lesson text as a player, picture or document link; None: only
    # referenced from lesson text (pictures) or as captions of another file.
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), index=True
    )
    media_file_id: Mapped[int] = mapped_column(ForeignKey("media_files.id"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    # Alternative text of a picture, or a description of a video or sound.
    alt_text: Mapped[str] = mapped_column(String(ALT_MAX), default="")
    # Captions (WebVTT) for a video or sound file.
    captions_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_media.id", ondelete="SET NULL")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    file: Mapped[MediaFile] = relationship(lazy="joined")

    @property
    def family(self) -> str:
        """image, pdf, audio, video or captions."""
        from kiosk.services.media import KINDS

        kind = KINDS.get(self.file.content_type)
        return kind.family if kind else "other"


class EnrolmentStatus(enum.StrEnum):
    """Where a learner stands with a course."""

    REQUESTED = "requested"
    ACTIVE = "active"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class Enrolment(Base):
    """A learner in a course (or asking to be)."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("course_id", "inmate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    status: Mapped[EnrolmentStatus] = mapped_column(_enum(EnrolmentStatus), index=True)
    requested_at: Mapped[dt.datetime | None]
    enrolled_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    completed_at: Mapped[dt.datetime | None]
    # The last time the learner did something in the course (for "who is stuck").
    last_activity_at: Mapped[dt.datetime | None]


class LessonRead(Base):
    """A learner marked a lesson as read."""

    __tablename__ = "lesson_reads"
    __table_args__ = (UniqueConstraint("lesson_id", "inmate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    read_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Quiz(Base):
    """Questions with automatic marking, a pass mark and a limit on attempts."""

    __tablename__ = "quizzes"

    TITLE_MAX = 160

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("course_modules.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    intro: Mapped[str] = mapped_column(Text, default="")
    # Percent of the questions that must be right.
    pass_mark: Mapped[int] = mapped_column(Integer, default=60)
    # 0: no limit.
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    position: Mapped[int] = mapped_column(Integer, default=0)


class QuestionKind(enum.StrEnum):
    """One right answer, or every right one of several."""

    SINGLE = "single"
    MULTIPLE = "multiple"


class Question(Base):
    """One quiz question with its choices."""

    __tablename__ = "quiz_questions"
    __table_args__ = (Index("ix_quiz_questions_quiz_id_position", "quiz_id", "position"),)

    TEXT_MAX = 2000

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[QuestionKind] = mapped_column(_enum(QuestionKind))
    # Shown to the learner after an attempt, whether the answer was right or not.
    feedback: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)

    choices: Mapped[list[Choice]] = relationship(
        order_by="Choice.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Choice(Base):
    """One answer to choose."""

    __tablename__ = "quiz_choices"

    TEXT_MAX = 500

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("quiz_questions.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(String(TEXT_MAX))
    correct: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class QuizAttempt(Base):
    """One marked attempt; ``number`` is unique per learner, which caps attempts."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (UniqueConstraint("quiz_id", "inmate_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    max_score: Mapped[int] = mapped_column(Integer)
    percent: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    # JSON: {"<question id>": [choice ids]} as answered.
    answers: Mapped[str] = mapped_column(Text, default="{}")
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    """Work to hand in: text, and a file when allowed."""

    __tablename__ = "assignments"

    TITLE_MAX = 160

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[int] = mapped_column(ForeignKey("course_modules.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    instructions: Mapped[str] = mapped_column(Text, default="")
    allow_file: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Submission(Base):
    """One hand-in. A new hand-in is a new row (nothing is overwritten); the teacher marks it."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("assignment_id", "inmate_id", "number"),)

    TEXT_MAX = 20_000
    GRADE_MAX = 32
    COMMENT_MAX = 4000

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    media_file_id: Mapped[int | None] = mapped_column(ForeignKey("media_files.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    grade: Mapped[str | None] = mapped_column(String(GRADE_MAX))
    comment: Mapped[str | None] = mapped_column(Text)
    # False: the teacher asks for the work again.
    accepted: Mapped[bool | None] = mapped_column(Boolean)
    marked_at: Mapped[dt.datetime | None]
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    file: Mapped[MediaFile | None] = relationship(lazy="joined")


class Certificate(Base):
    """A certificate of completion; staff check it by its code."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("course_id", "inmate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"), index=True)
    # Copied at issue, so the certificate reads the same if the course is renamed later.
    course_title: Mapped[str] = mapped_column(String(Course.TITLE_MAX))
    learner_name: Mapped[str] = mapped_column(String(120))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    revoked_at: Mapped[dt.datetime | None]
