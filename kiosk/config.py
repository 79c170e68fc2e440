"""One typed settings object, read from ``KIOSK_*`` variables and the instance folder."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "KIOSK_"
SECRETS_FILE = "secrets.json"


class ConfigError(Exception):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Secrets:
    """Keys that must never be committed: generated once into the instance folder."""

    kiosk_secret_key: str
    admin_secret_key: str
    # Keys the hash chain of the audit log: a database-only attacker cannot re-forge the chain.
    audit_key: str
    # Pre-hashes PINs: a stolen database alone does not let anyone try all 10^6 PINs offline.
    pin_pepper: str
    # Fernet key for secrets at rest (TOTP seeds, later health records).
    data_key: str

    @staticmethod
    def generate() -> Secrets:
        """Fresh random keys."""
        return Secrets(
            kiosk_secret_key=secrets.token_urlsafe(48),
            admin_secret_key=secrets.token_urlsafe(48),
            audit_key=secrets.token_urlsafe(48),
            pin_pepper=secrets.token_urlsafe(48),
            # What Fernet.generate_key() returns, without importing cryptography (about
            # 9 MB resident) into every web worker: 32 random bytes, URL-safe base64.
            data_key=base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"),
        )


def load_or_create_secrets(instance_path: Path, environ: Mapping[str, str]) -> Secrets:
    """Read the instance secrets, creating the file once (atomically, mode 0600) if absent.

    Variables such as ``KIOSK_SECRET_KEY`` override single keys, for sites that keep
    secrets in a vault instead of the instance folder.
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / SECRETS_FILE
    if not path.exists():
        fresh = Secrets.generate()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dataclasses.asdict(fresh), fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if another worker won the race: then everyone reads the winner's file.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    names = {f.name for f in dataclasses.fields(Secrets)}
    missing = names - set(stored)
    if missing:
        # An older file lacks a key that a newer release added: add it without touching the rest.
        extra = dataclasses.asdict(Secrets.generate())
        stored.update({k: extra[k] for k in missing})
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(stored, fh, indent=2)
        os.replace(tmp, path)
    overrides = {
        "kiosk_secret_key": "SECRET_KEY",
        "admin_secret_key": "ADMIN_SECRET_KEY",
        "audit_key": "AUDIT_KEY",
        "pin_pepper": "PIN_PEPPER",
        "data_key": "DATA_KEY",
    }
    for attr, var in overrides.items():
        value = environ.get(ENV_PREFIX + var)
        if value:
            stored[attr] = value
    _check_fernet_key(stored["data_key"])
    if stored["kiosk_secret_key"] == stored["admin_secret_key"]:
        raise ConfigError("KIOSK_SECRET_KEY and KIOSK_ADMIN_SECRET_KEY must differ")
    return Secrets(**{k: str(stored[k]) for k in names})


def _check_fernet_key(value: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ConfigError("KIOSK_DATA_KEY is not a Fernet key") from exc
    if len(raw) != 32:
        raise ConfigError("KIOSK_DATA_KEY is not a Fernet key")


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {value!r}")


def _parse_int(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a whole number") from exc
    if number < minimum:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be at least {minimum}")
    return number


@dataclass(frozen=True)
class Settings:
    """Everything the apps and the command line need to know about this site."""

    instance_path: Path
    database_url: str
    redis_url: str | None = None
    # Prefix of this site's keys in Redis: sites (or test runs) sharing one Redis never meet.
    redis_prefix: str = "kiosk"
    # Serve behind HTTPS: Secure cookies with the __Host- prefix, and HSTS.
    https: bool = False
    # Behind exactly one reviewed nginx hop: trust its X-Forwarded-* headers (ProxyFix, one hop).
    behind_proxy: bool = False
    # Require the terminal's client-certificate fingerprint that nginx passes in this header.
    require_client_cert: bool = False
    client_cert_header: str = "X-Client-Cert"
    default_language: str = "sv"
    languages: tuple[str, ...] = ("sv", "en")
    timezone: str = "Europe/Stockholm"
    inmate_idle_seconds: int = 300
    inmate_absolute_seconds: int = 8 * 3600
    staff_idle_seconds: int = 900
    staff_absolute_seconds: int = 12 * 3600
    # Argon2id cost. RFC 9106's second recommendation: 3 passes over 64 MiB, 4 lanes.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    enrolment_code_hours: int = 24
    # Per app process: a request holds at most two connections (the session store's and
    # the ORM's), so a portal worker's 2 threads need 4 and a staff worker's 4 threads 8;
    # the overflow also covers short side sessions (session-expiry audit, CLI). Two
    # servers of each app: 2 x 3 x 8 + 2 x 2 x 8 = 80, below PostgreSQL's default 100
    # (tests/test_gunicorn.py checks the sum).
    db_pool_size: int = 4
    db_max_overflow: int = 4
    db_echo: bool = False
    rate_limits_enabled: bool = True
    # Behind nginx: the internal location that serves media after the app allowed it
    # (X-Accel-Redirect, e.g. "/_media/"); None serves files from the app itself.
    media_accel_prefix: str | None = None
    log_level: str = "INFO"
    # The reader of whitelisted sites: a deadline for a whole fetch (redirects included),
    # a byte cap per response, how long fetched pages are cached, an extra CA bundle
    # (PEM) for on-site mirrors, and the folder of offline libraries (ZIM files).
    whitelist_timeout_seconds: float = 10.0
    whitelist_max_bytes: int = 5_000_000
    whitelist_cache_seconds: int = 3600
    whitelist_ca_file: str | None = None
    whitelist_zim_path: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        """True when the embedded database is in use."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from ``KIOSK_*`` variables; keyword overrides win (tests use them)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        instance = overrides.pop("instance_path", None) or env.get(ENV_PREFIX + "INSTANCE_PATH")
        instance_path = Path(instance) if instance else Path.cwd() / "instance"
        values["instance_path"] = instance_path.resolve()
        values["database_url"] = env.get(ENV_PREFIX + "DATABASE_URL") or (
            f"sqlite:///{values['instance_path'] / 'kiosk.sqlite3'}"
        )
        if env.get(ENV_PREFIX + "REDIS_URL"):
            values["redis_url"] = env[ENV_PREFIX + "REDIS_URL"]
        bools = ("https", "behind_proxy", "require_client_cert", "db_echo", "rate_limits_enabled")
        ints = {
            "inmate_idle_seconds": 30,
            "inmate_absolute_seconds": 60,
            "staff_idle_seconds": 30,
            "staff_absolute_seconds": 60,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8,
            "argon2_parallelism": 1,
            "enrolment_code_hours": 1,
            "db_pool_size": 1,
            "db_max_overflow": 0,
            "whitelist_timeout_seconds": 1,
            "whitelist_max_bytes": 10_000,
            "whitelist_cache_seconds": 0,
        }
        for name in bools:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse_bool(name, raw)
        for name, minimum in ints.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse_int(name, raw, minimum)
        for name in (
            "client_cert_header",
            "default_language",
            "timezone",
            "log_level",
            "media_accel_prefix",
            "whitelist_ca_file",
            "whitelist_zim_path",
            "redis_prefix",
        ):
            raw = env.get(ENV_PREFIX + name.upper())
            if raw:
                values[name] = raw
        raw_langs = env.get(ENV_PREFIX + "LANGUAGES")
        if raw_langs:
            values["languages"] = tuple(x.strip() for x in raw_langs.split(",") if x.strip())
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that would run insecurely or not at all."""
        if not (
            self.database_url.startswith("sqlite:///") or self.database_url.startswith("postgresql")
        ):
            raise ConfigError(
                "KIOSK_DATABASE_URL must be sqlite:///PATH or postgresql+psycopg://..."
            )
        if self.database_url.startswith("postgresql") and "+psycopg" not in self.database_url:
            raise ConfigError("KIOSK_DATABASE_URL for PostgreSQL must use postgresql+psycopg://")
        if self.default_language not in self.languages:
            raise ConfigError("KIOSK_DEFAULT_LANGUAGE must be one of KIOSK_LANGUAGES")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"KIOSK_TIMEZONE {self.timezone!r} is not a known time zone") from exc
        if self.require_client_cert and not self.behind_proxy:
            # The fingerprint header can be forged by anyone who reaches the app directly.
            raise ConfigError("KIOSK_REQUIRE_CLIENT_CERT needs KIOSK_BEHIND_PROXY")

    @property
    def zim_folder(self) -> Path:
        """Where offline libraries (ZIM files) live: ``<instance>/zim`` unless configured."""
        return (
            Path(self.whitelist_zim_path) if self.whitelist_zim_path else self.instance_path / "zim"
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed."""
        return dataclasses.replace(self, **changes)
