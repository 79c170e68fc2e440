"""The terminal CA: certificates that OpenSSL accepts, revocation that it refuses, enrolment."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import World, audit_actions, load
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from kiosk.cli import main
from kiosk.models import Terminal
from kiosk.pki import PkiError, TerminalCA

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command is not installed"
)


def openssl_verify(ca: TerminalCA, cert: Path, *, purpose: str = "sslclient") -> bool:
    """What nginx's OpenSSL says of a client certificate, with the revocation list."""
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-crl_check",
            "-purpose",
            purpose,
            "-CAfile",
            str(ca.ca_cert_path),
            "-CRLfile",
            str(ca.crl_path),
            str(cert),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


@pytest.fixture
def ca(tmp_path: Path) -> TerminalCA:
    authority = TerminalCA(tmp_path / "pki")
    authority.init("Test terminal CA")
    return authority


def test_the_ca_key_and_terminal_keys_are_readable_by_their_owner_only(ca: TerminalCA) -> None:
    issued = ca.issue_terminal("Tablet A1")
    for path in (ca.dir / "ca.key", ca.dir / issued.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(ca.dir.stat().st_mode) == 0o700


def test_a_second_init_never_replaces_the_ca(ca: TerminalCA) -> None:
    before = ca.ca_cert_path.read_bytes()
    with pytest.raises(PkiError, match="exists already"):
        ca.init("Another CA")
    assert ca.ca_cert_path.read_bytes() == before


@needs_openssl
def test_openssl_accepts_an_issued_terminal_certificate_until_it_is_revoked(
    ca: TerminalCA,
) -> None:
    good = ca.issue_terminal("Tablet A1")
    other = ca.issue_terminal("Tablet A2")
    assert openssl_verify(ca, ca.dir / good.cert_path)
    ca.revoke(good.serial)
    assert not openssl_verify(ca, ca.dir / good.cert_path), "a revoked certificate is refused"
    assert openssl_verify(ca, ca.dir / other.cert_path), "others keep working"
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(good.serial, 16)) is not None


@needs_openssl
def test_a_terminal_certificate_cannot_serve_tls_and_a_server_one_cannot_sign_in(
    ca: TerminalCA,
) -> None:
    terminal = ca.issue_terminal("Tablet A1")
    server = ca.issue_server(["localhost", "127.0.0.1"])
    assert not openssl_verify(ca, ca.dir / terminal.cert_path, purpose="sslserver")
    assert not openssl_verify(ca, ca.dir / server.cert_path, purpose="sslclient")
    assert openssl_verify(ca, ca.dir / server.cert_path, purpose="sslserver")


def test_revoking_by_fingerprint_with_colons_finds_the_certificate(ca: TerminalCA) -> None:
    issued = ca.issue_terminal("Tablet A1")
    with_colons = ":".join(re.findall("..", issued.fingerprint.upper()))
    assert ca.revoke(with_colons).serial == issued.serial
    with pytest.raises(PkiError):
        ca.revoke("00" * 32)


def test_names_with_control_characters_are_refused(ca: TerminalCA) -> None:
    with pytest.raises(PkiError):
        ca.issue_terminal("evil\nname")
    with pytest.raises(PkiError):
        ca.issue_terminal("x" * 65)


def test_a_pkcs12_bundle_opens_with_the_passphrase_shown(ca: TerminalCA) -> None:
    issued = ca.issue_terminal("Tablet A1")
    path, passphrase = ca.export_p12(issued)
    key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(), passphrase.encode())
    assert key is not None
    assert cert is not None
    assert cert.fingerprint(hashes.SHA256()).hex() == issued.fingerprint
    assert [c.subject for c in extra] == [
        x509.load_pem_x509_certificate(ca.ca_cert_path.read_bytes()).subject
    ]


@pytest.fixture
def run(settings: Any) -> Any:
    env = {
        "KIOSK_INSTANCE_PATH": str(settings.instance_path),
        "KIOSK_DATABASE_URL": settings.database_url,
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def test_issuing_for_a_terminal_records_its_fingerprint_and_revoking_is_audited(
    run: Any, db: Any, world: World, settings: Any
) -> None:
    assert run("pki", "init").exit_code == 0
    term_id = world.terminals["a1"][0]
    result = run("pki", "issue", "Tablet A1", "--terminal", str(term_id))
    assert result.exit_code == 0, result.output
    fp = re.search(r"fingerprint \(SHA-256\): ([0-9a-f]{64})", result.output)
    assert fp is not None
    assert load(db, Terminal, term_id).cert_fingerprint == fp.group(1)
    listed = run("pki", "list").output
    assert "Tablet A1" in listed
    assert f"terminal #{term_id}" in listed
    revoked = run("pki", "revoke", fp.group(1))
    assert revoked.exit_code == 0
    assert "reload nginx" in revoked.output
    assert "revoked" in run("pki", "list").output
    actions = audit_actions(db)
    assert "terminal.certificate" in actions
    assert actions[-1] == "pki.revoke"
    assert (settings.instance_path / "pki" / "crl.pem").exists()


def test_pki_commands_explain_a_missing_ca(run: Any, world: World) -> None:
    result = run("pki", "issue", "Tablet A1")
    assert result.exit_code != 0
    assert "kiosk pki init" in result.output
    assert run("pki", "issue", "T", "--terminal", "9999").exit_code != 0


# The portal and the fingerprint nginx passes ------------------------------------------

FP1 = "ab" * 32
FP2 = "cd" * 32


@pytest.fixture
def proxied_app(settings: Any, clock: Any) -> Any:
    from kiosk import create_app

    app = create_app(settings.replace(behind_proxy=True, require_client_cert=True), clock=clock)
    app.testing = True
    yield app
    app.extensions["kiosk"].database.dispose()


def _terminal_with_certificate(db: Any, world: World, clock: Any, fingerprint: str) -> str:
    from kiosk.services import audit as audit_service
    from kiosk.services import terminals

    term_id, credential = world.terminals["a1"]
    terminals.set_fingerprint(
        db,
        actor=audit_service.Actor.system("test"),
        terminal=db.get(Terminal, term_id),
        fingerprint=fingerprint,
        now=clock.now(),
    )
    return credential


def test_a_session_moved_to_another_terminal_certificate_is_refused(
    proxied_app: Any, db: Any, world: World, clock: Any
) -> None:
    from conftest import Portal

    credential = _terminal_with_certificate(db, world, clock, FP1)
    tablet = Portal(proxied_app, credential)
    tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP1
    person = world.inmates["2026-0001"]
    assert tablet.sign_in(person.booking, person.pin).status_code == 302
    assert tablet.get("/").status_code == 200
    # The cookies are copied to a device that holds another (valid) certificate.
    tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP2
    moved = tablet.get("/")
    assert moved.status_code == 302
    assert moved.headers["Location"] == "/terminal/enrol"
    # Back on the right device, the session has ended: the inmate signs in again.
    tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP1
    again = tablet.get("/")
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/sign-in")
    assert "inmate.sign_out" in audit_actions(db)


def test_the_certificate_header_is_ignored_unless_the_app_sits_behind_the_proxy(
    kiosk_app: Any, db: Any, world: World, clock: Any
) -> None:
    from conftest import Portal

    credential = _terminal_with_certificate(db, world, clock, FP1)
    tablet = Portal(kiosk_app, credential)
    # Straight to the app (no nginx): a forged header changes nothing either way.
    tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP2
    assert tablet.get("/sign-in").status_code == 200


def test_behind_the_proxy_a_different_certificate_is_refused_even_when_not_required(
    settings: Any, clock: Any, db: Any, world: World
) -> None:
    from conftest import Portal

    from kiosk import create_app

    app = create_app(settings.replace(behind_proxy=True), clock=clock)
    try:
        credential = _terminal_with_certificate(db, world, clock, FP1)
        tablet = Portal(app, credential)
        tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP2
        assert tablet.get("/sign-in").headers["Location"] == "/terminal/enrol"
        tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP1
        assert tablet.get("/sign-in").status_code == 200
    finally:
        app.extensions["kiosk"].database.dispose()


def test_behind_the_proxy_only_the_address_nginx_saw_is_trusted(
    proxied_app: Any, db: Any, world: World, clock: Any
) -> None:
    from conftest import Portal, fresh
    from sqlalchemy import select

    from kiosk.models import AuditEvent

    credential = _terminal_with_certificate(db, world, clock, FP1)
    tablet = Portal(proxied_app, credential)
    tablet.client.environ_base["HTTP_X_CLIENT_CERT"] = FP1
    # The client forged a first X-Forwarded-For entry; nginx appended the real address.
    tablet.client.environ_base["HTTP_X_FORWARDED_FOR"] = "6.6.6.6, 10.20.30.40"
    tablet.sign_in("2026-0001", "000000")
    ips = set(fresh(db).scalars(select(AuditEvent.ip).where(AuditEvent.action.like("inmate.%"))))
    assert "10.20.30.40" in ips
    assert "6.6.6.6" not in ips
