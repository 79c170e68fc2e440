"""Settings from KIOSK_* variables; secrets generated once into the instance folder."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from kiosk.config import ConfigError, Settings, load_or_create_secrets

ROOT = Path(__file__).resolve().parent.parent


def test_settings_come_from_kiosk_variables(tmp_path: Path) -> None:
    env = {
        "KIOSK_INSTANCE_PATH": str(tmp_path / "inst"),
        "KIOSK_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:5432/db",
        "KIOSK_HTTPS": "true",
        "KIOSK_INMATE_IDLE_SECONDS": "120",
        "KIOSK_LANGUAGES": "sv,en,ar",
        "KIOSK_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    settings = Settings.from_env(env)
    assert settings.instance_path == (tmp_path / "inst").resolve()
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.https is True
    assert settings.inmate_idle_seconds == 120
    assert settings.languages == ("sv", "en", "ar")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_sqlite_in_the_instance_folder_is_the_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"KIOSK_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'kiosk.sqlite3'}"
    assert settings.is_sqlite


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KIOSK_HTTPS", "maybe", "KIOSK_HTTPS"),
        ("KIOSK_INMATE_IDLE_SECONDS", "soon", "KIOSK_INMATE_IDLE_SECONDS"),
        ("KIOSK_INMATE_IDLE_SECONDS", "1", "at least"),
        ("KIOSK_DATABASE_URL", "mysql://x/y", "KIOSK_DATABASE_URL"),
        ("KIOSK_DATABASE_URL", "postgresql://u@h/db", "psycopg"),
        ("KIOSK_TIMEZONE", "Mars/Olympus", "KIOSK_TIMEZONE"),
        ("KIOSK_REQUIRE_CLIENT_CERT", "true", "KIOSK_BEHIND_PROXY"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"KIOSK_INSTANCE_PATH": str(tmp_path), name: value})


def test_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path, {})
    second = load_or_create_secrets(tmp_path, {})
    assert first == second
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = json.loads(path.read_text())
    assert len(set(values.values())) == len(values), "every key is different"
    assert first.kiosk_secret_key != first.admin_secret_key


def test_a_secret_given_in_the_environment_wins(tmp_path: Path) -> None:
    secrets = load_or_create_secrets(tmp_path, {"KIOSK_SECRET_KEY": "from-the-vault"})
    assert secrets.kiosk_secret_key == "from-the-vault"


def test_the_instance_folder_is_never_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "instance/secrets.json", "instance/kiosk.sqlite3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == ["instance/secrets.json", "instance/kiosk.sqlite3"]
