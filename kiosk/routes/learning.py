"""Learning in the portal: my courses, the catalogue, lessons, media, quizzes, assignments,
progress. A learner opens only published courses offered at their facility, and studies
only those they are enrolled in; anything else answers 404."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from wtforms import FileField, HiddenField, TextAreaField
from wtforms.validators import Length

from kiosk.errors import NotFound
from kiosk.i18n import _, _l
from kiosk.models import Certificate, Inmate, MediaFile, Submission
from kiosk.routes.tiles import Tile, register_tile
from kiosk.security.policy import may_study
from kiosk.services import learning
from kiosk.services import media as media_service
from kiosk.web import access
from kiosk.web.context import actor, db, now, user
from kiosk.web.forms import BaseForm
from kiosk.web.state import get_state

bp = Blueprint("learning", __name__)

register_tile(
    Tile(
        endpoint="learning.index",
        title=_l("Courses"),
        description=_l("Read lessons, take quizzes and hand in your work."),
        icon="book",
        order=100,
    )
)

# Reading settings kept in the (server-side) session: spacing and font of lesson text.
READING_SPACING = ("normal", "wide")
READING_FONTS = ("standard", "hyperlegible", "dyslexic")
# A hand-in: the largest file a learner may add (a PDF), and the form around it.
HAND_IN_MAX = media_service.KINDS["application/pdf"].max_bytes + media_service.MB


class ActionForm(BaseForm):
    """A button that changes something (CSRF only)."""


class ReadingForm(BaseForm):
    """Spacing and font for lesson text."""

    spacing = HiddenField()
    font = HiddenField()
    next = HiddenField()


class HandInForm(BaseForm):
    """An answer to an assignment, and a file when the teacher allows one."""

    text = TextAreaField(
        _l("Your answer"),
        validators=[Length(max=Submission.TEXT_MAX)],
    )
    file = FileField(_l("A file (PDF or picture, optional)"))


def _learner() -> Inmate:
    inmate = user()
    if not isinstance(inmate, Inmate):
        raise NotFound()
    return inmate


def reading_settings() -> dict[str, str]:
    """The learner's reading settings (with defaults)."""
    spacing = session.get("reading_spacing", "normal")
    font = session.get("reading_font", "standard")
    return {
        "spacing": spacing if spacing in READING_SPACING else "normal",
        "font": font if font in READING_FONTS else "standard",
    }


@bp.get("/learning/")
@access.inmate()
def index() -> str:
    """My courses, and the courses I may ask to join."""
    mine, catalogue = learning.learner_courses(db(), _learner())
    return render_template("learning/index.html", mine=mine, catalogue=catalogue, form=ActionForm())


@bp.get("/learning/courses/<id:course_id>")
@access.inmate()
def course(course_id: int) -> str:
    """A course: its outline when I take it, else what it is about and a way to join."""
    inmate = _learner()
    found = learning.visible_course(db(), inmate, course_id)
    enrolment = learning.enrolment_of(db(), found.id, inmate.id)
    studying = may_study(inmate, found, enrolment)
    parts = learning.outline(db(), found) if studying else []
    read = learning.read_lesson_ids(db(), inmate.id, found.id) if studying else set()
    progress = (
        learning.course_progress(db(), found, now=now(), inmate_ids=[inmate.id]) if studying else []
    )
    return render_template(
        "learning/course.html",
        course=found,
        enrolment=enrolment,
        studying=studying,
        parts=parts,
        read=read,
        progress=progress[0] if progress else None,
        form=ActionForm(),
    )


@bp.post("/learning/courses/<id:course_id>/join")
@access.inmate()
def join(course_id: int) -> ResponseReturnValue:
    """Ask the teacher for a place in the course."""
    form = ActionForm()
    if not form.validate():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("learning.course", course_id=course_id), 303)
    try:
        learning.request_to_join(
            db(), actor=actor(), inmate=_learner(), course_id=course_id, now=now()
        )
    except learning.Conflict as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("learning.course", course_id=course_id), 303)
    flash(_("You have asked to join. Your teacher will answer."), "success")
    return redirect(url_for("learning.course", course_id=course_id), 303)


@bp.get("/learning/lessons/<id:lesson_id>")
@access.inmate()
def lesson(lesson_id: int) -> str:
    """A lesson to read, with its pictures, sound, video and documents."""
    view = learning.learner_lesson(db(), _learner(), lesson_id)
    return render_template(
        "learning/lesson.html",
        view=view,
        reading=reading_settings(),
        form=ActionForm(),
        reading_form=ReadingForm(),
    )


@bp.post("/learning/lessons/<id:lesson_id>/read")
@access.inmate()
def mark_read(lesson_id: int) -> ResponseReturnValue:
    """Mark a lesson as read, then go on to the next one."""
    form = ActionForm()
    if not form.validate():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("learning.lesson", lesson_id=lesson_id), 303)
    learning.mark_read(db(), actor=actor(), inmate=_learner(), lesson_id=lesson_id, now=now())
    view = learning.learner_lesson(db(), _learner(), lesson_id)
    flash(_("Marked as read."), "success")
    if view.next_id is not None:
        return redirect(url_for("learning.lesson", lesson_id=view.next_id), 303)
    return redirect(url_for("learning.course", course_id=view.course.id), 303)


@bp.post("/learning/reading")
@access.inmate()
def reading() -> ResponseReturnValue:
    """Choose spacing and font for lesson text."""
    form = ReadingForm()
    target = url_for("learning.index")
    if form.validate():
        if form.spacing.data in READING_SPACING:
            session["reading_spacing"] = form.spacing.data
        if form.font.data in READING_FONTS:
            session["reading_font"] = form.font.data
        from kiosk.web.forms import safe_next

        target = safe_next(form.next.data, target)
    return redirect(target, 303)


@bp.get("/media/course/<id:media_id>")
@access.inmate()
def media(media_id: int) -> ResponseReturnValue:
    """A file of a course I take (ranges for scrubbing video)."""
    item = learning.learner_media(db(), _learner(), media_id)
    settings = get_state().settings
    return media_service.send_media(
        item.file,
        instance_path=settings.instance_path,
        accel_prefix=settings.media_accel_prefix,
        inline=request.args.get("download") != "1",
    )


@bp.route("/learning/quizzes/<id:quiz_id>", methods=["GET", "POST"])
@access.inmate()
@access.upload_limit(form_parts=2000)  # one form part per chosen answer
def quiz(quiz_id: int) -> ResponseReturnValue:
    """Answer a quiz as a plain form; the result and the feedback show at once."""
    inmate = _learner()
    found_course, state = learning.learner_quiz(db(), inmate, quiz_id)
    form = ActionForm()
    status = 200
    error = None
    result = None
    if request.method == "POST":
        if not form.validate():
            error = _("The form had expired. Please try again.")
            status = 400
        else:
            answers: dict[int, list[int]] = {}
            for question in state.questions:
                raw = request.form.getlist(f"q{question.id}")
                answers[question.id] = [
                    int(v) for v in raw if v.isascii() and v.isdigit() and len(v) <= 12
                ][:50]
            missing = [q for q in state.questions if not answers.get(q.id)]
            if missing:
                error = _("Answer every question before you hand in.")
                status = 422
            else:
                try:
                    result = learning.submit_attempt(
                        db(),
                        actor=actor(),
                        inmate=inmate,
                        quiz_id=quiz_id,
                        answers=answers,
                        now=now(),
                    )
                except learning.AttemptsUsedUp as exc:
                    error = str(exc.message)
                    status = exc.status
                else:
                    found_course, state = learning.learner_quiz(db(), inmate, quiz_id)
    shown = result or (state.attempts[-1] if state.attempts and request.method == "GET" else None)
    return make_response(
        render_template(
            "learning/quiz.html",
            course=found_course,
            state=state,
            form=form,
            error=error,
            result=shown,
            chosen=learning.attempt_answers(shown) if shown else {},
            previous=request.form if status != 200 else {},
            just_marked=result is not None,
        ),
        status,
    )


@bp.route("/learning/assignments/<id:assignment_id>", methods=["GET", "POST"])
@access.inmate()
@access.upload_limit(HAND_IN_MAX)
def assignment(assignment_id: int) -> ResponseReturnValue:
    """Read an assignment, hand in work, see the mark and the teacher's comment."""
    inmate = _learner()
    found_course, work, handed = learning.learner_assignment(db(), inmate, assignment_id)
    form = HandInForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            upload = request.files.get("file") if work.allow_file else None
            stream = upload.stream if upload is not None and upload.filename else None
            try:
                learning.hand_in(
                    db(),
                    actor=actor(),
                    inmate=inmate,
                    assignment_id=work.id,
                    text=form.text.data or "",
                    instance_path=get_state().settings.instance_path,
                    file=stream,
                    filename=upload.filename or "" if upload is not None else "",
                    now=now(),
                )
            except (learning.LearningError, media_service.MediaError) as exc:
                target = form.file if exc.field == "file" else form.text
                target.errors = [*target.errors, exc.message]
                status = exc.status
            else:
                flash(_("Your work is handed in. Your teacher will mark it."), "success")
                return redirect(url_for("learning.assignment", assignment_id=work.id), 303)
        else:
            status = 422
    return make_response(
        render_template(
            "learning/assignment.html",
            course=found_course,
            work=work,
            handed=handed,
            form=form,
            may_hand_in=not any(s.accepted for s in handed)
            and not any(s.marked_at is None for s in handed),
        ),
        status,
    )


@bp.get("/learning/submissions/<id:submission_id>/file")
@access.inmate()
def submission_file(submission_id: int) -> ResponseReturnValue:
    """The file I handed in."""
    inmate = _learner()
    row = db().get(Submission, submission_id)
    if row is None or row.inmate_id != inmate.id or row.media_file_id is None:
        raise NotFound()
    learning.studied_course(db(), inmate, row.course_id)
    file = db().get(MediaFile, row.media_file_id)
    assert file is not None  # noqa: S101 - foreign key
    settings = get_state().settings
    return media_service.send_media(
        file,
        instance_path=settings.instance_path,
        accel_prefix=settings.media_accel_prefix,
        inline=False,
    )


@bp.get("/learning/progress")
@access.inmate()
def progress() -> str:
    """How far I have come in each course."""
    rows = learning.learner_progress(db(), _learner(), now=now())
    return render_template("learning/progress.html", rows=rows)


@bp.get("/learning/certificates/<id:certificate_id>")
@access.inmate()
def certificate(certificate_id: int) -> str:
    """My certificate of completion, to show or print."""
    cert = db().get(Certificate, certificate_id)
    if cert is None or cert.inmate_id != _learner().id or cert.revoked_at is not None:
        raise NotFound()
    return render_template("learning/certificate.html", cert=cert)
