"""Teachers' pages: courses, modules, lessons (with a preview that is the learner's view),
media, enrolment, quizzes, assignments, progress and certificates.

Every object is loaded through its course, and the course through ``visible()``: a
course outside the teacher's facilities, or a part of another course, answers 404.
"""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    FileField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from admin.helpers import me, paginate, visible
from admin.nav import Card, NavItem, add_card, add_nav
from kiosk.errors import NotFound
from kiosk.i18n import LANGUAGE_NAMES, _, _l
from kiosk.models import (
    Assignment,
    Course,
    CourseLevel,
    CourseMedia,
    Enrolment,
    EnrolmentStatus,
    Facility,
    Inmate,
    Lesson,
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
from kiosk.security.policy import Perm, can, facility_scope
from kiosk.services import course_package, learning
from kiosk.services import media as media_service
from kiosk.services.inmates import normalize_booking
from kiosk.web import access
from kiosk.web.context import actor, db, now
from kiosk.web.forms import BaseForm, strip_filter
from kiosk.web.state import get_state

bp = Blueprint("courses", __name__)
add_nav(NavItem("courses.index", _l("Courses"), Perm.COURSE_MANAGE, 40))


def _scoped_count(staff: Staff, stmt: Any) -> int | None:
    if not can(staff, Perm.COURSE_MANAGE):
        return None
    scope = facility_scope(staff)
    if scope is not None:
        stmt = stmt.where(Course.facility_id.in_(scope))
    return int(db().scalar(stmt) or 0)


def _join_requests(staff: Staff) -> int | None:
    return _scoped_count(
        staff,
        select(func.count(Enrolment.id))
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.status == EnrolmentStatus.REQUESTED),
    )


def _to_mark(staff: Staff) -> int | None:
    return _scoped_count(
        staff,
        select(func.count(Submission.id))
        .join(Course, Course.id == Submission.course_id)
        .where(Submission.marked_at.is_(None)),
    )


add_card(
    Card(
        "learning.requests",
        _l("learners asking to join a course"),
        "courses.index",
        _join_requests,
        50,
    )
)
add_card(Card("learning.to_mark", _l("hand-ins waiting for a mark"), "courses.index", _to_mark, 51))

LEVEL_LABELS = {
    CourseLevel.INTRO: _l("Introduction: no earlier knowledge"),
    CourseLevel.BASIC: _l("Basic"),
    CourseLevel.INTERMEDIATE: _l("Intermediate"),
    CourseLevel.ADVANCED: _l("Advanced"),
}
STATUS_LABELS = {
    EnrolmentStatus.REQUESTED: _l("Asked to join"),
    EnrolmentStatus.ACTIVE: _l("Taking the course"),
    EnrolmentStatus.DECLINED: _l("Declined"),
    EnrolmentStatus.WITHDRAWN: _l("Taken out"),
}
# Course languages offered in the form (the portal's languages and a few more).
COURSE_LANGUAGES = ("sv", "en", "ar", "fi")
# The largest course file; views that take files raise the request limit to this only.
MAX_COURSE_UPLOAD = media_service.MAX_UPLOAD


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc] # WTForms is untyped
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CourseForm(BaseForm):
    """What a course says about itself."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Give the course a title.")), Length(max=Course.TITLE_MAX)],
        filters=[strip_filter],
    )
    summary = TextAreaField(
        _l("Summary"), validators=[Length(max=Course.SUMMARY_MAX)], filters=[strip_filter]
    )
    language = SelectField(_l("Language of the course"), validate_choice=True)
    level = SelectField(_l("Level"), validate_choice=True)
    home = SelectField(_l("Written at (its teachers manage it)"), coerce=int, validate_choice=True)
    facilities = MultiCheckboxField(_l("Offered at"), coerce=int, validate_choice=True)
    open_for_requests = BooleanField(_l("Learners may ask to join"), default=True)


class TitleForm(BaseForm):
    """A title (modules)."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Give a title.")), Length(max=Module.TITLE_MAX)],
        filters=[strip_filter],
    )


class LessonForm(BaseForm):
    """A lesson: a title and the text."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Give the lesson a title.")), Length(max=Lesson.TITLE_MAX)],
        filters=[strip_filter],
    )
    body = TextAreaField(_l("Text"), validators=[Length(max=Lesson.BODY_MAX)])


class UploadForm(BaseForm):
    """A file for the course."""

    file = FileField(_l("File"))
    title = StringField(
        _l("Title"), validators=[Length(max=CourseMedia.TITLE_MAX)], filters=[strip_filter]
    )
    alt_text = StringField(
        _l("Alternative text or description"),
        validators=[Length(max=CourseMedia.ALT_MAX)],
        filters=[strip_filter],
    )
    lesson = SelectField(_l("Show under the lesson"), coerce=int, validate_choice=True)


class MediaEditForm(BaseForm):
    """Title, description, lesson and captions of a course file."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Give a title.")), Length(max=CourseMedia.TITLE_MAX)],
        filters=[strip_filter],
    )
    alt_text = StringField(
        _l("Alternative text or description"),
        validators=[Length(max=CourseMedia.ALT_MAX)],
        filters=[strip_filter],
    )
    lesson = SelectField(_l("Show under the lesson"), coerce=int, validate_choice=True)
    captions = SelectField(_l("Captions"), coerce=int, validate_choice=True)


class EnrolForm(BaseForm):
    """One learner by booking number."""

    booking_number = StringField(
        _l("Booking number"),
        validators=[DataRequired(_l("Type the booking number.")), Length(max=Inmate.BOOKING_MAX)],
        filters=[strip_filter],
    )


class ClassForm(BaseForm):
    """Every inmate of a unit."""

    unit = SelectField(_l("Unit"), coerce=int, validate_choice=True)


class QuizForm(BaseForm):
    """Quiz settings."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Give the quiz a title.")), Length(max=Quiz.TITLE_MAX)],
        filters=[strip_filter],
    )
    intro = TextAreaField(_l("Introduction"), validators=[Length(max=4000)])
    pass_mark = IntegerField(
        _l("Pass mark (percent right)"),
        default=60,
        validators=[
            InputRequired(_l("Give a pass mark.")),
            NumberRange(0, 100, _l("The pass mark is a percentage from 0 to 100.")),
        ],
    )
    max_attempts = IntegerField(
        _l("Attempts allowed (0 for no limit)"),
        default=3,
        validators=[
            InputRequired(_l("Give the number of attempts.")),
            NumberRange(0, 99, _l("Attempts: 0 for no limit, or at most 99.")),
        ],
    )


CHOICE_SLOTS = 6


class QuestionForm(BaseForm):
    """A question with up to six answers."""

    text = TextAreaField(
        _l("Question"),
        validators=[DataRequired(_l("Write the question.")), Length(max=Question.TEXT_MAX)],
    )
    kind = RadioField(
        _l("Kind"),
        choices=[
            ("single", _l("One right answer")),
            ("multiple", _l("One or more right answers")),
        ],
        default="single",
        validate_choice=True,
    )
    feedback = TextAreaField(
        _l("Feedback shown after answering"), validators=[Length(max=Question.TEXT_MAX)]
    )


for _n in range(1, CHOICE_SLOTS + 1):
    setattr(
        QuestionForm,
        f"choice_{_n}",
        StringField(_l("Answer %(n)d", n=_n), validators=[Length(max=500)], filters=[strip_filter]),
    )
    setattr(QuestionForm, f"right_{_n}", BooleanField(_l("Right answer %(n)d", n=_n)))


class AssignmentForm(BaseForm):
    """An assignment."""

    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Give the assignment a title.")),
            Length(max=Assignment.TITLE_MAX),
        ],
        filters=[strip_filter],
    )
    instructions = TextAreaField(_l("What to do"), validators=[Length(max=8000)])
    allow_file = BooleanField(_l("Learners may add a file (PDF or picture)"))


class MarkForm(BaseForm):
    """A grade and a comment."""

    grade = StringField(
        _l("Grade"),
        validators=[DataRequired(_l("Give a grade.")), Length(max=Submission.GRADE_MAX)],
        filters=[strip_filter],
    )
    comment = TextAreaField(_l("Comment"), validators=[Length(max=Submission.COMMENT_MAX)])
    outcome = RadioField(
        _l("Outcome"),
        choices=[
            ("accept", _l("Accepted: counts as done")),
            ("redo", _l("Do it again")),
        ],
        default="accept",
        validate_choice=True,
    )


class ActionForm(BaseForm):
    """A button (CSRF only)."""


# Loading ----------------------------------------------------------------------------


def _course(course_id: int) -> Course:
    return visible(Course, course_id, Perm.COURSE_MANAGE)


def _part(model: type[Any], object_id: int, course: Course) -> Any:
    row = db().get(model, object_id)
    if row is None or row.course_id != course.id:
        raise NotFound()
    return row


def _home_choices() -> list[tuple[int, str]]:
    scope = facility_scope(me())
    stmt = select(Facility).order_by(Facility.name)
    if scope is not None:
        stmt = stmt.where(Facility.id.in_(scope))
    return [(f.id, f.name) for f in db().scalars(stmt)]


def _fill_course_form(form: CourseForm) -> None:
    form.language.choices = [(c, LANGUAGE_NAMES.get(c, c)) for c in COURSE_LANGUAGES]
    form.level.choices = [(level.value, label) for level, label in LEVEL_LABELS.items()]
    form.home.choices = _home_choices()
    form.facilities.choices = _home_choices()


def _to(endpoint: str, **values: Any) -> ResponseReturnValue:
    return redirect(url_for(endpoint, **values), 303)


def _field_error(form: BaseForm, exc: Any, default: str) -> None:
    target = getattr(form, exc.field or default, None) or getattr(form, default)
    target.errors = [*target.errors, exc.message]


# Courses ----------------------------------------------------------------------------


@bp.get("/courses/")
@access.staff(Perm.COURSE_MANAGE)
def index() -> str:
    """Courses of the teacher's facilities."""
    scope = facility_scope(me())
    stmt = select(Course).order_by(Course.title, Course.id)
    if scope is not None:
        stmt = stmt.where(Course.facility_id.in_(scope))
    page = paginate(db(), stmt)
    requests = dict(
        db()
        .execute(
            select(Enrolment.course_id, func.count(Enrolment.id))
            .where(
                Enrolment.course_id.in_([c.id for c in page.items]),
                Enrolment.status == EnrolmentStatus.REQUESTED,
            )
            .group_by(Enrolment.course_id)
        )
        .all()
    )
    return render_template("courses/index.html", page=page, requests=requests)


@bp.route("/courses/new", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def new() -> ResponseReturnValue:
    """Start a course (as a draft)."""
    form = CourseForm()
    _fill_course_form(form)
    status = 200
    if request.method == "GET":
        form.language.data = get_state().settings.default_language
        form.level.data = CourseLevel.BASIC.value
        if form.home.choices:
            form.home.data = form.home.choices[0][0]
            form.facilities.data = [form.home.choices[0][0]]
    elif form.validate():
        try:
            course = learning.create_course(
                db(),
                actor=actor(),
                staff=me(),
                title=form.title.data or "",
                summary=form.summary.data or "",
                language=form.language.data or "sv",
                level=CourseLevel(form.level.data),
                home_facility_id=form.home.data,
                offered_at=form.facilities.data or [],
                open_for_requests=bool(form.open_for_requests.data),
                now=now(),
            )
        except learning.LearningError as exc:
            _field_error(form, exc, "title")
            status = exc.status
        else:
            flash(_("The course is saved as a draft. Add a module and lessons."), "success")
            return _to("courses.show", course_id=course.id)
    else:
        status = 422
    return make_response(render_template("courses/form.html", form=form, course=None), status)


@bp.get("/courses/<id:course_id>")
@access.staff(Perm.COURSE_MANAGE)
def show(course_id: int) -> str:
    """A course: its modules with lessons, quizzes and assignments, and what to do next."""
    course = _course(course_id)
    parts = learning.outline(db(), course)
    waiting = db().scalar(
        select(func.count(Enrolment.id)).where(
            Enrolment.course_id == course.id, Enrolment.status == EnrolmentStatus.REQUESTED
        )
    )
    return render_template(
        "courses/show.html",
        course=course,
        parts=parts,
        module_form=TitleForm(formdata=None),
        form=ActionForm(),
        waiting=waiting or 0,
        level_labels=LEVEL_LABELS,
        offered=learning.facilities_named(db(), course.facility_ids),
    )


@bp.route("/courses/<id:course_id>/edit", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def edit(course_id: int) -> ResponseReturnValue:
    """Change title, summary, language, level and where the course is offered."""
    course = _course(course_id)
    form = CourseForm(obj=course if request.method == "GET" else None)
    _fill_course_form(form)
    form.home.choices = [(course.facility_id, "")]
    status = 200
    if request.method == "GET":
        form.level.data = course.level.value
        form.home.data = course.facility_id
        form.facilities.data = sorted(course.facility_ids)
    else:
        form.home.data = course.facility_id
        if form.validate():
            try:
                learning.update_course(
                    db(),
                    actor=actor(),
                    staff=me(),
                    course=course,
                    title=form.title.data or "",
                    summary=form.summary.data or "",
                    language=form.language.data or "sv",
                    level=CourseLevel(form.level.data),
                    offered_at=form.facilities.data or [],
                    open_for_requests=bool(form.open_for_requests.data),
                    now=now(),
                )
            except learning.LearningError as exc:
                _field_error(form, exc, "title")
                status = exc.status
            else:
                flash(_("Saved."), "success")
                return _to("courses.show", course_id=course.id)
        else:
            status = 422
    return make_response(render_template("courses/form.html", form=form, course=course), status)


@bp.post("/courses/<id:course_id>/publish")
@access.staff(Perm.COURSE_MANAGE)
def publish(course_id: int) -> ResponseReturnValue:
    """Publish the course, or take it back to draft."""
    course = _course(course_id)
    if not ActionForm().validate():
        flash(_("The form had expired. Please try again."), "error")
        return _to("courses.show", course_id=course.id)
    publish_it = request.form.get("publish") == "1"
    try:
        learning.set_published(db(), actor=actor(), course=course, published=publish_it, now=now())
    except learning.LearningError as exc:
        flash(str(exc.message), "error")
        return _to("courses.show", course_id=course.id)
    flash(
        _("The course is published: learners can see it.")
        if publish_it
        else _("The course is a draft again: learners no longer see it."),
        "success",
    )
    return _to("courses.show", course_id=course.id)


@bp.post("/courses/<id:course_id>/modules")
@access.staff(Perm.COURSE_MANAGE)
def add_module(course_id: int) -> ResponseReturnValue:
    """Add a module at the end."""
    course = _course(course_id)
    form = TitleForm()
    if not form.validate():
        flash(_("Give the module a title."), "error")
        return _to("courses.show", course_id=course.id)
    learning.add_module(db(), actor=actor(), course=course, title=form.title.data or "", now=now())
    flash(_("The module is added."), "success")
    return _to("courses.show", course_id=course.id)


@bp.route("/courses/<id:course_id>/modules/<id:module_id>", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def edit_module(course_id: int, module_id: int) -> ResponseReturnValue:
    """Rename a module."""
    course = _course(course_id)
    module = _part(Module, module_id, course)
    form = TitleForm(obj=module if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            learning.rename_module(
                db(),
                actor=actor(),
                course=course,
                module=module,
                title=form.title.data or "",
                now=now(),
            )
            flash(_("Saved."), "success")
            return _to("courses.show", course_id=course.id)
        status = 422
    return make_response(
        render_template("courses/module.html", course=course, module=module, form=form), status
    )


# Lessons ----------------------------------------------------------------------------


def _lesson_page(
    course: Course,
    module: Module,
    lesson: Lesson | None,
    form: LessonForm,
    preview: str | None,
    status: int,
) -> ResponseReturnValue:
    media = []
    captions: dict[int, CourseMedia] = {}
    if lesson is not None:
        view = learning.lesson_view(db(), lesson, course, None)
        media, captions = view.media, view.captions
    pictures = [
        m
        for m in db().scalars(
            select(CourseMedia).where(CourseMedia.course_id == course.id).order_by(CourseMedia.id)
        )
        if m.family == "image"
    ]
    return make_response(
        render_template(
            "courses/lesson.html",
            course=course,
            module=module,
            lesson=lesson,
            form=form,
            preview=preview,
            media=media,
            captions=captions,
            pictures=pictures,
            reading={"spacing": "normal", "font": "standard"},
        ),
        status,
    )


def _save_lesson(course: Course, module: Module, lesson: Lesson | None) -> ResponseReturnValue:
    form = LessonForm(obj=lesson if request.method == "GET" and lesson is not None else None)
    if request.method == "GET" and lesson is not None:
        form.body.data = lesson.body_source
    if request.method == "GET":
        return _lesson_page(course, module, lesson, form, None, 200)
    if not form.validate():
        return _lesson_page(course, module, lesson, form, None, 422)
    body = form.body.data or ""
    if request.form.get("action") == "preview":
        # Not saved: the learner's view of the text as it would be saved.
        return _lesson_page(course, module, lesson, form, learning.render_lesson_body(body), 200)
    try:
        saved = learning.save_lesson(
            db(),
            actor=actor(),
            staff=me(),
            course=course,
            module=module,
            lesson=lesson,
            title=form.title.data or "",
            body=body,
            now=now(),
        )
    except learning.LearningError as exc:
        _field_error(form, exc, "body")
        return _lesson_page(course, module, lesson, form, None, exc.status)
    flash(_("The lesson is saved."), "success")
    return _to("courses.edit_lesson", course_id=course.id, lesson_id=saved.id)


@bp.route("/courses/<id:course_id>/modules/<id:module_id>/lessons/new", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def new_lesson(course_id: int, module_id: int) -> ResponseReturnValue:
    """Write a new lesson."""
    course = _course(course_id)
    module = _part(Module, module_id, course)
    return _save_lesson(course, module, None)


@bp.route("/courses/<id:course_id>/lessons/<id:lesson_id>", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def edit_lesson(course_id: int, lesson_id: int) -> ResponseReturnValue:
    """Change a lesson; "Preview" shows the learner's view without saving."""
    course = _course(course_id)
    lesson = _part(Lesson, lesson_id, course)
    module = db().get(Module, lesson.module_id)
    assert module is not None  # noqa: S101 - foreign key
    return _save_lesson(course, module, lesson)


@bp.get("/courses/<id:course_id>/lessons/<id:lesson_id>/preview")
@access.staff(Perm.COURSE_MANAGE)
def preview_lesson(course_id: int, lesson_id: int) -> str:
    """The saved lesson exactly as a learner sees it."""
    course = _course(course_id)
    lesson = _part(Lesson, lesson_id, course)
    view = learning.lesson_view(db(), lesson, course, None)
    return render_template(
        "courses/preview.html", view=view, reading={"spacing": "normal", "font": "standard"}
    )


# Media ------------------------------------------------------------------------------


def _lesson_choices(course: Course) -> list[tuple[int, str]]:
    lessons = db().scalars(
        select(Lesson)
        .where(Lesson.course_id == course.id)
        .order_by(Lesson.module_id, Lesson.position)
    )
    return [(0, _("None (pictures in the text, captions)"))] + [(x.id, x.title) for x in lessons]


@bp.route("/courses/<id:course_id>/media", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
@access.upload_limit(MAX_COURSE_UPLOAD)
def media_index(course_id: int) -> ResponseReturnValue:
    """The course's files, and an upload form."""
    course = _course(course_id)
    form = UploadForm()
    form.lesson.choices = _lesson_choices(course)
    status = 200
    if request.method == "GET":
        wanted = request.args.get("lesson", "")
        form.lesson.data = int(wanted) if wanted.isascii() and wanted.isdigit() else 0
    else:
        if form.validate():
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                form.file.errors = [_("Choose a file.")]
                status = 422
            else:
                lesson = _part(Lesson, form.lesson.data, course) if form.lesson.data else None
                try:
                    item = learning.add_media(
                        db(),
                        actor=actor(),
                        staff=me(),
                        course=course,
                        instance_path=get_state().settings.instance_path,
                        stream=upload.stream,
                        filename=upload.filename,
                        title=form.title.data or "",
                        alt_text=form.alt_text.data or "",
                        lesson=lesson,
                        now=now(),
                    )
                except (learning.LearningError, media_service.MediaError) as exc:
                    _field_error(form, exc, "file")
                    status = exc.status
                else:
                    flash(_("The file is uploaded."), "success")
                    return _to("courses.edit_media", course_id=course.id, media_id=item.id)
        else:
            status = 422
    items = list(
        db().scalars(
            select(CourseMedia)
            .where(CourseMedia.course_id == course.id)
            .order_by(CourseMedia.position, CourseMedia.id)
        )
    )
    return make_response(
        render_template(
            "courses/media.html",
            course=course,
            form=form,
            items=items,
            lessons=dict(form.lesson.choices),
            url_of=learning.MEDIA_URL,
        ),
        status,
    )


@bp.route("/courses/<id:course_id>/media/<id:media_id>", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def edit_media(course_id: int, media_id: int) -> ResponseReturnValue:
    """Title, description, lesson and captions of one file."""
    course = _course(course_id)
    item = _part(CourseMedia, media_id, course)
    form = MediaEditForm(obj=item if request.method == "GET" else None)
    form.lesson.choices = _lesson_choices(course)
    captions = [
        m
        for m in db().scalars(select(CourseMedia).where(CourseMedia.course_id == course.id))
        if m.family == "captions"
    ]
    form.captions.choices = [(0, _("No captions"))] + [(c.id, c.title) for c in captions]
    status = 200
    if request.method == "GET":
        form.lesson.data = item.lesson_id or 0
        form.captions.data = item.captions_id or 0
    elif form.validate():
        try:
            learning.update_media(
                db(),
                actor=actor(),
                course=course,
                item=item,
                title=form.title.data or "",
                alt_text=form.alt_text.data or "",
                lesson_id=form.lesson.data or None,
                captions_id=form.captions.data or None,
                now=now(),
            )
        except learning.LearningError as exc:
            _field_error(form, exc, "title")
            status = exc.status
        else:
            flash(_("Saved."), "success")
            return _to("courses.media_index", course_id=course.id)
    else:
        status = 422
    return make_response(
        render_template(
            "courses/media_edit.html",
            course=course,
            item=item,
            form=form,
            url=learning.MEDIA_URL.format(id=item.id),
        ),
        status,
    )


@bp.get("/media/course/<id:media_id>")
@access.staff(Perm.COURSE_MANAGE)
def media(media_id: int) -> ResponseReturnValue:
    """A course file for the teacher (the preview shows pictures and players through it)."""
    item = db().get(CourseMedia, media_id)
    if item is None:
        raise NotFound()
    _course(item.course_id)
    settings = get_state().settings
    return media_service.send_media(
        item.file,
        instance_path=settings.instance_path,
        accel_prefix=settings.media_accel_prefix,
        inline=request.args.get("download") != "1",
    )


# Learners ---------------------------------------------------------------------------


def _unit_choices(course: Course) -> list[tuple[int, str]]:
    scope = facility_scope(me())
    stmt = (
        select(Unit)
        .join(Facility)
        .where(Unit.facility_id.in_(course.facility_ids))
        .order_by(Facility.name, Unit.code)
    )
    if scope is not None:
        stmt = stmt.where(Unit.facility_id.in_(scope))
    return [(u.id, f"{u.facility.name}: {u.name}") for u in db().scalars(stmt)]


def _learners_page(
    course: Course, enrol_form: EnrolForm, class_form: ClassForm, status: int
) -> ResponseReturnValue:
    scope = facility_scope(me())
    stmt = (
        select(Enrolment, Inmate)
        .join(Inmate, Inmate.id == Enrolment.inmate_id)
        .where(Enrolment.course_id == course.id)
        .order_by(Enrolment.status, Inmate.name, Inmate.id)
    )
    if scope is not None:
        stmt = stmt.where(Inmate.facility_id.in_(scope))
    requests = list(db().execute(stmt.where(Enrolment.status == EnrolmentStatus.REQUESTED)).all())
    number = learning_page_number()
    rows = list(
        db()
        .execute(
            stmt.where(Enrolment.status != EnrolmentStatus.REQUESTED)
            .limit(51)
            .offset((number - 1) * 50)
        )
        .all()
    )
    from admin.helpers import Page

    page = Page(items=rows[:50], number=number, has_next=len(rows) > 50)
    return make_response(
        render_template(
            "courses/learners.html",
            course=course,
            requests=requests,
            page=page,
            enrol_form=enrol_form,
            class_form=class_form,
            status_labels=STATUS_LABELS,
            form=ActionForm(),
        ),
        status,
    )


def learning_page_number() -> int:
    """The ?page= of this request."""
    from admin.helpers import page_number

    return page_number()


@bp.get("/courses/<id:course_id>/learners")
@access.staff(Perm.COURSE_MANAGE)
def learners(course_id: int) -> ResponseReturnValue:
    """Learners of the course, requests to join, and ways to enrol."""
    course = _course(course_id)
    class_form = ClassForm(formdata=None)
    class_form.unit.choices = _unit_choices(course)
    return _learners_page(course, EnrolForm(formdata=None), class_form, 200)


@bp.post("/courses/<id:course_id>/learners/enrol")
@access.staff(Perm.COURSE_MANAGE)
def enrol(course_id: int) -> ResponseReturnValue:
    """Enrol one learner by booking number."""
    course = _course(course_id)
    form = EnrolForm()
    class_form = ClassForm(formdata=None)
    class_form.unit.choices = _unit_choices(course)
    if not form.validate():
        return _learners_page(course, form, class_form, 422)
    booking = normalize_booking(form.booking_number.data or "")
    inmate = db().scalars(select(Inmate).where(Inmate.booking_number == booking)).first()
    scope = facility_scope(me())
    if inmate is None or (scope is not None and inmate.facility_id not in scope):
        form.booking_number.errors = [_("No inmate with this booking number in your facilities.")]
        return _learners_page(course, form, class_form, 422)
    try:
        learning.enrol(db(), actor=actor(), staff=me(), course=course, inmate=inmate, now=now())
    except learning.LearningError as exc:
        form.booking_number.errors = [exc.message]
        return _learners_page(course, form, class_form, exc.status)
    flash(_("%(name)s is enrolled.", name=inmate.name), "success")
    return _to("courses.learners", course_id=course.id)


@bp.post("/courses/<id:course_id>/learners/class")
@access.staff(Perm.COURSE_MANAGE)
def enrol_class(course_id: int) -> ResponseReturnValue:
    """Enrol every inmate of a unit."""
    course = _course(course_id)
    form = ClassForm()
    form.unit.choices = _unit_choices(course)
    if not form.validate():
        return _learners_page(course, EnrolForm(formdata=None), form, 422)
    unit = db().get(Unit, form.unit.data)
    if unit is None:
        raise NotFound()
    try:
        added = learning.enrol_unit(
            db(), actor=actor(), staff=me(), course=course, unit=unit, now=now()
        )
    except learning.LearningError as exc:
        form.unit.errors = [exc.message]
        return _learners_page(course, EnrolForm(formdata=None), form, exc.status)
    flash(_("%(n)d learners were enrolled.", n=added), "success")
    return _to("courses.learners", course_id=course.id)


@bp.post("/courses/<id:course_id>/enrolments/<id:enrolment_id>/decide")
@access.staff(Perm.COURSE_MANAGE)
def decide(course_id: int, enrolment_id: int) -> ResponseReturnValue:
    """Accept or decline a request to join."""
    course = _course(course_id)
    row = _part(Enrolment, enrolment_id, course)
    choice = request.form.get("decision", "")
    if not ActionForm().validate() or choice not in ("accept", "decline"):
        flash(_("Choose accept or decline."), "error")
        return _to("courses.learners", course_id=course.id)
    try:
        learning.decide(
            db(),
            actor=actor(),
            staff=me(),
            course=course,
            enrolment=row,
            accept=choice == "accept",
            now=now(),
        )
    except learning.LearningError as exc:
        flash(str(exc.message), "error")
        return _to("courses.learners", course_id=course.id)
    flash(
        _("The learner is enrolled.") if choice == "accept" else _("The request is declined."),
        "success",
    )
    return _to("courses.learners", course_id=course.id)


@bp.post("/courses/<id:course_id>/enrolments/<id:enrolment_id>/withdraw")
@access.staff(Perm.COURSE_MANAGE)
def withdraw(course_id: int, enrolment_id: int) -> ResponseReturnValue:
    """Take a learner out of the course (their work is kept)."""
    course = _course(course_id)
    row = _part(Enrolment, enrolment_id, course)
    if not ActionForm().validate():
        flash(_("The form had expired. Please try again."), "error")
        return _to("courses.learners", course_id=course.id)
    learning.withdraw(db(), actor=actor(), staff=me(), course=course, enrolment=row, now=now())
    flash(_("The learner is taken out of the course."), "success")
    return _to("courses.learners", course_id=course.id)


# Quizzes ----------------------------------------------------------------------------


def _quiz_page(
    course: Course,
    quiz: Quiz | None,
    module: Module,
    form: QuizForm,
    qform: QuestionForm,
    status: int,
) -> ResponseReturnValue:
    questions = learning.questions_of(db(), quiz) if quiz is not None else []
    return make_response(
        render_template(
            "courses/quiz.html",
            course=course,
            module=module,
            quiz=quiz,
            form=form,
            qform=qform,
            questions=questions,
            slots=range(1, CHOICE_SLOTS + 1),
            action=ActionForm(),
        ),
        status,
    )


def _save_quiz(course: Course, module: Module, quiz: Quiz | None) -> ResponseReturnValue:
    form = QuizForm(obj=quiz if request.method == "GET" else None)
    qform = QuestionForm(formdata=None)
    if request.method == "GET":
        return _quiz_page(course, quiz, module, form, qform, 200)
    if not form.validate():
        return _quiz_page(course, quiz, module, form, qform, 422)
    try:
        saved = learning.save_quiz(
            db(),
            actor=actor(),
            course=course,
            module=module,
            quiz=quiz,
            title=form.title.data or "",
            intro=form.intro.data or "",
            pass_mark=form.pass_mark.data,
            max_attempts=form.max_attempts.data,
            now=now(),
        )
    except learning.LearningError as exc:
        _field_error(form, exc, "title")
        return _quiz_page(course, quiz, module, form, qform, exc.status)
    flash(_("The quiz is saved."), "success")
    return _to("courses.quiz", course_id=course.id, quiz_id=saved.id)


@bp.route("/courses/<id:course_id>/modules/<id:module_id>/quizzes/new", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def new_quiz(course_id: int, module_id: int) -> ResponseReturnValue:
    """A new quiz in a module."""
    course = _course(course_id)
    return _save_quiz(course, _part(Module, module_id, course), None)


@bp.route("/courses/<id:course_id>/quizzes/<id:quiz_id>", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def quiz(course_id: int, quiz_id: int) -> ResponseReturnValue:
    """A quiz's settings and questions."""
    course = _course(course_id)
    found = _part(Quiz, quiz_id, course)
    module = db().get(Module, found.module_id)
    assert module is not None  # noqa: S101 - foreign key
    return _save_quiz(course, module, found)


@bp.post("/courses/<id:course_id>/quizzes/<id:quiz_id>/questions")
@access.staff(Perm.COURSE_MANAGE)
def add_question(course_id: int, quiz_id: int) -> ResponseReturnValue:
    """Add a question with its answers."""
    course = _course(course_id)
    found = _part(Quiz, quiz_id, course)
    module = db().get(Module, found.module_id)
    assert module is not None  # noqa: S101 - foreign key
    qform = QuestionForm()
    form = QuizForm(obj=found, formdata=None)
    if not qform.validate():
        return _quiz_page(course, found, module, form, qform, 422)
    choices = [
        (getattr(qform, f"choice_{n}").data or "", bool(getattr(qform, f"right_{n}").data))
        for n in range(1, CHOICE_SLOTS + 1)
    ]
    try:
        learning.add_question(
            db(),
            actor=actor(),
            course=course,
            quiz=found,
            text=qform.text.data or "",
            kind=QuestionKind(qform.kind.data),
            feedback=qform.feedback.data or "",
            choices=choices,
            now=now(),
        )
    except learning.LearningError as exc:
        target = qform.choice_1 if exc.field == "choices" else getattr(qform, exc.field or "text")
        target.errors = [*target.errors, exc.message]
        return _quiz_page(course, found, module, form, qform, exc.status)
    flash(_("The question is added."), "success")
    return _to("courses.quiz", course_id=course.id, quiz_id=found.id)


@bp.post("/courses/<id:course_id>/questions/<id:question_id>/delete")
@access.staff(Perm.COURSE_MANAGE)
def delete_question(course_id: int, question_id: int) -> ResponseReturnValue:
    """Remove a question."""
    course = _course(course_id)
    question = db().get(Question, question_id)
    if question is None:
        raise NotFound()
    found = _part(Quiz, question.quiz_id, course)
    if not ActionForm().validate():
        flash(_("The form had expired. Please try again."), "error")
        return _to("courses.quiz", course_id=course.id, quiz_id=found.id)
    learning.delete_question(db(), actor=actor(), course=course, question=question, now=now())
    flash(_("The question is removed."), "success")
    return _to("courses.quiz", course_id=course.id, quiz_id=found.id)


# Assignments ------------------------------------------------------------------------


def _save_assignment(
    course: Course, module: Module, work: Assignment | None
) -> ResponseReturnValue:
    form = AssignmentForm(obj=work if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                saved = learning.save_assignment(
                    db(),
                    actor=actor(),
                    course=course,
                    module=module,
                    assignment=work,
                    title=form.title.data or "",
                    instructions=form.instructions.data or "",
                    allow_file=bool(form.allow_file.data),
                    now=now(),
                )
            except learning.LearningError as exc:
                _field_error(form, exc, "title")
                status = exc.status
            else:
                flash(_("The assignment is saved."), "success")
                return _to("courses.assignment", course_id=course.id, assignment_id=saved.id)
        else:
            status = 422
    handed: list[tuple[Submission, Inmate]] = []
    if work is not None:
        scope = facility_scope(me())
        stmt = (
            select(Submission, Inmate)
            .join(Inmate, Inmate.id == Submission.inmate_id)
            .where(Submission.assignment_id == work.id)
            .order_by(Submission.marked_at.is_not(None), Submission.submitted_at.desc())
            .limit(200)
        )
        if scope is not None:
            stmt = stmt.where(Inmate.facility_id.in_(scope))
        handed = list(db().execute(stmt).all())
    return make_response(
        render_template(
            "courses/assignment.html",
            course=course,
            module=module,
            work=work,
            form=form,
            handed=handed,
        ),
        status,
    )


@bp.route("/courses/<id:course_id>/modules/<id:module_id>/assignments/new", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def new_assignment(course_id: int, module_id: int) -> ResponseReturnValue:
    """A new assignment in a module."""
    course = _course(course_id)
    return _save_assignment(course, _part(Module, module_id, course), None)


@bp.route("/courses/<id:course_id>/assignments/<id:assignment_id>", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def assignment(course_id: int, assignment_id: int) -> ResponseReturnValue:
    """An assignment and the work handed in."""
    course = _course(course_id)
    work = _part(Assignment, assignment_id, course)
    module = db().get(Module, work.module_id)
    assert module is not None  # noqa: S101 - foreign key
    return _save_assignment(course, module, work)


def _submission(course: Course, submission_id: int) -> tuple[Submission, Inmate, Assignment]:
    row = _part(Submission, submission_id, course)
    inmate = db().get(Inmate, row.inmate_id)
    work = db().get(Assignment, row.assignment_id)
    scope = facility_scope(me())
    if inmate is None or work is None or (scope is not None and inmate.facility_id not in scope):
        raise NotFound()
    return row, inmate, work


@bp.route("/courses/<id:course_id>/submissions/<id:submission_id>", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
def submission(course_id: int, submission_id: int) -> ResponseReturnValue:
    """Read a hand-in and mark it with a grade and a comment."""
    course = _course(course_id)
    row, inmate, work = _submission(course, submission_id)
    form = MarkForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                learning.mark_submission(
                    db(),
                    actor=actor(),
                    staff=me(),
                    course=course,
                    submission=row,
                    grade=form.grade.data or "",
                    comment=form.comment.data or "",
                    accepted=form.outcome.data == "accept",
                    now=now(),
                )
            except learning.LearningError as exc:
                _field_error(form, exc, "grade")
                status = exc.status
            else:
                flash(_("The work is marked."), "success")
                return _to("courses.assignment", course_id=course.id, assignment_id=work.id)
        else:
            status = 422
    return make_response(
        render_template(
            "courses/submission.html",
            course=course,
            sub=row,
            inmate=inmate,
            work=work,
            form=form,
        ),
        status,
    )


@bp.get("/courses/<id:course_id>/submissions/<id:submission_id>/file")
@access.staff(Perm.COURSE_MANAGE)
def submission_file(course_id: int, submission_id: int) -> ResponseReturnValue:
    """The file a learner handed in (always as a download)."""
    course = _course(course_id)
    row, _inmate, _work = _submission(course, submission_id)
    if row.media_file_id is None:
        raise NotFound()
    file = db().get(MediaFile, row.media_file_id)
    assert file is not None  # noqa: S101 - foreign key
    settings = get_state().settings
    return media_service.send_media(
        file,
        instance_path=settings.instance_path,
        accel_prefix=settings.media_accel_prefix,
        inline=False,
    )


# Progress and certificates ----------------------------------------------------------


@bp.get("/courses/<id:course_id>/progress")
@access.staff(Perm.COURSE_MANAGE)
def progress(course_id: int) -> str:
    """Every learner's progress; who is stuck comes first."""
    course = _course(course_id)
    rows = learning.course_progress(db(), course, now=now())
    scope = facility_scope(me())
    if scope is not None:
        rows = [r for r in rows if r.inmate.facility_id in scope]
    only_stuck = request.args.get("stuck") == "1"
    if only_stuck:
        rows = [r for r in rows if r.stuck]
    rows.sort(key=lambda r: (not r.stuck, r.inmate.name))
    return render_template(
        "courses/progress.html",
        course=course,
        rows=rows,
        only_stuck=only_stuck,
        stuck_days=learning.STUCK_AFTER.days,
        form=ActionForm(),
    )


@bp.post("/courses/<id:course_id>/enrolments/<id:enrolment_id>/certificate")
@access.staff(Perm.COURSE_MANAGE)
def certificate(course_id: int, enrolment_id: int) -> ResponseReturnValue:
    """Issue a certificate of completion to a learner who finished."""
    course = _course(course_id)
    row = _part(Enrolment, enrolment_id, course)
    if not ActionForm().validate():
        flash(_("The form had expired. Please try again."), "error")
        return _to("courses.progress", course_id=course.id)
    try:
        cert = learning.issue_certificate(
            db(), actor=actor(), staff=me(), course=course, enrolment=row, now=now()
        )
    except learning.LearningError as exc:
        flash(str(exc.message), "error")
        return _to("courses.progress", course_id=course.id)
    flash(_("The certificate is issued."), "success")
    return _to("certificates.show", certificate_id=cert.id)


# Export and import ------------------------------------------------------------------


class ImportForm(BaseForm):
    """A course package and the facility whose teachers will manage the course."""

    file = FileField(_l("Course package (.zip)"))
    home = SelectField(_l("Written at (its teachers manage it)"), coerce=int, validate_choice=True)


@bp.get("/courses/<id:course_id>/export")
@access.staff(Perm.COURSE_MANAGE)
def export(course_id: int) -> ResponseReturnValue:
    """The whole course (content, files, manifest) as one package file."""
    course = _course(course_id)
    try:
        package = course_package.export_course(
            db(),
            actor=actor(),
            course=course,
            instance_path=get_state().settings.instance_path,
            now=now(),
        )
    except course_package.PackageError as exc:
        flash(str(exc.message), "error")
        return _to("courses.show", course_id=course.id)
    slug = re.sub(r"[^a-z0-9]+", "-", course.title.lower()).strip("-")[:40] or "course"
    return send_file(
        package,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"course-{course.id}-{slug}.zip",
    )


@bp.route("/courses/import", methods=["GET", "POST"])
@access.staff(Perm.COURSE_MANAGE)
@access.upload_limit(course_package.PACKAGE_MAX + media_service.MB)
def import_course() -> ResponseReturnValue:
    """Make a draft course from a package exported elsewhere."""
    form = ImportForm()
    form.home.choices = _home_choices()
    status = 200
    if request.method == "POST":
        if form.validate():
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                form.file.errors = [_("Choose a file.")]
                status = 422
            else:
                try:
                    course = course_package.import_course(
                        db(),
                        actor=actor(),
                        staff=me(),
                        home_facility_id=form.home.data,
                        stream=upload.stream,
                        instance_path=get_state().settings.instance_path,
                        now=now(),
                    )
                except (learning.LearningError, media_service.MediaError) as exc:
                    form.file.errors = [exc.message]
                    status = exc.status
                else:
                    flash(
                        _("The course is imported as a draft. Check it, then publish."), "success"
                    )
                    return _to("courses.show", course_id=course.id)
        else:
            status = 422
    return make_response(render_template("courses/import.html", form=form), status)


# Order ------------------------------------------------------------------------------


@bp.post("/courses/<id:course_id>/lessons/<id:lesson_id>/move")
@access.staff(Perm.COURSE_MANAGE)
def move_lesson(course_id: int, lesson_id: int) -> ResponseReturnValue:
    """Move a lesson up or down in its module."""
    course = _course(course_id)
    lesson = _part(Lesson, lesson_id, course)
    direction = request.form.get("direction", "")
    if ActionForm().validate() and direction in ("up", "down"):
        learning.move_lesson(
            db(), actor=actor(), course=course, lesson=lesson, up=direction == "up", now=now()
        )
    return _to("courses.show", course_id=course.id)


@bp.post("/courses/<id:course_id>/modules/<id:module_id>/move")
@access.staff(Perm.COURSE_MANAGE)
def move_module(course_id: int, module_id: int) -> ResponseReturnValue:
    """Move a module up or down in the course."""
    course = _course(course_id)
    module = _part(Module, module_id, course)
    direction = request.form.get("direction", "")
    if ActionForm().validate() and direction in ("up", "down"):
        learning.move_module(
            db(), actor=actor(), course=course, module=module, up=direction == "up", now=now()
        )
    return _to("courses.show", course_id=course.id)


@bp.get("/courses/learner/<id:inmate_id>")
@access.staff(Perm.COURSE_MANAGE)
def learner(inmate_id: int) -> str:
    """One learner's progress in each course of the teacher's facilities."""
    inmate = visible(Inmate, inmate_id, Perm.COURSE_MANAGE)
    rows = learning.learner_overview(db(), me(), inmate, now=now())
    course_ids = [r.course.id for r in rows]
    attempts = list(
        db()
        .execute(
            select(QuizAttempt, Quiz)
            .join(Quiz, Quiz.id == QuizAttempt.quiz_id)
            .where(QuizAttempt.inmate_id == inmate.id, QuizAttempt.course_id.in_(course_ids))
            .order_by(QuizAttempt.submitted_at.desc(), QuizAttempt.id.desc())
            .limit(100)
        )
        .all()
    )
    handed = list(
        db()
        .execute(
            select(Submission, Assignment)
            .join(Assignment, Assignment.id == Submission.assignment_id)
            .where(Submission.inmate_id == inmate.id, Submission.course_id.in_(course_ids))
            .order_by(Submission.submitted_at.desc(), Submission.id.desc())
            .limit(100)
        )
        .all()
    )
    return render_template(
        "courses/learner.html", inmate=inmate, rows=rows, attempts=attempts, handed=handed
    )


# Deleting ---------------------------------------------------------------------------

_PARTS: dict[str, type[Any]] = {"lesson": Lesson, "quiz": Quiz, "assignment": Assignment}


@bp.post("/courses/<id:course_id>/<any(lesson, quiz, assignment):kind>/<id:part_id>/delete")
@access.staff(Perm.COURSE_MANAGE)
def delete_part(course_id: int, kind: str, part_id: int) -> ResponseReturnValue:
    """Delete a lesson, quiz or assignment that no learner has used yet."""
    course = _course(course_id)
    part = _part(_PARTS[kind], part_id, course)
    if not ActionForm().validate():
        flash(_("The form had expired. Please try again."), "error")
        return _to("courses.show", course_id=course.id)
    try:
        learning.delete_part(db(), actor=actor(), course=course, part=part, now=now())
    except learning.LearningError as exc:
        flash(str(exc.message), "error")
        return make_response(_to("courses.show", course_id=course.id), 303)
    flash(_("Deleted."), "success")
    return _to("courses.show", course_id=course.id)


@bp.post("/courses/<id:course_id>/modules/<id:module_id>/delete")
@access.staff(Perm.COURSE_MANAGE)
def delete_module(course_id: int, module_id: int) -> ResponseReturnValue:
    """Delete an empty module."""
    course = _course(course_id)
    module = _part(Module, module_id, course)
    if not ActionForm().validate():
        flash(_("The form had expired. Please try again."), "error")
        return _to("courses.show", course_id=course.id)
    try:
        learning.delete_module(db(), actor=actor(), course=course, module=module, now=now())
    except learning.LearningError as exc:
        flash(str(exc.message), "error")
        return _to("courses.show", course_id=course.id)
    flash(_("Deleted."), "success")
    return _to("courses.show", course_id=course.id)
