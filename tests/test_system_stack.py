"""System tests: real nginx, two gunicorn portal servers, the staff server, TLS, client
certificates and Redis, all on loopback. What a terminal, a staff PC or an attacker on
the network sees."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from stackutil import API_SOURCE, NGINX, Browser, Reply, Stack, free_port

from kiosk.cli import main

pytestmark = pytest.mark.system

REDIS_URL = "redis://127.0.0.1:6379/9"
MISSING_NGINX = "nginx is not installed: run `make test-deps` (Debian package nginx)"


def _missing(message: str) -> None:
    # In CI a missing component is a failure, not a quiet skip.
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def redis_available() -> bool:
    """True when the local Redis answers."""
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


def cli(stack: Stack, *args: str) -> str:
    """Run a `kiosk` command against the stack's database, as a site would."""
    result = CliRunner().invoke(main, list(args), env=stack.settings_env())
    assert result.exit_code == 0, result.output
    return result.output


class World:
    """What the module's stack holds: a unit, inmates, enrolment codes."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        cli(stack, "facility", "add", "NRB", "--name", "Norrby")
        cli(
            stack,
            "unit",
            "add",
            "A",
            "--facility",
            "NRB",
            "--name",
            "Unit A",
            "--hours",
            "00:00-24:00",
        )
        self.pins: dict[str, str] = {}
        for booking in ("2026-0001", "2026-0002"):
            out = cli(
                stack,
                "inmate",
                "add",
                booking,
                "--name",
                f"Inmate {booking[-1]}",
                "--facility",
                "NRB",
                "--unit",
                "A",
            )
            match = re.search(r"first PIN.*: (\d{6})", out)
            assert match, out
            self.pins[booking] = match.group(1)

    def new_terminal(self, name: str) -> tuple[int, str]:
        """A terminal waiting for enrolment, and its one-time code."""
        out = cli(self.stack, "terminal", "add", name, "--unit", "A")
        number = re.search(r"terminal #(\d+)", out)
        code = re.search(r"enrolment code .*: (\S+)", out)
        assert number, out
        assert code, out
        return int(number.group(1)), code.group(1)


def enrol(stack: Stack, world: World, name: str, source: str = "127.0.0.1") -> Browser:
    """A tablet with its own certificate, enrolled through nginx with a one-time code."""
    _, code = world.new_terminal(name)
    tablet = stack.tablet(stack.terminal_cert(name), source=source)
    reply = tablet.post_form("/terminal/enrol", {"code": code})
    assert reply.status == 302, reply.text[:500]
    assert "__Host-kiosk_terminal" in tablet.cookies
    return tablet


def sign_in(tablet: Browser, world: World, booking: str = "2026-0001") -> Reply:
    """An inmate signs in on the tablet."""
    return tablet.post_form("/sign-in", {"booking_number": booking, "pin": world.pins[booking]})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack on SQLite (two servers share the file) and Redis when it answers."""
    if NGINX is None:
        _missing(MISSING_NGINX)
    from kiosk.migrate import upgrade

    root = tmp_path_factory.mktemp("stack")
    database = f"sqlite:///{root / 'kiosk.sqlite3'}"
    upgrade(database)
    running = Stack(root, database, REDIS_URL if redis_available() else None)
    # Its own keys in the shared Redis: other runs on this machine never share its counters.
    running.redis_prefix = f"test-{uuid.uuid4().hex[:12]}"
    try:
        # Generous at nginx here, so the app's own limits can be seen; a test narrows it.
        running.render_nginx(sign_in_rate="6000r/m")
        for name in ("kiosk-a", "kiosk-b", "admin"):
            running.start_app(name)
        running.start_nginx()
        running.wait_apps("kiosk-a", "kiosk-b", "admin")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    """Facility, unit and inmates, made with the `kiosk` command."""
    return World(stack)


@pytest.fixture(scope="module")
def signed_in(stack: Stack, world: World) -> Browser:
    """Tablet A1, enrolled with its certificate, inmate 2026-0001 signed in."""
    tablet = enrol(stack, world, "Tablet A1")
    assert sign_in(tablet, world).status == 302
    return tablet


REQUIRED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_headers(reply: Reply) -> None:
    """Every required header, exactly once."""
    from kiosk.security.headers import STRICT_TRANSPORT_SECURITY

    for name, value in REQUIRED.items():
        assert reply.all(name) == [value], (name, reply.status)
    assert reply.all("Strict-Transport-Security") == [STRICT_TRANSPORT_SECURITY]
    csp = reply.all("Content-Security-Policy")
    assert len(csp) == 1, csp
    assert csp[0].startswith("default-src 'none'")
    assert reply.header("Server") in (None, "nginx"), "no version is named"


def assert_reveals_nothing(reply: Reply) -> None:
    """An error page with no server, version, path or trace in it."""
    text = reply.text.lower()
    for word in ("nginx", "gunicorn", "traceback", "werkzeug", "python", "openssl", "ssl"):
        assert word not in text, word


# Terminal certificates ---------------------------------------------------------------


def test_a_terminal_without_a_certificate_is_refused_at_nginx(stack: Stack, world: World) -> None:
    reply = stack.tablet(None).get("/sign-in")
    assert reply.status == 403
    assert "You cannot open this page" in reply.text
    assert_reveals_nothing(reply)
    assert_headers(reply)


def test_a_certificate_from_another_ca_is_refused(stack: Stack, tmp_path: Path) -> None:
    from kiosk.pki import TerminalCA

    rogue = TerminalCA(tmp_path / "rogue")
    rogue.init("System test terminal CA")  # the same name, another key
    issued = rogue.issue_terminal("Tablet A1")
    tablet = stack.tablet((rogue.dir / issued.cert_path, rogue.dir / issued.key_path))
    reply = tablet.get("/sign-in")
    assert reply.status == 403
    assert_reveals_nothing(reply)


def test_a_revoked_certificate_is_refused_once_nginx_reloads(stack: Stack, world: World) -> None:
    tablet = enrol(stack, world, "Tablet to revoke")
    assert tablet.get("/sign-in").status == 200
    assert tablet.cert is not None
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(tablet.cert[0].read_bytes())
    stack.ca.revoke(format(cert.serial_number, "x"))
    stack.reload_nginx()
    deadline = time.monotonic() + 10
    while (status := tablet.get("/sign-in").status) != 403 and time.monotonic() < deadline:
        time.sleep(0.1)  # the reload is asynchronous: old workers finish first
    assert status == 403


def test_an_enrolled_terminal_signs_in_through_nginx(
    stack: Stack, world: World, signed_in: Browser
) -> None:
    home = signed_in.get("/")
    assert home.status == 200
    assert "Inmate 1" in home.text
    assert_headers(home)
    assert home.header("Cache-Control") == "no-store"


def test_a_session_moved_to_another_terminals_certificate_is_refused(
    stack: Stack, world: World
) -> None:
    tablet = enrol(stack, world, "Tablet A2")
    assert sign_in(tablet, world, "2026-0002").status == 302
    assert tablet.get("/").status == 200
    # Both cookies copied to a device with another valid certificate of the same CA.
    thief = stack.tablet(stack.terminal_cert("Stolen cookies"))
    thief.cookies = dict(tablet.cookies)
    moved = thief.get("/")
    assert moved.status == 302
    assert (moved.header("Location") or "").endswith("/terminal/enrol")
    assert "Inmate 2" not in moved.text


def test_a_fingerprint_header_sent_by_the_client_is_overwritten(stack: Stack, world: World) -> None:
    from cryptography import x509

    from kiosk.pki import fingerprint

    tablet = enrol(stack, world, "Tablet A3")
    assert sign_in(tablet, world, "2026-0002").status == 302
    assert tablet.cert is not None
    real = x509.load_pem_x509_certificate(tablet.cert[0].read_bytes())
    other = stack.tablet(stack.terminal_cert("Forger"))
    other.cookies = dict(tablet.cookies)
    # The forger claims the enrolled tablet's certificate, in every spelling it can think of.
    for name in ("X-Client-Cert", "X_Client_Cert", "x-client-cert"):
        reply = other.get("/", headers={name: fingerprint(real)})
        assert reply.status == 302, name
        assert (reply.header("Location") or "").endswith("/terminal/enrol")


# The staff server -----------------------------------------------------------------------


def test_the_staff_server_refuses_a_source_outside_the_staff_networks(stack: Stack) -> None:
    outsider = stack.staff_pc(source="127.0.0.1")
    for path in ("/sign-in", "/", "/static/css/admin.css", "/api/v1/inmates"):
        reply = outsider.get(path)
        assert reply.status == 403, path
        assert_reveals_nothing(reply)
        assert_headers(reply)
    staff = stack.staff_pc()
    page = staff.get("/sign-in")
    assert page.status == 200
    assert "Password" in page.text
    assert_headers(page)
    # The integration path is closed to staff PCs too: only listed machines reach it.
    assert staff.get("/api/v1/inmates").status == 403


def test_staff_sign_in_with_password_and_code_works_behind_https(
    stack: Stack, world: World
) -> None:
    import datetime as dt

    from conftest import add_staff

    from kiosk.clock import Clock
    from kiosk.config import Settings, load_or_create_secrets
    from kiosk.models import Facility, Role
    from kiosk.security import totp
    from kiosk.web.state import build_state

    settings = Settings.from_env(environ=stack.settings_env())
    state = build_state(
        "test", settings, load_or_create_secrets(settings.instance_path, {}), Clock()
    )
    try:
        with state.database.session() as s:
            facility = s.scalars(select(Facility).where(Facility.code == "NRB")).one()
            member = add_staff(s, state, "officer1", [Role.OFFICER], [facility.id], Clock().now())
    finally:
        state.database.dispose()
    pc = stack.staff_pc()
    first = pc.post_form("/sign-in", {"username": member.username, "password": member.password})
    assert first.status == 302, first.text[:300]
    code = totp.current_code(member.secret, dt.datetime.now(dt.UTC))
    second = pc.post_form("/sign-in/code", {"code": code})
    assert second.status == 302, second.text[:300]
    assert "__Host-staff_session" in pc.cookies, "Secure, host-only cookie behind HTTPS"
    page = pc.get("/")
    assert page.status == 200
    assert "Officer1" in page.text, "the dashboard of the signed-in officer"
    assert_headers(page)


def test_the_integration_path_is_open_to_integration_machines_only_and_without_cookies(
    stack: Stack,
) -> None:
    machine = stack.staff_pc(source=API_SOURCE)
    machine.cookies = {"__Host-staff_session": "stolen"}
    reply = machine.get("/api/v1/nothing-yet")
    assert reply.status == 404, "reaches the staff app (which has no such path yet)"
    assert reply.header("Set-Cookie") is None, "the API path never hands out a cookie"
    assert_headers(reply)
    assert machine.get("/sign-in").status == 403, "an integration machine sees no staff page"


def test_the_inmate_listener_never_serves_the_staff_app(stack: Stack, signed_in: Browser) -> None:
    for path in ("/staff/", "/audit/", "/sign-in/code", "/terminals/"):
        reply = signed_in.get(path)
        assert reply.status == 404, path
        assert "Password" not in reply.text


# Two servers, shared state --------------------------------------------------------------


def test_a_session_stays_valid_while_requests_alternate_between_the_servers(
    stack: Stack, signed_in: Browser
) -> None:
    before = {n: stack.access_log(n).count('"path": "/account/"') for n in ("kiosk-a", "kiosk-b")}
    for _ in range(6):
        reply = signed_in.get("/account/")
        assert reply.status == 200
        assert "Inmate 1" in reply.text
    after = {n: stack.access_log(n).count('"path": "/account/"') for n in ("kiosk-a", "kiosk-b")}
    assert after["kiosk-a"] > before["kiosk-a"], "server A served some"
    assert after["kiosk-b"] > before["kiosk-b"], "server B served some"
    lines = [line for line in stack.access_log("kiosk-a").splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert {"client", "path", "status", "ms", "request_id"} <= set(records[-1])
    assert all("?" not in r["path"] for r in records)
    assert all(r["request_id"] for r in records), "nginx's request id reaches the app log"


def test_a_rate_limit_counts_across_both_servers(stack: Stack) -> None:
    if stack.redis_url is None:
        _missing("Redis is not answering on 127.0.0.1:6379 (apt-get install redis-server)")
    device = stack.tablet(stack.terminal_cert("Guesser"), source="127.0.0.50")
    statuses = [
        device.post_form("/terminal/enrol", {"code": "WRONGCODE1"}).status for _ in range(11)
    ]
    # 10 tries a minute per address, counted in Redis: the 11th is refused by the app,
    # although nginx sent the tries to both servers in turn.
    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429
    for name in ("kiosk-a", "kiosk-b"):
        assert '"path": "/terminal/enrol"' in stack.access_log(name)


def test_nginx_slows_sign_in_guessing_before_the_app_sees_it(stack: Stack) -> None:
    stack.render_nginx(sign_in_rate="1r/m")
    stack.reload_nginx()
    try:
        time.sleep(0.5)  # the old workers hand over to the new configuration
        device = stack.tablet(stack.terminal_cert("Fast guesser"), source="127.0.0.60")
        statuses = []
        for _ in range(8):
            reply = device.post_form("/terminal/enrol", {"code": "WRONGCODE2"})
            statuses.append(reply.status)
        assert 429 in statuses
        refused = device.request("POST", "/terminal/enrol", body=b"code=x")
        assert refused.status == 429
        assert "Too many tries" in refused.text
        assert refused.header("Retry-After") is None, "nginx answered, not the app"
        assert_reveals_nothing(refused)
        assert_headers(refused)
        big = device.request("POST", "/terminal/enrol", body=b"x" * 20_000)
        assert big.status in (413, 429)
        assert_reveals_nothing(big)
    finally:
        stack.render_nginx(sign_in_rate="6000r/m")
        stack.reload_nginx()
        time.sleep(0.5)


# Headers and static files --------------------------------------------------------------


def test_every_response_error_pages_included_carries_the_headers(
    stack: Stack, signed_in: Browser
) -> None:
    for path in ("/", "/account/", "/no-such-page", "/static/css/kiosk.css", "/assets/ui.css"):
        assert_headers(signed_in.get(path))
    assert_headers(signed_in.request("DELETE", "/"))
    assert_headers(stack.tablet(None).get("/"))


def test_static_files_come_from_nginx_with_cache_headers(signed_in: Browser) -> None:
    css = signed_in.get("/static/css/kiosk.css")
    assert css.status == 200
    assert css.header("Cache-Control") == "max-age=3600"
    assert css.header("Expires") is not None
    page = signed_in.get("/")
    assert page.header("Cache-Control") == "no-store"


# Media -----------------------------------------------------------------------------------


def _course_video(stack: Stack, video: bytes, learner: str) -> int:
    """A published course with a video lesson, the learner enrolled; the video's id."""
    from kiosk.clock import Clock
    from kiosk.config import Settings, load_or_create_secrets
    from kiosk.models import CourseLevel, Facility, Inmate, Role
    from kiosk.services import audit, learning
    from kiosk.services import staff as staff_service
    from kiosk.web.state import build_state

    settings = Settings.from_env(environ=stack.settings_env())
    state = build_state(
        "test", settings, load_or_create_secrets(settings.instance_path, {}), Clock()
    )
    actor = audit.Actor.system("test")
    now = state.clock.now()
    try:
        with state.database.session() as s:
            facility = s.scalars(select(Facility).where(Facility.code == "NRB")).one()
            teacher, _password, _seed = staff_service.create_staff(
                s,
                actor=actor,
                actor_staff=None,
                hasher=state.hasher,
                vault=state.vault,
                username=f"teacher{secrets.token_hex(3)}",
                name="Teacher",
                roles=[Role.TEACHER],
                facility_ids=[facility.id],
                all_facilities=False,
                now=now,
            )
            course = learning.create_course(
                s,
                actor=actor,
                staff=teacher,
                title="Video course",
                summary="",
                language="en",
                level=CourseLevel.INTRO,
                home_facility_id=facility.id,
                offered_at=[facility.id],
                open_for_requests=False,
                now=now,
            )
            module = learning.add_module(s, actor=actor, course=course, title="Part 1", now=now)
            lesson = learning.save_lesson(
                s,
                actor=actor,
                staff=teacher,
                course=course,
                module=module,
                lesson=None,
                title="Watch",
                body="Watch the film.",
                now=now,
            )
            item = learning.add_media(
                s,
                actor=actor,
                staff=teacher,
                course=course,
                instance_path=settings.instance_path,
                stream=io.BytesIO(video),
                filename="film.mp4",
                title="Film",
                alt_text="A teacher shows the letters",
                lesson=lesson,
                now=now,
            )
            learning.set_published(s, actor=actor, course=course, published=True, now=now)
            inmate = s.scalars(select(Inmate).where(Inmate.booking_number == learner)).one()
            learning.enrol(s, actor=actor, staff=teacher, course=course, inmate=inmate, now=now)
            return int(item.id)
    finally:
        state.database.dispose()


def test_media_is_served_by_nginx_in_ranges_only_after_the_app_allowed_it(
    stack: Stack, world: World, signed_in: Browser
) -> None:
    video = b"\x00\x00\x00\x18ftypisom" + secrets.token_bytes(200_000)
    media_id = _course_video(stack, video, learner="2026-0001")
    path = f"/media/course/{media_id}"

    part = signed_in.get(path, headers={"Range": "bytes=1000-1999"})
    assert part.status == 206
    assert part.body == video[1000:2000]
    assert part.header("Content-Range") == f"bytes 1000-1999/{len(video)}"
    assert part.header("Content-Type") == "video/mp4"
    assert part.header("X-Accel-Redirect") is None, "the internal path never leaks"
    assert part.all("Content-Security-Policy") == ["default-src 'none'; sandbox"]
    assert part.header("Cache-Control") == "no-store"
    whole = signed_in.get(path)
    assert whole.status == 200
    assert whole.body == video
    assert "inline" in (whole.header("Content-Disposition") or "")
    assert '"path": "/media/course/' in stack.access_log("kiosk-a") + stack.access_log("kiosk-b"), (
        "the app checked access before nginx sent the file"
    )

    # Another inmate, signed in on an enrolled tablet but not on the course: 404, no bytes.
    other = enrol(stack, world, "Tablet not a learner")
    assert sign_in(other, world, "2026-0002").status == 302
    refused = other.get(path, headers={"Range": "bytes=0-99"})
    assert refused.status == 404
    assert video[16:60] not in refused.body
    # Not signed in: to the sign-in page, no bytes.
    anonymous = stack.tablet(signed_in.cert)
    anonymous.cookies = {k: v for k, v in signed_in.cookies.items() if "terminal" in k}
    assert anonymous.get(path).status == 302
    sha = hashlib.sha256(video).hexdigest()
    direct = signed_in.get(f"/_media/{sha[:2]}/{sha}")
    assert direct.status == 404, "the internal location cannot be asked for"


# Failures ---------------------------------------------------------------------------------

# What a client sees when a connection is cut: refused or reset (OSError), or an answer that
# stops early (http.client.IncompleteRead, RemoteDisconnected). Counted as a failed try, so a
# load thread never dies of it unseen.
CUT_OFF = (OSError, http.client.HTTPException)


def _count_failed_enrolments(stack: Stack) -> int:
    from sqlalchemy import create_engine

    from kiosk.models import AuditEvent

    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "terminal.enrol", AuditEvent.outcome == "failed")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_when_one_app_server_dies_under_load_the_other_carries_on(
    stack: Stack, world: World
) -> None:
    before = _count_failed_enrolments(stack)
    cert = stack.terminal_cert("Load tablet")
    results: list[int] = []
    lock = threading.Lock()
    threads = 4
    per_thread = 12

    def client(number: int) -> None:
        for i in range(per_thread):
            # A fresh address per try: each try is one committed audit event, not rate limited.
            device = stack.tablet(cert, source=f"127.0.{10 + number}.{i + 1}")
            try:
                status = device.post_form("/terminal/enrol", {"code": "LOADTEST00"}).status
            except (*CUT_OFF, RuntimeError):
                # Cut off in flight: refused, reset, or the body ended early
                # (IncompleteRead), or the form page itself did not come.
                status = 0
            with lock:
                results.append(status)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    try:
        while len(results) < 8:
            time.sleep(0.02)
        stack.kill_app("kiosk-a")
        for t in workers:
            t.join(timeout=60)
    finally:
        stack.start_app("kiosk-a")
        stack.wait_apps("kiosk-a")
    ok = results.count(422)
    failed = len(results) - ok
    assert len(results) == threads * per_thread
    assert failed <= threads, f"at most the in-flight requests fail: {results}"
    # Every try a client saw answered was committed; none of them is lost.
    assert _count_failed_enrolments(stack) - before >= ok


def test_a_graceful_reload_under_load_drops_no_request(stack: Stack, signed_in: Browser) -> None:
    seen: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                seen.append(signed_in.get("/account/").status)
            except CUT_OFF:
                seen.append(0)

    loaders = [threading.Thread(target=load) for _ in range(3)]
    for t in loaders:
        t.start()
    try:
        time.sleep(0.3)
        booted = stack.access_log("kiosk-b").count("Booting worker")
        # What `systemctl reload kiosk-portal@…` does: new workers, the old ones finish.
        stack.procs["kiosk-b"].send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while stack.access_log("kiosk-b").count("Booting worker") == booted:
            assert time.monotonic() < deadline, "no new worker after SIGHUP"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in loaders:
            t.join(timeout=30)
    assert len(seen) > 10
    assert set(seen) == {200}, f"every request answered: {sorted(set(seen))}"


def test_the_portal_answers_503_while_its_database_is_gone_and_recovers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On PostgreSQL: the connection to the database is cut and refused, then restored."""
    pg_url = os.environ.get("KIOSK_TEST_DATABASE_URL")
    if not pg_url:
        pytest.skip("needs PostgreSQL: set KIOSK_TEST_DATABASE_URL (make test-pg runs it)")
    if NGINX is None:
        _missing(MISSING_NGINX)
    from pgproxy import SwitchableProxy, system_database

    database = system_database(pg_url)
    proxy = SwitchableProxy(database.host, database.port)
    proxy.start()
    root = tmp_path_factory.mktemp("pgstack")
    url = database.url.replace(f"{database.host}:{database.port}", f"127.0.0.1:{proxy.port}")
    running = Stack(root, url, None)
    try:
        running.render_nginx()
        running.start_app("kiosk-a")
        running.start_app("kiosk-b")
        running.start_app("admin")
        running.start_nginx()
        running.wait_apps("kiosk-a", "kiosk-b", "admin")
        world = World(running)
        tablet = enrol(running, world, "Tablet PG")
        assert sign_in(tablet, world).status == 302
        assert tablet.get("/").status == 200

        # Load from other clients all along: they see pages or the 503 page, nothing else.
        seen: list[int] = []
        stop_load = threading.Event()

        def load() -> None:
            while not stop_load.is_set():
                try:
                    seen.append(running.tablet(tablet.cert).get("/sign-in").status)
                except CUT_OFF:
                    seen.append(0)

        loader = threading.Thread(target=load)
        loader.start()
        proxy.stop_database()  # every open connection dies, new ones are refused
        down = [tablet.get("/") for _ in range(4)]
        for reply in down:
            assert reply.status == 503
            assert "not available right now" in reply.text
            assert_reveals_nothing(reply)
            assert reply.header("Retry-After") == "30"

        proxy.start_database()
        deadline = time.monotonic() + 15
        while (reply := tablet.get("/")).status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reply.status == 200, "recovered without restarting an app server"
        assert "Inmate 1" in reply.text, "the session survived the outage"
        assert running.procs["kiosk-a"].poll() is None
        # The server side ends every connection of the database (as a restart or an
        # administrator would): the pool notices before use and the page still comes.
        from sqlalchemy import create_engine, text

        killer = create_engine(database.url)
        try:
            with killer.connect() as conn:
                ended = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
        finally:
            killer.dispose()
        assert ended >= 1
        after_kill = tablet.get("/")
        assert after_kill.status == 200, "pool_pre_ping replaced the dead connections"
        stop_load.set()
        loader.join(timeout=30)
        assert seen
        assert set(seen) <= {200, 302, 503}, f"only pages or the friendly 503: {set(seen)}"
    finally:
        running.stop()
        proxy.close()


def test_make_stack_serves_a_signed_in_inmate_page_through_nginx(tmp_path: Path) -> None:
    """`kiosk stack --check` (what `make stack` runs, then stops): SQLite here, for speed."""
    if NGINX is None:
        _missing(MISSING_NGINX)
    ports = [free_port() for _ in range(6)]
    result = CliRunner().invoke(
        main,
        [
            "stack",
            "--check",
            "--dir",
            str(tmp_path / "stack"),
            "--database-url",
            f"sqlite:///{tmp_path / 'stack.sqlite3'}",
            "--redis-url",
            f"redis://127.0.0.1:{ports[5]}/0",
            "--inmate-port",
            str(ports[0]),
            "--staff-port",
            str(ports[1]),
            "--first-app-port",
            str(ports[2]),
        ],
        env={"KIOSK_ARGON2_TIME_COST": "1", "KIOSK_ARGON2_MEMORY_KIB": "64"},
    )
    assert result.exit_code == 0, result.output
    assert "an inmate signed in through nginx" in result.output
    assert "passphrase" in result.output
    assert (tmp_path / "stack" / "pki" / "crl.pem").exists()


def test_free_ports_are_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)


def test_a_server_whose_port_is_taken_is_reported_not_mistaken_for_the_taker(
    tmp_path: Path,
) -> None:
    """Another process on the port accepts connections; the stack must not take it for its
    own server (CI once saw the portal answer on the staff upstream that way)."""
    import socket

    from kiosk.devstack import AppServer, LocalStack

    with socket.socket() as taker:
        taker.bind(("127.0.0.1", 0))
        taker.listen()
        port = int(taker.getsockname()[1])
        local = LocalStack(
            root=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'kiosk.sqlite3'}",
            redis_url=None,
            servers=[AppServer("admin", "admin", port, "admin:create_app()")],
            inmate_port=free_port(),
            staff_port=free_port(),
            extra_env={"KIOSK_ADMIN_WORKERS": "1"},
        )
        try:
            local.start_app("admin")
            with pytest.raises(RuntimeError, match=f"admin is not the server on port {port}"):
                local.wait_apps("admin")
        finally:
            local.stop()
