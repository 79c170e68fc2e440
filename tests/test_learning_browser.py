"""End to end in Chromium with JavaScript off: a teacher writes a lesson with a picture and
a quiz, publishes and enrols a learner; the learner reads, passes the quiz and sees the
progress; the teacher sees it too. Pages pass axe-core's WCAG 2.1 A and AA rules and
nothing loads from outside the server."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import World
from playwright.sync_api import expect
from test_browser import axe_violations, browser, live, shot  # noqa: F401 - fixtures

from kiosk.clock import FrozenClock
from kiosk.security import totp

pytestmark = pytest.mark.browser


def png(width: int = 40, height: int = 20) -> bytes:
    """A real (tiny, blue) PNG picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\x0b\x4f\x6c" * width
    raw = zlib.compress(row * height)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def checked(chromium: Any, context: Any, url: str, picture: str | None = None) -> list[str]:
    """axe-core's findings on a page the no-script flow reached (and the width of a picture
    on it): scripts cannot run in the no-script context, so a copy of its session with
    scripts on looks at the same page."""
    clone = chromium.new_context(storage_state=context.storage_state())
    try:
        page = clone.new_page()
        page.goto(url)
        found = axe_violations(page)
        if picture is not None:
            width = page.get_by_role("img", name=picture).evaluate("img => img.naturalWidth")
            if width != 40:
                found.append(f"picture {picture!r} did not load")
        return found
    finally:
        clone.close()


def test_a_teacher_publishes_a_lesson_with_a_picture_and_a_quiz_and_a_learner_passes(
    browser: Any,  # noqa: F811 - the fixture
    live: tuple[str, str],  # noqa: F811 - the fixture
    world: World,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    kiosk_url, admin_url = live
    picture = tmp_path / "tåg.png"
    picture.write_bytes(png())

    # The teacher, on the staff network.
    staff = browser.new_context(
        java_script_enabled=False, viewport={"width": 1366, "height": 900}, locale="en-GB"
    )
    page = staff.new_page()
    page.set_default_timeout(15_000)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(admin_url) else None)
    member = world.staff["teacher"]
    page.goto(admin_url)
    page.get_by_label("User name").fill(member.username)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(totp.current_code(member.secret, clock.now()))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Courses").click()
    assert checked(browser, staff, page.url) == []
    page.get_by_role("link", name="New course").click()
    page.get_by_label("Title").fill("Läsa tidtabeller")
    page.get_by_label("Summary").fill("Att läsa en tidtabell för tåg.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Läsa tidtabeller")).to_be_visible()
    assert checked(browser, staff, page.url) == []
    page.get_by_label("Add a module").fill("Tåg")
    page.get_by_role("button", name="Add", exact=True).click()

    page.get_by_role("link", name="Files").click()
    page.get_by_label("File").set_input_files(str(picture))
    page.get_by_label("Title").fill("Ett tåg")
    page.get_by_label("Alternative text or description").fill("Ett blått tåg vid en perrong")
    page.get_by_role("button", name="Upload").click()
    address = page.locator("dd code").inner_text()
    assert re.fullmatch(r"/media/course/\d+", address)
    assert checked(browser, staff, page.url) == []

    page.get_by_role("link", name="Files of the course").click()
    page.get_by_role("link", name="Läsa tidtabeller").click()
    page.get_by_role("link", name="Add a lesson").click()
    page.get_by_label("Title").fill("Tidtabellen")
    page.get_by_label("Text").fill(
        f"<h2>Avgång</h2><p>Tåget går <strong>08:15</strong>.</p>"
        f'<img src="{address}" alt="Ett blått tåg vid en perrong">'
        '<script>alert("x")</script>'
    )
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("article.lesson")
    expect(preview.get_by_role("heading", name="Avgång")).to_be_visible()
    expect(preview.get_by_role("img", name="Ett blått tåg vid en perrong")).to_be_visible()
    assert "alert" not in preview.inner_html()
    assert checked(browser, staff, page.url) == []
    page.get_by_role("button", name="Save").click()
    saved = page.get_by_role("link", name="See the saved lesson as a learner")
    preview_url = admin_url + (saved.get_attribute("href") or "")
    assert checked(browser, staff, preview_url, picture="Ett blått tåg vid en perrong") == []
    expect(page.get_by_text("The lesson is saved.")).to_be_visible()

    page.get_by_role("link", name="Läsa tidtabeller").click()
    page.get_by_role("link", name="Add a quiz").click()
    page.get_by_label("Title").fill("Förhör om tåg")
    page.get_by_label("Pass mark (percent right)").fill("100")
    page.get_by_role("button", name="Save").click()
    page.get_by_label("Question", exact=True).fill("När går tåget?")
    page.get_by_label("Answer 1", exact=True).fill("07:15")
    page.get_by_label("Answer 2", exact=True).fill("08:15")
    page.get_by_label("Right answer 2").check()
    page.get_by_label("Feedback shown after answering").fill("Titta på tidtabellen: 08:15.")
    page.get_by_role("button", name="Add question").click()
    expect(page.get_by_text("The question is added.")).to_be_visible()
    assert checked(browser, staff, page.url) == []

    page.get_by_role("link", name="Läsa tidtabeller").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("The course is published")).to_be_visible()
    page.get_by_role("link", name="Learners").click()
    page.get_by_label("Booking number").fill("2026-0001")
    page.get_by_role("button", name="Enrol", exact=True).click()
    expect(page.get_by_text("Inmate 1 is enrolled.")).to_be_visible()
    assert checked(browser, staff, page.url) == []
    shot(page, "teacher-learners")

    # The learner, on the cell tablet.
    tablet = browser.new_context(
        java_script_enabled=False, viewport={"width": 1024, "height": 768}, locale="en-GB"
    )
    tablet.add_cookies(
        [{"name": "kiosk_terminal", "value": world.terminals["a1"][1], "url": kiosk_url}]
    )
    reader = tablet.new_page()
    reader.set_default_timeout(15_000)
    reader.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith(kiosk_url) else None
    )
    person = world.inmates["2026-0001"]
    reader.goto(f"{kiosk_url}/sign-in")
    reader.get_by_label("Booking number").fill(person.booking)
    reader.get_by_label("PIN", exact=True).fill(person.pin)
    reader.get_by_role("button", name="Sign in").click()
    reader.get_by_role("link", name="Courses").click()
    assert checked(browser, tablet, reader.url) == []
    reader.get_by_role("link", name="Läsa tidtabeller").click()
    reader.get_by_role("link", name="Tidtabellen").click()
    lesson = reader.locator("article.lesson")
    expect(lesson.get_by_role("heading", name="Avgång")).to_be_visible()
    expect(lesson.get_by_role("img", name="Ett blått tåg vid en perrong")).to_be_visible()
    assert checked(browser, tablet, reader.url, picture="Ett blått tåg vid en perrong") == []
    reader.get_by_role("button", name="For dyslexia").click()
    expect(reader.locator("article.lesson--font-dyslexic")).to_be_visible()
    shot(reader, "learner-lesson-dyslexia-font")
    reader.get_by_role("button", name="I have read this").click()
    expect(reader.get_by_text("Marked as read.")).to_be_visible()

    reader.get_by_role("link", name="Quiz: Förhör om tåg").click()
    reader.get_by_label("07:15").check()
    reader.get_by_role("button", name="Hand in my answers").click()
    expect(reader.get_by_text("Not passed yet")).to_be_visible()
    expect(reader.get_by_text("Titta på tidtabellen: 08:15.")).to_be_visible()
    assert checked(browser, tablet, reader.url) == []
    reader.get_by_label("08:15").check()
    reader.get_by_role("button", name="Hand in my answers").click()
    expect(reader.get_by_text("1 of 1 right (100%)")).to_be_visible()
    expect(reader.get_by_text("Passed", exact=True)).to_be_visible()

    reader.goto(f"{kiosk_url}/learning/progress")
    expect(reader.get_by_text("Lessons read: 1 of 1")).to_be_visible()
    expect(reader.get_by_text("Quizzes passed: 1 of 1")).to_be_visible()
    assert checked(browser, tablet, reader.url) == []
    shot(reader, "learner-progress")

    # The teacher sees it too.
    page.get_by_role("link", name="Läsa tidtabeller").click()
    page.get_by_role("link", name="Progress").click()
    row = page.get_by_role("row", name=re.compile("Inmate 1"))
    expect(row.get_by_role("cell", name="1 / 1").first).to_be_visible()
    expect(row.get_by_role("button", name=re.compile("Issue certificate"))).to_be_visible()
    assert checked(browser, staff, page.url) == []
    assert outside == [], "nothing loads from outside the server"
    tablet.close()
    staff.close()
