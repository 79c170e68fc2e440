"""Backups of the database and the instance folder (`kiosk backup`).

One backup is one folder ``kiosk-<UTC time>/`` holding:

- the database: ``kiosk.sqlite3`` (SQLite's online backup, consistent while the apps
  write) or ``kiosk.pgdump`` (``pg_dump --format=custom``, one consistent snapshot);
- ``instance.tar.gz``: ``secrets.json`` (without it PINs, TOTP seeds and the audit chain
  cannot be checked), uploaded media and the terminal PKI when they live there;
- ``manifest.json``: when, which schema revision, and each file's SHA-256.

Everything is readable by its owner only: a backup holds every secret of the site.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from kiosk.config import SECRETS_FILE, Settings

DATABASE_SQLITE = "kiosk.sqlite3"
DATABASE_PG = "kiosk.pgdump"
INSTANCE_TAR = "instance.tar.gz"
MANIFEST = "manifest.json"
PREFIX = "kiosk-"


class BackupError(Exception):
    """A backup could not be made; the message says why."""


@dataclass(frozen=True)
class Backup:
    """One finished backup."""

    path: Path
    files: dict[str, str]  # name -> sha256


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dump_sqlite(url: str, target: Path) -> None:
    source_path = make_url(url).database
    if not source_path or not Path(source_path).exists():
        raise BackupError(f"no SQLite database at {source_path}")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            # The online backup API copies a consistent snapshot while the apps keep writing.
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()


def _dump_postgres(url: str, target: Path) -> None:
    parsed = make_url(url)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (Debian package postgresql-client)")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)  # never on the command line (ps shows it)
    args = [pg_dump, "--format=custom", "--no-owner", "--file", str(target)]
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    args.append(str(parsed.database))
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")


def _instance_tar(instance: Path, target: Path) -> None:
    def skip_databases(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = Path(info.name).name
        # The database is backed up consistently on its own; a file copy of it is not.
        if ".sqlite3" in name or name.startswith(".upload-"):
            return None
        return info

    with tarfile.open(target, "w:gz") as tar:
        for name in (SECRETS_FILE, "media", "pki"):
            path = instance / name
            if path.exists():
                tar.add(path, arcname=name, filter=skip_databases)


def create_backup(settings: Settings, target_dir: Path, *, now: dt.datetime) -> Backup:
    """Back up the database and the instance folder into a new folder under ``target_dir``."""
    from kiosk.db import create_db_engine
    from kiosk.migrate import current_revision

    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = target_dir / f"{PREFIX}{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    try:
        out.mkdir(mode=0o700)
    except FileExistsError as exc:
        raise BackupError(f"{out} exists already") from exc
    try:
        if settings.is_sqlite:
            _dump_sqlite(settings.database_url, out / DATABASE_SQLITE)
        else:
            _dump_postgres(settings.database_url, out / DATABASE_PG)
        _instance_tar(settings.instance_path, out / INSTANCE_TAR)
        engine = create_db_engine(settings.database_url, pool_size=1, max_overflow=0)
        try:
            revision = current_revision(engine)
        finally:
            engine.dispose()
        files = {p.name: _sha256(p) for p in sorted(out.iterdir())}
        manifest = {
            "created_at": now.astimezone(dt.UTC).isoformat(),
            "database": "sqlite" if settings.is_sqlite else "postgresql",
            "schema_revision": revision,
            "files": files,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        for path in out.iterdir():
            os.chmod(path, 0o600)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave half a backup that looks whole
        raise
    return Backup(out, files)


def prune(target_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    backups = sorted(
        (p for p in target_dir.glob(f"{PREFIX}*") if (p / MANIFEST).exists()),
        key=lambda p: p.name,
    )
    doomed = backups[:-keep] if keep > 0 else backups
    for path in doomed:
        shutil.rmtree(path)
    return doomed
