"""Terminal enrolment: a one-time code typed once gives the device a long-lived credential."""

from __future__ import annotations

from typing import Any

from conftest import Portal, World, audit_actions, load
from flask import Flask

from kiosk.clock import FrozenClock
from kiosk.models import Terminal, Unit
from kiosk.services import audit as audit_service
from kiosk.services import terminals

ACTOR = audit_service.Actor.system("test")


def new_terminal(db: Any, world: World, clock: FrozenClock) -> tuple[Terminal, str]:
    unit = load(db, Unit, world.unit_a)
    return terminals.create_terminal(
        db, actor=ACTOR, name="New tablet", unit=unit, now=clock.now(), code_hours=24
    )


def enrol(device: Portal, code: str) -> Any:
    token = device.token("/terminal/enrol")
    return device.client.post("/terminal/enrol", data={"csrf_token": token, "code": code})


def test_typing_the_code_once_enrols_the_device(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    terminal, code = new_terminal(db, world, clock)
    device = Portal(kiosk_app)
    response = enrol(device, code.lower().replace("-", " "))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
    cookie = device.client.get_cookie("kiosk_terminal")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Strict"
    assert device.get("/sign-in").status_code == 200
    row = load(db, Terminal, terminal.id)
    assert row.is_enrolled
    assert row.enrolment_code_hash is None
    assert "terminal.enrol" in audit_actions(db)


def test_a_code_works_only_once(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    _, code = new_terminal(db, world, clock)
    assert enrol(Portal(kiosk_app), code).status_code == 302
    second = enrol(Portal(kiosk_app), code)
    assert second.status_code == 422
    assert "does not work" in second.get_data(as_text=True)


def test_an_expired_code_does_not_work(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    _, code = new_terminal(db, world, clock)
    clock.advance(hours=25)
    assert enrol(Portal(kiosk_app), code).status_code == 422


def test_a_wrong_code_changes_nothing_and_is_audited(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    terminal, _ = new_terminal(db, world, clock)
    for attempt in ("WRONG-CODE1", "", "x" * 500, "ÅÄÖÅÄ-ÅÄÖÅÄ"):
        response = enrol(Portal(kiosk_app), attempt)
        assert response.status_code == 422, attempt
    assert not load(db, Terminal, terminal.id).is_enrolled
    assert audit_actions(db).count("terminal.enrol") >= 1


def test_enrolment_attempts_are_rate_limited(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    kiosk_app.extensions["kiosk_limiter"].enabled = True
    device = Portal(kiosk_app)
    statuses = [enrol(device, "WRONG-CODE1").status_code for _ in range(12)]
    assert 429 in statuses
    assert statuses[0] == 422


def test_re_enrolment_replaces_the_old_credential(
    kiosk_app: Flask, world: World, db: Any, clock: FrozenClock
) -> None:
    old = Portal(kiosk_app, world.terminals["a1"][1])
    terminal = load(db, Terminal, world.terminals["a1"][0])
    code = terminals.issue_enrolment_code(
        db, actor=ACTOR, terminal=terminal, now=clock.now(), code_hours=24
    )
    assert old.get("/sign-in").status_code == 200, "the old device works until the code is used"
    new = Portal(kiosk_app)
    assert enrol(new, code).status_code == 302
    assert old.get("/sign-in").headers["Location"] == "/terminal/enrol"
    assert new.get("/sign-in").status_code == 200


def test_with_client_certificates_the_fingerprint_must_match(
    settings: Any, clock: FrozenClock, world: World, db: Any
) -> None:
    from kiosk import create_app

    app = create_app(settings.replace(behind_proxy=True, require_client_cert=True), clock=clock)
    terminal, code = new_terminal(db, world, clock)
    fingerprint = "ab" * 32
    device = app.test_client()
    page = device.get("/terminal/enrol", headers={"X-Client-Cert": fingerprint})
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = device.post(
        "/terminal/enrol",
        data={"csrf_token": token, "code": code},
        headers={"X-Client-Cert": fingerprint.upper()},
    )
    assert response.status_code == 302
    assert load(db, Terminal, terminal.id).cert_fingerprint == fingerprint
    ok = device.get("/sign-in", headers={"X-Client-Cert": fingerprint})
    assert ok.status_code == 200
    other_cert = device.get("/sign-in", headers={"X-Client-Cert": "cd" * 32})
    assert other_cert.headers["Location"] == "/terminal/enrol"
    no_cert = device.get("/sign-in")
    assert no_cert.headers["Location"] == "/terminal/enrol"
    app.extensions["kiosk"].database.dispose()


def test_the_fingerprint_is_taken_from_the_certificate_nginx_passes() -> None:
    import datetime as dt
    from urllib.parse import quote

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "terminal-1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    expected = cert.fingerprint(hashes.SHA256()).hex()
    assert terminals.fingerprint_from_header(quote(pem)) == expected
    assert terminals.fingerprint_from_header(expected.upper()) == expected
    assert terminals.fingerprint_from_header(quote("-----BEGIN CERTIFICATE-----\ngarbage")) is None
    assert terminals.fingerprint_from_header("not a fingerprint") is None
