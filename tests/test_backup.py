"""Backups: a consistent database and the secrets to read it, owner-only, pruned."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import PG_URL, World
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from kiosk.backup import DATABASE_PG, DATABASE_SQLITE, INSTANCE_TAR, MANIFEST, create_backup, prune
from kiosk.cli import main
from kiosk.models import AuditEvent, Inmate
from kiosk.services import audit
from kiosk.services import media as media_service


def _add_media(db: Any, settings: Any, clock: Any) -> str:
    row = media_service.store(
        db,
        actor=audit.Actor.system("test"),
        instance_path=settings.instance_path,
        stream=io.BytesIO(b"%PDF-1.7\n" + b"x" * 500),
        filename="rules.pdf",
        purpose="test",
        facility_id=None,
        staff_id=None,
        now=clock.now(),
    )
    return str(row.sha256)


def test_a_backup_restores_to_a_database_whose_audit_chain_verifies_with_its_secrets(
    db: Any, world: World, settings: Any, clock: Any, tmp_path: Path
) -> None:
    sha = _add_media(db, settings, clock)
    made = create_backup(settings, tmp_path / "backups", now=clock.now())
    names = {p.name for p in made.path.iterdir()}
    assert {INSTANCE_TAR, MANIFEST} <= names
    assert (DATABASE_PG if PG_URL else DATABASE_SQLITE) in names
    for path in made.path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o700

    restored = tmp_path / "restored"
    with tarfile.open(made.path / INSTANCE_TAR) as tar:
        tar.extractall(restored, filter="data")
    secrets = json.loads((restored / "secrets.json").read_text())
    assert (restored / "media" / sha[:2] / sha).exists()
    assert not list(restored.rglob("*.sqlite3")), "the live database file is never copied"

    manifest = json.loads((made.path / MANIFEST).read_text())
    assert manifest["schema_revision"]
    assert set(manifest["files"]) == names - {MANIFEST}

    if PG_URL:
        listing = subprocess.run(
            ["pg_restore", "--list", str(made.path / DATABASE_PG)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "TABLE DATA public audit_events" in listing
        return
    engine = create_engine(f"sqlite:///{made.path / DATABASE_SQLITE}")
    try:
        with Session(engine) as copy:
            assert copy.scalar(select(func.count()).select_from(Inmate)) == len(world.inmates)
            result = audit.verify(copy, secrets["audit_key"].encode())
            assert result.ok, result.problem
            assert result.checked == copy.scalar(select(func.count()).select_from(AuditEvent))
    finally:
        engine.dispose()


def test_old_backups_are_pruned_after_a_new_one(settings: Any, clock: Any, tmp_path: Path) -> None:
    target = tmp_path / "backups"
    for hours in range(3):
        create_backup(settings, target, now=clock.now() + dt.timedelta(hours=hours))
    removed = prune(target, keep=2)
    assert len(removed) == 1
    assert sorted(p.name for p in target.iterdir()) == [
        "kiosk-20261123T110000Z",
        "kiosk-20261123T120000Z",
    ]


@pytest.mark.skipif(shutil.which("pg_dump") is None and bool(PG_URL), reason="no pg_dump")
def test_the_backup_command_reports_and_audits_the_backup(
    db: Any, world: World, settings: Any, tmp_path: Path
) -> None:
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
    }
    result = CliRunner().invoke(
        main, ["backup", "--to", str(tmp_path / "b"), "--keep", "3"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "backup written" in result.output
    from conftest import audit_actions

    assert audit_actions(db)[-1] == "system.backup"
