"""The kiosk command line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import Portal, fresh

from kiosk.cli import main
from kiosk.models import Inmate, Staff, Terminal


@pytest.fixture
def run(settings: Any) -> Any:
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
        "KIOSK_ARGON2_TIME_COST": "1",
        "KIOSK_ARGON2_MEMORY_KIB": "64",
        "KIOSK_ARGON2_PARALLELISM": "1",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_help_explains_every_command(run: Any) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for group in (
        "db",
        "demo",
        "facility",
        "unit",
        "staff",
        "inmate",
        "terminal",
        "audit",
        "serve",
    ):
        assert re.search(rf"^\s+{group}\s+\S", result.output, re.M), group
    for sub in (
        ["staff", "--help"],
        ["inmate", "--help"],
        ["terminal", "--help"],
        ["audit", "--help"],
    ):
        assert run(*sub).exit_code == 0


def test_a_whole_site_is_set_up_from_the_command_line(
    run: Any, db: Any, kiosk_app: Any, clock: Any
) -> None:
    clock.set(dt.datetime.now(dt.UTC))  # the command line runs on the real clock
    assert run("facility", "add", "KUM", "--name", "Kumla").exit_code == 0
    assert (
        run(
            "unit", "add", "A1", "--facility", "KUM", "--name", "Unit A1", "--hours", "00:00-24:00"
        ).exit_code
        == 0
    )
    staff = run(
        "staff", "add", "anna", "--role", "admin", "--role", "security", "--facility", "KUM"
    )
    assert staff.exit_code == 0, staff.output
    assert re.search(r"one-time password .*: [a-z0-9]{4}-", staff.output)
    assert "otpauth://totp/" in staff.output
    inmate = run(
        "inmate", "add", "2026-0100", "--name", "Test Person", "--facility", "KUM", "--unit", "A1"
    )
    assert inmate.exit_code == 0, inmate.output
    pin = re.search(r"first PIN .*: (\d{6})", inmate.output).group(1)
    terminal = run("terminal", "add", "Cell 1", "--unit", "A1")
    assert terminal.exit_code == 0
    code = re.search(r"enrolment code .*: ([0-9A-Z]{5}-[0-9A-Z]{5})", terminal.output).group(1)
    assert fresh(db).query(Staff).filter_by(username="anna").one().roles == {"admin", "security"}
    device = Portal(kiosk_app)
    token = device.token("/terminal/enrol")
    assert (
        device.client.post("/terminal/enrol", data={"csrf_token": token, "code": code}).status_code
        == 302
    )
    assert device.sign_in("2026-0100", pin).status_code == 302
    listing = run("terminal", "list")
    assert "Cell 1" in listing.output
    assert "enrolled" in listing.output


def test_cli_errors_are_clear_and_exit_non_zero(run: Any) -> None:
    missing = run("inmate", "add", "2026-0100", "--name", "X", "--facility", "NOPE", "--unit", "A")
    assert missing.exit_code != 0
    assert "no facility" in missing.output
    bad = run("facility", "add", "bad code!", "--name", "X")
    assert bad.exit_code != 0
    assert "code" in bad.output


def test_inmate_pin_unlock_and_release_from_the_command_line(run: Any, world: Any, db: Any) -> None:
    pin = run("inmate", "pin", "2026-0001")
    assert re.search(r"new PIN for 2026-0001: \d{6}", pin.output)
    assert run("inmate", "unlock", "2026-0001").exit_code == 0
    assert run("inmate", "release", "2026-0001").exit_code == 0
    fresh(db)
    assert (
        fresh(db).query(Inmate).filter_by(booking_number="2026-0001").one().status.value
        == "released"
    )


def test_terminal_revoke_from_the_command_line(run: Any, world: Any, db: Any) -> None:
    terminal_id = world.terminals["a1"][0]
    assert run("terminal", "revoke", str(terminal_id)).exit_code == 0
    fresh(db)
    assert db.get(Terminal, terminal_id).revoked_at is not None


def test_demo_is_idempotent_and_prints_how_to_sign_in(run: Any, db: Any) -> None:
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert "DEMO" in first.output
    assert "2026-0001" in first.output
    assert "admin" in first.output
    second = run("demo")
    assert second.exit_code == 0
    assert fresh(db).query(Inmate).count() == 4
    code1 = re.search(r"([0-9A-Z]{5}-[0-9A-Z]{5})", first.output).group(1)
    code2 = re.search(r"([0-9A-Z]{5}-[0-9A-Z]{5})", second.output).group(1)
    assert code1 != code2, "each run prints a fresh enrolment code"
    totp_code = run("demo-totp", "admin")
    assert re.match(r"\d{6} ", totp_code.output)


def test_demo_refuses_a_database_with_real_data(run: Any, world: Any) -> None:
    result = run("demo")
    assert result.exit_code != 0
    assert "--force" in result.output


def test_demo_totp_refuses_real_accounts(run: Any, world: Any) -> None:
    result = run("demo-totp", "admin")
    assert result.exit_code != 0


def test_db_current_names_the_revisions(run: Any) -> None:
    result = run("db", "current")
    assert result.exit_code == 0
    assert "release:" in result.output


def test_db_analyze_gives_the_planner_statistics(run: Any, world: Any, kiosk_app: Any) -> None:
    engine = kiosk_app.extensions["kiosk"].database.engine
    result = run("db", "analyze")
    assert result.exit_code == 0, result.output
    assert "statistics refreshed" in result.output
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            tables = {row[0] for row in conn.exec_driver_sql("SELECT tbl FROM sqlite_stat1")}
        else:
            tables = {
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
                )
            }
    assert {"inmates", "terminals"} <= tables


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {
        "KIOSK_INSTANCE_PATH": str(tmp_path),
        "KIOSK_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
    }
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code != 0
    assert "kiosk db upgrade" in result.output
