"""Demo courses: two published courses with lessons, a quiz and an assignment, written by
the demo teacher (``teacher``), with demo inmates enrolled and one asking to join.

Loaded by ``kiosk demo`` (``kiosk.services.demo``); made once, left alone on later runs.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.models import Course, CourseLevel, Inmate, QuestionKind, Staff
from kiosk.services import learning
from kiosk.services.audit import Actor

SWEDISH = "Svenska för vardagen"
MONEY = "Pengar i vardagen"

_LESSON_1 = """<h2>Hälsa på någon</h2>
<p>När vi träffar någon säger vi ofta <strong>hej</strong>. Det passar nästan alltid.</p>
<ul>
<li><strong>Hej!</strong> - till alla</li>
<li><strong>God morgon!</strong> - på morgonen</li>
<li><strong>Hej då!</strong> - när du går</li>
</ul>
<table>
<caption>Några fraser</caption>
<thead><tr><th scope="col">Svenska</th><th scope="col">English</th></tr></thead>
<tbody>
<tr><td>Hur mår du?</td><td>How are you?</td></tr>
<tr><td>Tack, bra.</td><td>Fine, thanks.</td></tr>
</tbody>
</table>
<blockquote>Tips: säg fraserna högt när du läser.</blockquote>"""

_LESSON_2 = """Svenska har tre extra bokstäver: Å, Ä och Ö.

De kommer sist i alfabetet, efter Z.

Öva: skriv ditt namn och tre ord som har å, ä eller ö."""

_LESSON_3 = """<h2>Skriva en kort text</h2>
<ol>
<li>Börja med vem du är.</li>
<li>Skriv vad du tycker om att göra.</li>
<li>Avsluta med något du vill lära dig.</li>
</ol>
<p>Exempel:</p>
<pre>Jag heter Sam. Jag tycker om att laga mat.
Jag vill lära mig att skriva brev.</pre>"""

_MONEY_1 = """<h2>A budget in four steps</h2>
<ol>
<li>Write down what comes in each month.</li>
<li>Write down what goes out: food, phone, debts.</li>
<li>Take what goes out from what comes in.</li>
<li>Decide what to save, even if it is a little.</li>
</ol>
<p>More help: <a href="https://www.konsumentverket.se/">Konsumentverket</a>
(opens only where the site is on the whitelist).</p>"""

_MONEY_2 = """Debts grow when interest is added every month.

Pay the debt with the highest interest first, and always talk to the one you owe
before you miss a payment."""


def load(session: Session, *, now: dt.datetime) -> None:
    """Make the demo courses unless they exist already."""
    teacher = session.scalars(select(Staff).where(Staff.username == "teacher")).first()
    if teacher is None or not teacher.facility_ids:
        return
    if session.scalars(select(Course.id).where(Course.title == SWEDISH)).first() is not None:
        return
    actor = Actor.system("kiosk demo")
    home = min(teacher.facility_ids)
    inmates = {
        i.booking_number: i
        for i in session.scalars(select(Inmate).where(Inmate.facility_id == home))
    }

    swedish = learning.create_course(
        session,
        actor=actor,
        staff=teacher,
        title=SWEDISH,
        summary="Hälsa, presentera dig och skriva korta texter på enkel svenska.",
        language="sv",
        level=CourseLevel.INTRO,
        home_facility_id=home,
        offered_at=[home],
        open_for_requests=True,
        now=now,
    )
    part1 = learning.add_module(session, actor=actor, course=swedish, title="Att prata", now=now)
    part2 = learning.add_module(session, actor=actor, course=swedish, title="Att skriva", now=now)
    for module, title, body in (
        (part1, "Hälsa och presentera dig", _LESSON_1),
        (part1, "Å, Ä och Ö", _LESSON_2),
        (part2, "En kort text om dig", _LESSON_3),
    ):
        learning.save_lesson(
            session,
            actor=actor,
            staff=teacher,
            course=swedish,
            module=module,
            lesson=None,
            title=title,
            body=body,
            now=now,
        )
    quiz = learning.save_quiz(
        session,
        actor=actor,
        course=swedish,
        module=part1,
        quiz=None,
        title="Fraser och bokstäver",
        intro="Två frågor om det du har läst.",
        pass_mark=50,
        max_attempts=3,
        now=now,
    )
    learning.add_question(
        session,
        actor=actor,
        course=swedish,
        quiz=quiz,
        text="Vad säger du när du går?",
        kind=QuestionKind.SINGLE,
        feedback="Hej då! säger du när du går.",
        choices=[("God morgon!", False), ("Hej då!", True), ("Tack, bra.", False)],
        now=now,
    )
    learning.add_question(
        session,
        actor=actor,
        course=swedish,
        quiz=quiz,
        text="Vilka bokstäver kommer efter Z?",
        kind=QuestionKind.MULTIPLE,
        feedback="Å, Ä och Ö kommer efter Z.",
        choices=[("Å", True), ("Ä", True), ("Ö", True), ("Y", False)],
        now=now,
    )
    learning.save_assignment(
        session,
        actor=actor,
        course=swedish,
        module=part2,
        assignment=None,
        title="Skriv om dig själv",
        instructions="Skriv tre meningar om dig själv, som i exemplet.",
        allow_file=False,
        now=now,
    )
    learning.set_published(session, actor=actor, course=swedish, published=True, now=now)

    money = learning.create_course(
        session,
        actor=actor,
        staff=teacher,
        title=MONEY,
        summary="Make a budget and keep debts small.",
        language="en",
        level=CourseLevel.BASIC,
        home_facility_id=home,
        offered_at=[home],
        open_for_requests=True,
        now=now,
    )
    basics = learning.add_module(session, actor=actor, course=money, title="Basics", now=now)
    for title, body in (("A budget", _MONEY_1), ("Debts", _MONEY_2)):
        learning.save_lesson(
            session,
            actor=actor,
            staff=teacher,
            course=money,
            module=basics,
            lesson=None,
            title=title,
            body=body,
            now=now,
        )
    money_quiz = learning.save_quiz(
        session,
        actor=actor,
        course=money,
        module=basics,
        quiz=None,
        title="Check yourself",
        intro="",
        pass_mark=100,
        max_attempts=0,
        now=now,
    )
    learning.add_question(
        session,
        actor=actor,
        course=money,
        quiz=money_quiz,
        text="Which debt do you pay first?",
        kind=QuestionKind.SINGLE,
        feedback="The one with the highest interest costs the most.",
        choices=[("The smallest", False), ("The one with the highest interest", True)],
        now=now,
    )
    learning.set_published(session, actor=actor, course=money, published=True, now=now)

    for booking in ("2026-0001", "2026-0002", "2026-0004"):
        if booking in inmates:
            learning.enrol(
                session,
                actor=actor,
                staff=teacher,
                course=swedish,
                inmate=inmates[booking],
                now=now,
            )
    if "2026-0003" in inmates:
        learning.request_to_join(
            session, actor=actor, inmate=inmates["2026-0003"], course_id=money.id, now=now
        )
