"""What one app instance holds: settings, secrets, database, hasher, vault and clock."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from kiosk.clock import Clock
from kiosk.config import Secrets, Settings
from kiosk.db import Database
from kiosk.security.crypto import Vault
from kiosk.security.passwords import SecretHasher

EXTENSION = "kiosk"


@dataclass
class KioskState:
    """Per-app services, kept in ``app.extensions["kiosk"]``."""

    app_name: str
    settings: Settings
    secrets: Secrets
    database: Database
    hasher: SecretHasher
    vault: Vault
    clock: Clock


def build_state(app_name: str, settings: Settings, secrets: Secrets, clock: Clock) -> KioskState:
    """Make the services of one app from its settings."""
    database = Database(
        settings.database_url,
        audit_key=secrets.audit_key.encode(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        echo=settings.db_echo,
    )
    hasher = SecretHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        pin_pepper=secrets.pin_pepper,
    )
    return KioskState(
        app_name=app_name,
        settings=settings,
        secrets=secrets,
        database=database,
        hasher=hasher,
        vault=Vault(secrets.data_key),
        clock=clock,
    )


def get_state(app: Flask | None = None) -> KioskState:
    """The services of the current (or given) app."""
    target = app if app is not None else current_app
    state = target.extensions[EXTENSION]
    assert isinstance(state, KioskState)  # noqa: S101 - a programming error, not input
    return state
