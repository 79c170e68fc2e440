"""The ``kiosk`` command: database, demo data, accounts, terminals, audit and serving."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.clock import Clock
from kiosk.config import ConfigError, Secrets, Settings, load_or_create_secrets
from kiosk.errors import DomainError
from kiosk.models import Facility, Inmate, InmateStatus, Role, Staff, Terminal, Unit
from kiosk.services.audit import Actor
from kiosk.web.state import KioskState, build_state


@dataclass
class Env:
    """What every command needs: settings, secrets, services and a Flask app for translations."""

    settings: Settings
    secrets: Secrets
    state: KioskState
    app: Flask

    @property
    def now(self) -> dt.datetime:
        """The current time."""
        return self.state.clock.now()

    @property
    def actor(self) -> Actor:
        """The operator at the command line, for the audit trail."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return Actor.system(f"cli:{who}")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session inside an app context (messages are in English here)."""
        with self.app.app_context(), self.state.database.session() as session:
            yield session


def _env() -> Env:
    try:
        settings = Settings.from_env()
        secrets = load_or_create_secrets(settings.instance_path, os.environ)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    state = build_state("cli", settings, secrets, Clock())
    app = Flask("kiosk.cli")
    from flask_babel import Babel

    from kiosk.i18n import TRANSLATIONS_DIR

    Babel(app, default_locale="en", default_translation_directories=str(TRANSLATIONS_DIR))
    return Env(settings=settings, secrets=secrets, state=state, app=app)


def _fail(exc: DomainError) -> click.ClickException:
    return click.ClickException(str(exc.message))


def _facility(session: Session, code: str) -> Facility:
    facility = session.scalars(
        select(Facility).where(Facility.code == code.strip().upper())
    ).first()
    if facility is None:
        raise click.ClickException(f"no facility with code {code!r} (see `kiosk facility list`)")
    return facility


def _unit(session: Session, facility: Facility | None, code: str) -> Unit:
    stmt = select(Unit).where(Unit.code == code.strip().upper())
    if facility is not None:
        stmt = stmt.where(Unit.facility_id == facility.id)
    found = list(session.scalars(stmt))
    if not found:
        raise click.ClickException(f"no unit with code {code!r} (see `kiosk unit list`)")
    if len(found) > 1:
        raise click.ClickException(f"several facilities have unit {code!r}: add --facility")
    return found[0]


def _require_schema(env: Env) -> None:
    from kiosk.migrate import current_revision, head_revision

    current = current_revision(env.state.database.engine)
    head = head_revision(env.settings.database_url)
    if current != head:
        raise click.ClickException(
            f"the database is at revision {current or 'none'}, this release needs {head}: "
            "run `kiosk db upgrade` first"
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Secure inmate kiosk and learning platform.

    Settings come from KIOSK_* environment variables: KIOSK_DATABASE_URL (default: SQLite in
    the instance folder), KIOSK_INSTANCE_PATH (default: ./instance), KIOSK_REDIS_URL and more;
    see the README.
    """


# Database --------------------------------------------------------------------


@main.group()
def db() -> None:
    """Create and migrate the database schema (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema to the newest revision."""
    from kiosk.migrate import upgrade

    env = _env()
    upgrade(env.settings.database_url, revision)
    click.echo(f"database is at revision {revision}: {_safe_url(env.settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Print the schema revision of the database and of this release."""
    from kiosk.migrate import current_revision, head_revision

    env = _env()
    click.echo(f"database: {current_revision(env.state.database.engine) or 'empty'}")
    click.echo(f"release:  {head_revision(env.settings.database_url)}")


@db.command("analyze")
def db_analyze() -> None:
    """Refresh the query planner's statistics (daily: kiosk-analyze.timer)."""
    from kiosk.db import analyze

    env = _env()
    took = analyze(env.state.database.engine)
    click.echo(f"statistics refreshed in {took:.1f} s: {_safe_url(env.settings.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# Demo --------------------------------------------------------------------------


@main.command()
@click.option("--force", is_flag=True, help="Add demo data even to a database with real data.")
@click.option("--kiosk-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--admin-url", default="http://127.0.0.1:8001", show_default=True)
def demo(force: bool, kiosk_url: str, admin_url: str) -> None:
    """Load demo data (idempotent) and print how to sign in. DEMO ONLY."""
    from kiosk.services import demo as demo_service

    env = _env()
    _require_schema(env)
    with env.session() as session:
        try:
            result = demo_service.load(
                session, hasher=env.state.hasher, vault=env.state.vault, now=env.now, force=force
            )
        except DomainError as exc:
            raise _fail(exc) from exc
    bar = "=" * 78
    lines = [
        bar,
        " DEMO DATA: for trying the product only. Never load it on a live system.",
        bar,
        "",
        f"Inmate portal: {kiosk_url}",
        "  1. Act as an enrolled terminal: open the address and type this one-time",
        "     enrolment code (each run of `kiosk demo` prints a new one):",
        "",
        f"         {result.enrolment_code}     "
        f"terminal \u201c{result.terminal_name}\u201d, valid 24 hours",
        "",
        "  2. Sign in with a booking number and PIN:",
    ]
    for booking, pin, name, unit, lang in result.inmates:
        lines.append(f"         {booking}   PIN {pin}   {name} ({unit}, {lang})")
    lines += [
        "",
        f"Staff app: {admin_url}",
        f"  User names: {', '.join(result.staff)}",
        f"  Password:   {demo_service.DEMO_PASSWORD}",
        "  TOTP code:  run `kiosk demo-totp USERNAME` (e.g. `.venv/bin/kiosk demo-totp admin`),",
        "              or `kiosk demo-totp --uri USERNAME` to add it to an authenticator app.",
        "",
    ]
    click.echo("\n".join(lines))


@main.command("demo-totp")
@click.argument("username")
@click.option("--uri", is_flag=True, help="Print the otpauth:// URI instead of a code.")
def demo_totp(username: str, uri: bool) -> None:
    """Print a TOTP code for a DEMO account (refused on any other account)."""
    from kiosk.services import demo as demo_service

    env = _env()
    with env.session() as session:
        try:
            code, otpauth, seconds = demo_service.totp_code_for(
                session, vault=env.state.vault, username=username, now=env.now
            )
        except DomainError as exc:
            raise _fail(exc) from exc
    if uri:
        click.echo(otpauth)
    else:
        click.echo(f"{code}   (valid for about {seconds} more seconds; each code works once)")


# Facilities and units ------------------------------------------------------------


@main.group()
def facility() -> None:
    """Facilities (prisons, remand centres)."""


@facility.command("add")
@click.argument("code")
@click.option("--name", required=True, help="Full name, e.g. 'Norrby prison'.")
@click.option("--timezone", default=None, help="IANA time zone (default: KIOSK_TIMEZONE).")
def facility_add(code: str, name: str, timezone: str | None) -> None:
    """Add a facility with the short CODE."""
    from kiosk.services import places

    env = _env()
    with env.session() as session:
        try:
            created = places.create_facility(
                session,
                actor=env.actor,
                code=code,
                name=name,
                timezone=timezone or env.settings.timezone,
                now=env.now,
            )
        except DomainError as exc:
            raise _fail(exc) from exc
        click.echo(f"facility {created.code} added: {created.name}")


@facility.command("list")
def facility_list() -> None:
    """List facilities and their units."""
    env = _env()
    with env.session() as session:
        for fac in session.scalars(select(Facility).order_by(Facility.code)):
            click.echo(f"{fac.code:<8} {fac.name} ({fac.timezone})")
            for unit in fac.units:
                click.echo(f"    {unit.code:<8} {unit.name}")


@main.group()
def unit() -> None:
    """Units of a facility, with the kiosk's opening hours."""


@unit.command("add")
@click.argument("code")
@click.option("--facility", "facility_code", required=True, help="Facility code.")
@click.option("--name", required=True)
@click.option(
    "--hours",
    default="07:00-21:00",
    show_default=True,
    help="Opening hours every day, e.g. '07:00-11:30, 13:00-21:00'; '-' for closed.",
)
def unit_add(code: str, facility_code: str, name: str, hours: str) -> None:
    """Add a unit with the short CODE to a facility."""
    from kiosk.services import places

    env = _env()
    with env.session() as session:
        try:
            fac = _facility(session, facility_code)
            created = places.create_unit(
                session,
                actor=env.actor,
                facility=fac,
                code=code,
                name=name,
                hours=places.every_day(hours),
                now=env.now,
            )
        except DomainError as exc:
            raise _fail(exc) from exc
        click.echo(f"unit {fac.code}/{created.code} added: {created.name}, open {hours} daily")


# Staff ---------------------------------------------------------------------------


@main.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("add")
@click.argument("username")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@click.option(
    "--facility",
    "facilities",
    multiple=True,
    help="Facility code, repeatable; ALL for national staff.",
)
@click.option("--name", default=None, help="Full name (default: the user name).")
def staff_add(
    username: str, roles: tuple[str, ...], facilities: tuple[str, ...], name: str | None
) -> None:
    """Add a staff account; prints a one-time password and the otpauth:// URI."""
    from kiosk.security import totp
    from kiosk.services import staff as staff_service

    env = _env()
    codes = [f.strip().upper() for f in facilities]
    all_facilities = "ALL" in codes
    with env.session() as session:
        ids = [] if all_facilities else [_facility(session, c).id for c in codes]
        try:
            created, password, secret = staff_service.create_staff(
                session,
                actor=env.actor,
                actor_staff=None,
                hasher=env.state.hasher,
                vault=env.state.vault,
                username=username,
                name=name or username,
                roles=[Role(r) for r in roles],
                facility_ids=ids,
                all_facilities=all_facilities,
                now=env.now,
                with_totp=True,
                language=env.settings.default_language,
            )
        except DomainError as exc:
            raise _fail(exc) from exc
    assert secret is not None  # noqa: S101 - with_totp=True always makes a seed
    click.echo(f"staff account {created.username} added ({', '.join(roles)})")
    click.echo(f"one-time password (must be changed at first sign-in): {password}")
    click.echo("TOTP: add this URI to an authenticator app (or scan it as a QR code):")
    click.echo(totp.provisioning_uri(secret, created.username, staff_service.ISSUER))


@staff.command("list")
def staff_list() -> None:
    """List staff accounts."""
    env = _env()
    with env.session() as session:
        for row in session.scalars(select(Staff).order_by(Staff.username)):
            state = "active" if row.active else "deactivated"
            if row.hard_locked_at or row.locked_until:
                state += ", locked"
            click.echo(f"{row.username:<20} {','.join(sorted(row.roles)):<30} {state}")


def _staff(session: Session, username: str) -> Staff:
    row = session.scalars(select(Staff).where(Staff.username == username.strip().lower())).first()
    if row is None:
        raise click.ClickException(f"no staff account {username!r}")
    return row


@staff.command("unlock")
@click.argument("username")
def staff_unlock(username: str) -> None:
    """Lift a staff account's lock after failed sign-ins."""
    from kiosk.services import staff as staff_service

    env = _env()
    with env.session() as session:
        staff_service.unlock(session, actor=env.actor, staff=_staff(session, username), now=env.now)
    click.echo(f"{username} unlocked")


@staff.command("reset-password")
@click.argument("username")
def staff_reset_password(username: str) -> None:
    """Give a staff account a new one-time password (ends its sessions)."""
    from kiosk.services import staff as staff_service

    env = _env()
    with env.session() as session:
        password = staff_service.reset_password(
            session,
            actor=env.actor,
            hasher=env.state.hasher,
            staff=_staff(session, username),
            now=env.now,
        )
    click.echo(f"one-time password for {username}: {password}")


@staff.command("reset-totp")
@click.argument("username")
def staff_reset_totp(username: str) -> None:
    """Forget a staff account's TOTP seed: it enrols again at the next sign-in."""
    from kiosk.services import staff as staff_service

    env = _env()
    with env.session() as session:
        staff_service.reset_totp(
            session, actor=env.actor, staff=_staff(session, username), now=env.now
        )
    click.echo(f"TOTP reset for {username}; a QR code is shown at the next sign-in")


# Inmates -------------------------------------------------------------------------


@main.group()
def inmate() -> None:
    """Inmate accounts."""


@inmate.command("add")
@click.argument("booking")
@click.option("--name", required=True)
@click.option("--facility", "facility_code", required=True, help="Facility code.")
@click.option("--unit", "unit_code", required=True, help="Unit code.")
@click.option(
    "--language", default=None, help="Preferred language (default: KIOSK_DEFAULT_LANGUAGE)."
)
def inmate_add(
    booking: str, name: str, facility_code: str, unit_code: str, language: str | None
) -> None:
    """Add an inmate with booking number BOOKING; prints the first PIN."""
    from kiosk.services import inmates

    env = _env()
    lang = language or env.settings.default_language
    if lang not in env.settings.languages:
        raise click.ClickException(f"language must be one of {', '.join(env.settings.languages)}")
    with env.session() as session:
        fac = _facility(session, facility_code)
        try:
            created, pin = inmates.create_inmate(
                session,
                actor=env.actor,
                hasher=env.state.hasher,
                booking_number=booking,
                name=name,
                facility=fac,
                unit=_unit(session, fac, unit_code),
                language=lang,
                now=env.now,
            )
        except DomainError as exc:
            raise _fail(exc) from exc
    click.echo(f"inmate {created.booking_number} added: {created.name}")
    click.echo(f"first PIN (give it in a sealed slip; the inmate may change it): {pin}")


def _inmate(session: Session, booking: str) -> Inmate:
    from kiosk.services.inmates import normalize_booking

    row = session.scalars(
        select(Inmate).where(Inmate.booking_number == normalize_booking(booking))
    ).first()
    if row is None:
        raise click.ClickException(f"no inmate with booking number {booking!r}")
    return row


@inmate.command("pin")
@click.argument("booking")
def inmate_pin(booking: str) -> None:
    """Issue a new random PIN (also unlocks the account and ends its sessions)."""
    from kiosk.services import inmates

    env = _env()
    with env.session() as session:
        pin = inmates.issue_pin(
            session,
            actor=env.actor,
            hasher=env.state.hasher,
            inmate=_inmate(session, booking),
            now=env.now,
        )
    click.echo(f"new PIN for {booking}: {pin}")


@inmate.command("unlock")
@click.argument("booking")
def inmate_unlock(booking: str) -> None:
    """Lift every sign-in lock of an inmate."""
    from kiosk.services import inmates

    env = _env()
    with env.session() as session:
        inmates.unlock(session, actor=env.actor, inmate=_inmate(session, booking), now=env.now)
    click.echo(f"{booking} unlocked")


@inmate.command("release")
@click.argument("booking")
@click.option("--transferred", is_flag=True, help="Transferred out instead of released.")
def inmate_release(booking: str, transferred: bool) -> None:
    """Release (or transfer out) an inmate: sign-in stops and sessions end."""
    from kiosk.services import inmates

    env = _env()
    status = InmateStatus.TRANSFERRED if transferred else InmateStatus.RELEASED
    with env.session() as session:
        try:
            inmates.end_stay(
                session,
                actor=env.actor,
                inmate=_inmate(session, booking),
                status=status,
                now=env.now,
            )
        except DomainError as exc:
            raise _fail(exc) from exc
    click.echo(f"{booking} is now {status.value}")


# Terminals -----------------------------------------------------------------------


@main.group()
def terminal() -> None:
    """Terminals: cell tablets, thin clients, corridor kiosks."""


@terminal.command("add")
@click.argument("name")
@click.option("--unit", "unit_code", required=True, help="Unit code.")
@click.option(
    "--facility", "facility_code", default=None, help="Facility code, if units share codes."
)
def terminal_add(name: str, unit_code: str, facility_code: str | None) -> None:
    """Add a terminal NAME to a unit; prints its one-time enrolment code."""
    from kiosk.services import terminals

    env = _env()
    with env.session() as session:
        fac = _facility(session, facility_code) if facility_code else None
        try:
            created, code = terminals.create_terminal(
                session,
                actor=env.actor,
                name=name,
                unit=_unit(session, fac, unit_code),
                now=env.now,
                code_hours=env.settings.enrolment_code_hours,
            )
        except DomainError as exc:
            raise _fail(exc) from exc
    click.echo(f"terminal #{created.id} {created.name!r} added")
    click.echo(
        f"one-time enrolment code (type it on the device; valid "
        f"{env.settings.enrolment_code_hours} hours): {code}"
    )


@terminal.command("code")
@click.argument("terminal_id", type=int)
def terminal_code(terminal_id: int) -> None:
    """Issue a new enrolment code for terminal TERMINAL_ID (re-enrolment)."""
    from kiosk.services import terminals

    env = _env()
    with env.session() as session:
        row = session.get(Terminal, terminal_id)
        if row is None:
            raise click.ClickException(f"no terminal #{terminal_id}")
        code = terminals.issue_enrolment_code(
            session,
            actor=env.actor,
            terminal=row,
            now=env.now,
            code_hours=env.settings.enrolment_code_hours,
        )
    click.echo(f"one-time enrolment code for #{terminal_id}: {code}")


@terminal.command("revoke")
@click.argument("terminal_id", type=int)
def terminal_revoke(terminal_id: int) -> None:
    """Revoke terminal TERMINAL_ID: its credential stops working and its sessions end."""
    from kiosk.services import terminals

    env = _env()
    with env.session() as session:
        row = session.get(Terminal, terminal_id)
        if row is None:
            raise click.ClickException(f"no terminal #{terminal_id}")
        terminals.revoke(session, actor=env.actor, terminal=row, now=env.now)
    click.echo(f"terminal #{terminal_id} revoked")


@terminal.command("list")
def terminal_list() -> None:
    """List terminals."""
    env = _env()
    with env.session() as session:
        for row in session.scalars(select(Terminal).order_by(Terminal.id)):
            if row.revoked_at:
                state = "revoked"
            elif row.is_enrolled:
                state = "enrolled"
            else:
                state = "waiting for enrolment"
            click.echo(
                f"#{row.id:<5} {row.name:<30} {row.unit.facility.code}/{row.unit.code:<6} {state}"
            )


# Terminal certificates -------------------------------------------------------------


def _ca(env: Env, directory: str | None) -> Any:
    from kiosk.pki import TerminalCA

    return TerminalCA(Path(directory) if directory else env.settings.instance_path / "pki")


_pki_dir = click.option(
    "--dir",
    "directory",
    envvar="KIOSK_PKI_DIR",
    default=None,
    help="The PKI folder (default: KIOSK_PKI_DIR or <instance>/pki).",
)


@main.group()
def pki() -> None:
    """A local CA for terminal client certificates, checked by nginx.

    After `issue --terminal`, `revoke` or `crl`, reload nginx (`systemctl reload nginx`) so
    that it reads the new revocation list.
    """


@pki.command("init")
@_pki_dir
@click.option("--name", default="Kiosk terminal CA", show_default=True, help="The CA's name.")
def pki_init(directory: str | None, name: str) -> None:
    """Make the terminal CA, its key and an empty revocation list."""
    from kiosk.pki import PkiError

    env = _env()
    ca = _ca(env, directory)
    try:
        fp = ca.init(name)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"terminal CA made in {ca.dir} (fingerprint {fp})")
    click.echo(f"nginx: ssl_client_certificate {ca.ca_cert_path}; ssl_crl {ca.crl_path};")


@pki.command("issue")
@_pki_dir
@click.argument("name")
@click.option(
    "--terminal",
    "terminal_id",
    type=int,
    default=None,
    help="Record the certificate's fingerprint on this terminal (enrolment).",
)
@click.option("--days", type=click.IntRange(1, 825), default=825, show_default=True)
@click.option("--p12", is_flag=True, help="Also write a PKCS#12 bundle for the device.")
def pki_issue(
    directory: str | None, name: str, terminal_id: int | None, days: int, p12: bool
) -> None:
    """Issue a client certificate NAME for a terminal."""
    from kiosk.pki import PkiError
    from kiosk.services import audit as audit_service
    from kiosk.services import terminals

    env = _env()
    ca = _ca(env, directory)
    with env.session() as session:
        row = None
        if terminal_id is not None:
            row = session.get(Terminal, terminal_id)
            if row is None:
                raise click.ClickException(f"no terminal #{terminal_id}")
        try:
            issued = ca.issue_terminal(name, days=days, terminal_id=terminal_id)
        except PkiError as exc:
            raise click.ClickException(str(exc)) from exc
        if row is not None:
            terminals.set_fingerprint(
                session, actor=env.actor, terminal=row, fingerprint=issued.fingerprint, now=env.now
            )
        else:
            from kiosk.db import unit_of_work

            with unit_of_work(session):
                audit_service.record(
                    session,
                    "pki.issue",
                    actor=env.actor,
                    at=env.now,
                    details={"serial": issued.serial, "fingerprint": issued.fingerprint},
                )
    click.echo(f"certificate {issued.serial} for {issued.name!r}")
    click.echo(f"  fingerprint (SHA-256): {issued.fingerprint}")
    click.echo(f"  certificate: {ca.dir / issued.cert_path}")
    click.echo(f"  private key: {ca.dir / issued.key_path}")
    if row is not None:
        click.echo(f"  recorded on terminal #{row.id} {row.name!r}")
    if p12:
        path, passphrase = ca.export_p12(issued)
        click.echo(f"  PKCS#12 bundle: {path} (passphrase, shown once: {passphrase})")


@pki.command("server")
@_pki_dir
@click.argument("hosts", nargs=-1, required=True)
def pki_server(directory: str | None, hosts: tuple[str, ...]) -> None:
    """Issue a TLS server certificate for HOSTS (demo and test stacks; sites use their own)."""
    from kiosk.pki import PkiError

    env = _env()
    ca = _ca(env, directory)
    try:
        issued = ca.issue_server(list(hosts))
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"server certificate {ca.dir / issued.cert_path}, key {ca.dir / issued.key_path}")


@pki.command("revoke")
@_pki_dir
@click.argument("ref")
def pki_revoke(directory: str | None, ref: str) -> None:
    """Revoke the certificate with serial or fingerprint REF and rewrite the revocation list."""
    from kiosk.db import unit_of_work
    from kiosk.pki import PkiError
    from kiosk.services import audit as audit_service

    env = _env()
    ca = _ca(env, directory)
    try:
        revoked = ca.revoke(ref)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    with env.session() as session:
        holder = session.scalars(
            select(Terminal).where(Terminal.cert_fingerprint == revoked.fingerprint)
        ).first()
        with unit_of_work(session):
            audit_service.record(
                session,
                "pki.revoke",
                actor=env.actor,
                obj=holder,
                at=env.now,
                details={"serial": revoked.serial, "fingerprint": revoked.fingerprint},
            )
    click.echo(f"certificate {revoked.serial} ({revoked.name!r}) revoked; list: {ca.crl_path}")
    click.echo("reload nginx now so that it refuses the certificate: systemctl reload nginx")


@pki.command("crl")
@_pki_dir
def pki_crl(directory: str | None) -> None:
    """Sign a fresh revocation list (run daily from a timer: an expired list locks out all)."""
    from kiosk.pki import PkiError

    env = _env()
    ca = _ca(env, directory)
    try:
        path = ca.write_crl()
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revocation list written: {path}")


@pki.command("list")
@_pki_dir
def pki_list(directory: str | None) -> None:
    """List the certificates issued."""
    env = _env()
    ca = _ca(env, directory)
    for row in ca.certificates():
        state = (
            f"revoked {row.revoked_at[:10]}" if row.revoked_at else f"until {row.not_after[:10]}"
        )
        term = f" terminal #{row.terminal_id}" if row.terminal_id else ""
        click.echo(f"{row.serial:<40} {row.kind:<8} {row.name:<30} {state}{term}")


@main.group()
def nginx() -> None:
    """The nginx front end, rendered from the reviewed templates in nginx/templates."""


@nginx.command("render")
@click.option(
    "--site",
    "site_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The site's values (see nginx/site.example.toml).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (then `nginx -t` and reload).",
)
@click.option(
    "--templates",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The reviewed templates (default: nginx/templates of this checkout).",
)
def nginx_render(site_file: Path, out: Path, templates: Path | None) -> None:
    """Write the nginx configuration and error pages for one site."""
    from kiosk.nginxconf import TEMPLATES, SiteError, load_site, render

    try:
        site = load_site(site_file)
        written = render(site, out, templates=templates or TEMPLATES)
    except SiteError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        click.echo(f"wrote {path}")
    if Path(site.conf_dir).resolve() != out.resolve():
        click.echo(f"copy these to {site.conf_dir}: the include lines point there")
    click.echo(f"then: include {site.conf_dir}/kiosk.conf in http {{}}; nginx -t; reload nginx")


# Audit ---------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exits non-zero naming the first bad event."""
    from kiosk.services import audit as audit_service

    env = _env()
    with env.session() as session:
        result = audit_service.verify(session, env.secrets.audit_key.encode())
    if result.ok:
        click.echo(f"audit trail intact: {result.checked} events verified")
        return
    click.echo(
        f"AUDIT TRAIL BROKEN at event {result.first_bad_seq}: {result.problem} "
        f"({result.checked} events before it verified)",
        err=True,
    )
    sys.exit(1)


@audit.command("head")
def audit_head() -> None:
    """Print the newest event's number and hash, to keep somewhere else as an anchor."""
    from kiosk.models import AuditHead

    env = _env()
    with env.session() as session:
        head = session.get(AuditHead, 1)
        if head is None or head.seq == 0:
            click.echo("no events yet")
            return
        click.echo(f"{head.seq} {head.hash}")


@audit.command("tail")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(1, 1000))
def audit_tail(count: int) -> None:
    """Print the newest events."""
    from kiosk.services import audit as audit_service

    env = _env()
    with env.session() as session:
        events = audit_service.search(session, audit_service.AuditFilter(), limit=count)
        for ev in reversed(events):
            obj = f"{ev.object_type}#{ev.object_id}" if ev.object_type else "-"
            click.echo(
                f"{ev.seq:>7} {ev.occurred_at:%Y-%m-%d %H:%M:%S} "
                f"{ev.actor_type}:{ev.actor_label:<16} "
                f"{ev.action:<24} {ev.outcome:<8} {obj} {ev.details}"
            )


# Ledger ---------------------------------------------------------------------------


@main.group()
def ledger() -> None:
    """Money accounts of inmates and facilities."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Check every ledger invariant; exits non-zero naming each problem found.

    Checked: every transaction sums to zero, every balance equals the sum of its entries
    (and each running balance the entries before it), no inmate account below zero or
    holding more than it has, holds equal to the open orders they belong to, delivered
    orders charged what the ledger shows, no negative stock.
    """
    from kiosk.services import ledger as ledger_service

    env = _env()
    with env.session() as session:
        from sqlalchemy import func

        from kiosk.models import LedgerAccount, LedgerTransaction

        problems = ledger_service.verify(session)
        accounts = session.scalar(select(func.count(LedgerAccount.id)))
        transactions = session.scalar(select(func.count(LedgerTransaction.id)))
    if not problems:
        click.echo(f"ledger consistent: {accounts} accounts, {transactions} transactions checked")
        return
    for problem in problems:
        click.echo(f"LEDGER PROBLEM: {problem}", err=True)
    click.echo(f"{len(problems)} problems found", err=True)
    sys.exit(1)


# Serving -------------------------------------------------------------------------


@main.command()
@click.option(
    "--kiosk-bind",
    default="127.0.0.1:8000",
    show_default=True,
    help="Address of the inmate portal.",
)
@click.option(
    "--admin-bind", default="127.0.0.1:8001", show_default=True, help="Address of the staff app."
)
def serve(kiosk_bind: str, admin_bind: str) -> None:
    """Serve both apps under gunicorn (each with its own gunicorn.conf.py) until stopped."""
    env = _env()
    _require_schema(env)
    root = Path(__file__).resolve().parent
    admin_root = root.parent / "admin"
    commands = [
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(root / "gunicorn.conf.py"),
            "--bind",
            kiosk_bind,
            "kiosk:create_app()",
        ],
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(admin_root / "gunicorn.conf.py"),
            "--bind",
            admin_bind,
            "admin:create_app()",
        ],
    ]
    procs = [subprocess.Popen(cmd) for cmd in commands]  # noqa: S603 - our own fixed argv
    click.echo(
        f"inmate portal on http://{kiosk_bind}  staff app on http://{admin_bind}  (Ctrl-C stops)"
    )

    def stop(*_: Any) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    codes = [proc.returncode for proc in procs]
    if any(code not in (0, -signal.SIGTERM, -signal.SIGINT) for code in codes):
        sys.exit(1)


@main.command("stack")
@click.option(
    "--dir",
    "directory",
    default=".stack",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Throw-away folder: CA, certificates, instance folder, nginx files, logs.",
)
@click.option(
    "--database-url",
    envvar="KIOSK_STACK_DATABASE_URL",
    default="postgresql+psycopg://postgres@127.0.0.1:5432/kiosk_stack",
    show_default=True,
    help="Emptied and migrated on start.",
)
@click.option("--redis-url", default="redis://127.0.0.1:6379/8", show_default=True)
@click.option("--inmate-port", default=8443, show_default=True, type=int)
@click.option("--staff-port", default=8444, show_default=True, type=int)
@click.option("--first-app-port", default=8100, show_default=True, type=int)
@click.option("--check", is_flag=True, help="Start, sign an inmate in through nginx, stop.")
def stack(
    directory: Path,
    database_url: str,
    redis_url: str,
    inmate_port: int,
    staff_port: int,
    first_app_port: int,
    check: bool,
) -> None:
    """A production-like stack on this machine: nginx with terminal certificates, two gunicorn
    servers per app, PostgreSQL and Redis on loopback. DEMO ONLY (it loads demo data)."""
    import shutil

    from kiosk.devstack import (
        AppServer,
        LocalStack,
        kiosk_command,
        prepare_database,
        redis_answers,
        smoke_test,
    )

    root = directory.resolve()
    if root.exists():
        shutil.rmtree(root)  # throw-away: a fresh CA and database every time
    root.mkdir(parents=True)
    try:
        prepare_database(database_url)
    except Exception as exc:
        raise click.ClickException(
            f"the database {_safe_url(database_url)} cannot be prepared "
            f"({exc.__class__.__name__}); start PostgreSQL, or use --database-url sqlite:///PATH"
        ) from exc
    shared = redis_url if redis_answers(redis_url) else None
    if shared is None:
        click.echo(f"Redis does not answer at {redis_url}: rate limits are counted per process")
    ports = iter(range(first_app_port, first_app_port + 4))
    running = LocalStack(
        root=root,
        database_url=database_url,
        redis_url=shared,
        servers=[
            AppServer("kiosk-1", "kiosk", next(ports), "kiosk:create_app()"),
            AppServer("kiosk-2", "kiosk", next(ports), "kiosk:create_app()"),
            AppServer("admin-1", "admin", next(ports), "admin:create_app()"),
            AppServer("admin-2", "admin", next(ports), "admin:create_app()"),
        ],
        inmate_port=inmate_port,
        staff_port=staff_port,
        extra_env={"KIOSK_WORKERS": "1", "KIOSK_ADMIN_WORKERS": "1"},
    )
    portal, staff_url = f"https://localhost:{inmate_port}", f"https://localhost:{staff_port}"
    demo_text = kiosk_command(running, "demo", "--kiosk-url", portal, "--admin-url", staff_url)
    pin = re.search(r"2026-0001\s+PIN (\d{6})", demo_text)
    demo_terminal = running.ca.issue_terminal("Demo tablet A1")
    p12, passphrase = running.ca.export_p12(demo_terminal)
    try:
        running.start()
        title = smoke_test(running, "2026-0001", pin.group(1) if pin else "482916")
    except Exception:
        running.stop()
        raise
    cert = running.ca.dir / demo_terminal.cert_path
    key = running.ca.dir / demo_terminal.key_path
    click.echo(demo_text)
    click.echo(
        "\n".join(
            [
                "=" * 78,
                f" Stack in {root}: nginx on {inmate_port} (inmates) and {staff_port} (staff),",
                f" gunicorn on {first_app_port}-{first_app_port + 3}, "
                f"{_safe_url(database_url)}, Redis {'on' if shared else 'off'}",
                "=" * 78,
                "Checked: a terminal certificate enrolled and an inmate signed in through nginx",
                f"  (page {title!r}).",
                "",
                "A terminal for your browser (import it, then open the portal and use the code):",
                f"  {p12}   passphrase {passphrase}",
                "Or with curl:",
                f"  curl --cacert {running.ca.ca_cert_path} --cert {cert} --key {key} "
                f"{portal}/sign-in",
                f"Without a certificate nginx refuses: curl --cacert {running.ca.ca_cert_path} "
                f"{portal}/sign-in",
                f"Logs: {root}/*.log   Stop: Ctrl-C",
            ]
        )
    )
    if check:
        running.stop()
        return

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in running.procs.values()):
            time.sleep(0.5)
        click.echo("a server of the stack stopped; stopping the rest", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@main.command("backup")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that holds the backups (one sub-folder per backup).",
)
@click.option(
    "--keep",
    default=14,
    show_default=True,
    type=click.IntRange(1, 10000),
    help="How many backups to keep; older ones are deleted after a successful backup.",
)
def backup(target: Path, keep: int) -> None:
    """Back up the database and the instance folder (secrets, media, PKI)."""
    from kiosk.backup import BackupError, create_backup, prune
    from kiosk.db import unit_of_work
    from kiosk.services import audit as audit_service

    env = _env()
    try:
        made = create_backup(env.settings, target, now=env.now)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    removed = prune(target, keep)
    with env.session() as session, unit_of_work(session):
        audit_service.record(
            session,
            "system.backup",
            actor=env.actor,
            at=env.now,
            details={"backup": made.path.name, "deleted": len(removed)},
        )
    click.echo(f"backup written: {made.path}")
    for name in made.files:
        click.echo(f"  {name}")
    if removed:
        click.echo(f"older backups deleted: {', '.join(p.name for p in removed)}")


@main.group()
def sessions() -> None:
    """Server-side sessions."""


@sessions.command("purge")
@click.option(
    "--days",
    default=90,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Delete ended or expired sessions older than this.",
)
def sessions_purge(days: int) -> None:
    """Delete old ended sessions (their start and end stay in the audit trail)."""
    from sqlalchemy import delete, or_

    from kiosk.db import unit_of_work
    from kiosk.models import WebSession

    env = _env()
    cutoff = env.now - dt.timedelta(days=days)
    with env.session() as session, unit_of_work(session):
        result = session.execute(
            delete(WebSession).where(
                or_(WebSession.ended_at < cutoff, WebSession.expires_at < cutoff)
            )
        )
        count = int(getattr(result, "rowcount", 0) or 0)
    click.echo(f"{count} old sessions deleted")


# Requests (issue 5) -------------------------------------------------------------


@main.group("requests")
def requests_group() -> None:
    """Digitized requests: the type catalogue and overdue escalation."""


@requests_group.command("seed")
def requests_seed() -> None:
    """Add the shipped catalogue of request types (types that exist are left alone)."""
    from kiosk.services import requests as request_service

    env = _env()
    _require_schema(env)
    with env.session() as session:
        added = request_service.seed_catalogue(session, actor=env.actor, now=env.now)
    click.echo(f"{added} request types added")


@requests_group.command("escalate")
def requests_escalate() -> None:
    """Send overdue requests to their group's supervisor (run it from cron, e.g. hourly)."""
    from kiosk.services import requests as request_service

    env = _env()
    _require_schema(env)
    with env.session() as session:
        escalated, orphaned = request_service.escalate_overdue(
            session, actor=env.actor, vault=env.state.vault, now=env.now
        )
    click.echo(f"{escalated} requests escalated")
    if orphaned:
        click.echo(f"{orphaned} overdue requests have no supervisor to escalate to", err=True)


# Whitelist (issue 7) ------------------------------------------------------------


@main.group("whitelist")
def whitelist_group() -> None:
    """Whitelisted learning resources."""


@whitelist_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["nginx", "squid"]), required=True, help="proxy type"
)
@click.option("--facility", "facility_code", default=None, help="only rules for this facility")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None)
def whitelist_export(fmt: str, facility_code: str | None, output: str | None) -> None:
    """Write the rules in force as configuration for a network proxy (defence in depth)."""
    from kiosk.services import whitelist as whitelist_service
    from kiosk.whitelist import export

    env = _env()
    _require_schema(env)
    now = env.now
    with env.session() as session:
        facility_id = _facility(session, facility_code).id if facility_code else None
        rows = whitelist_service.all_rules_in_force(session, facility_id=facility_id, now=now)
        rules = whitelist_service.as_whitelist(rows).rules
    text = export.render(rules, fmt, generated=now.strftime("%Y-%m-%d %H:%M UTC"))
    if output:
        with open(output, "w", encoding="ascii") as fh:
            fh.write(text)
        click.echo(f"{len(rules)} rules written to {output}")
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
