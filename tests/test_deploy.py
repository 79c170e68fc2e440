"""The systemd units and environment file a site installs: unprivileged, hardened, consistent."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.cli import main
from kiosk.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SERVICES = sorted(DEPLOY.glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_every_unit_runs_unprivileged_and_hardened(path: Path) -> None:
    service = unit(path)["Service"]
    assert service["User"] == "kiosk"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["EnvironmentFile"] == "/etc/kiosk/kiosk.env"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_every_command_a_unit_runs_exists(path: Path) -> None:
    service = unit(path)["Service"]
    for key in ("ExecStart", "ExecStartPost"):
        if key not in service:
            continue
        argv = shlex.split(service[key].lstrip("+"))
        if argv[0].endswith("/kiosk"):
            result = CliRunner().invoke(main, [*argv[1:], "--help"])
            assert result.exit_code == 0, (path.name, argv)
        elif argv[0].endswith("/gunicorn"):
            conf = argv[argv.index("-c") + 1].replace("/opt/kiosk/", "")
            assert (ROOT / conf).exists(), conf
            assert argv[-1] in ("kiosk:create_app()", "admin:create_app()")


def test_every_timer_has_its_service() -> None:
    for timer in DEPLOY.glob("*.timer"):
        assert timer.with_suffix(".service").exists(), timer.name


def test_the_environment_example_names_only_known_settings() -> None:
    known = {f"KIOSK_{name.upper()}" for name in Settings.__dataclass_fields__} | {"KIOSK_PKI_DIR"}
    lines = [
        line.split("=", 1)
        for line in (DEPLOY / "kiosk.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    values = dict(lines)
    assert set(values) <= known
    settings = Settings.from_env(environ={**values, "KIOSK_INSTANCE_PATH": "/tmp/x"})  # noqa: S108
    assert settings.behind_proxy
    assert settings.require_client_cert
    assert settings.https
