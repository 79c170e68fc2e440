"""Rules for PINs and passwords, and the TOTP module."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher

from kiosk.security import passwords, totp
from kiosk.security.passwords import SecretHasher, new_pin, password_problem, pin_problem

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "pin",
    [
        "000000",
        "111111",
        "999999",
        "123456",
        "234567",
        "654321",
        "987654",
        "890123",
        "012345",
        "121212",
        "112211",
        "111222",
        "123123",
        "456456",
        "123321",
        "147258",
        "159753",
        "102030",
        "12345",
        "1234567",
        "12a456",
        "",
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width digits,
    ],
)
def test_weak_or_malformed_pins_are_refused(pin: str) -> None:
    assert pin_problem(pin) is not None


@pytest.mark.parametrize("pin", ["482916", "730152", "561094", "915372", "204857"])
def test_ordinary_pins_are_accepted(pin: str) -> None:
    assert pin_problem(pin) is None


def test_a_pin_from_the_booking_number_is_refused() -> None:
    assert pin_problem("260017", booking_number="2026-0017") is not None
    assert pin_problem("482916", booking_number="2026-0017") is None


def test_issued_pins_always_pass_the_rules() -> None:
    for _ in range(300):
        pin = new_pin("2026-0001")
        assert pin_problem(pin, booking_number="2026-0001") is None


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "password1234",
        "Password1234!",
        "qwertyuiop123",
        "aaaaaaaaaaaa",
        "anna.berg2026x",
        "x" * 129,
        "correct\x00horse battery",
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    assert password_problem(password, username="anna.berg", name="Anna Berg") is not None


@pytest.mark.parametrize(
    "password", ["violet tractor museum 81", "Grönt-Fönster-Kaffe-Lampa", "kz8#Qm2!vR4$pL"]
)
def test_strong_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, username="anna.berg", name="Anna Berg") is None


def test_pins_are_hashed_with_argon2id_and_the_pepper() -> None:
    one = SecretHasher(time_cost=1, memory_kib=64, parallelism=1, pin_pepper="pepper-one")
    two = SecretHasher(time_cost=1, memory_kib=64, parallelism=1, pin_pepper="pepper-two")
    stored = one.hash_pin("482916")
    assert stored.startswith("$argon2id$")
    assert one.verify_pin(stored, "482916")
    assert not one.verify_pin(stored, "482917")
    assert not two.verify_pin(stored, "482916"), "the database alone is not enough"
    assert not one.verify_pin(None, "482916")


def test_a_worker_starts_without_an_argon2_hash_and_unknown_accounts_still_cost_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    hashed: list[str] = []
    verified: list[str] = []

    class Spy:
        def hash(self, value: str) -> str:
            hashed.append(value)
            return real.hash(value)

        def verify(self, stored: str, value: str) -> bool:
            verified.append(stored)
            return real.verify(stored, value)

    monkeypatch.setattr(passwords, "PasswordHasher", lambda **_: Spy())
    hasher = SecretHasher(time_cost=1, memory_kib=64, parallelism=1, pin_pepper="p")
    assert hashed == [], "nothing is hashed when the hasher is made"
    assert hasher.verify_password(None, "anything at all") is False
    assert hasher.verify_pin(None, "482916") is False
    assert len(hashed) == 1, "the stand-in hash is made once, on first need"
    assert len(verified) == 2, "an unknown account still costs a full argon2 check"


def test_a_totp_code_is_accepted_once_and_never_again() -> None:
    secret = totp.new_secret()
    code = totp.current_code(secret, NOW)
    step = totp.verify(secret, code, last_step=None, now=NOW)
    assert step == totp.step_at(NOW)
    assert totp.verify(secret, code, last_step=step, now=NOW) is None, "same step"
    later = NOW + dt.timedelta(seconds=20)
    assert totp.verify(secret, code, last_step=step, now=later) is None


def test_an_earlier_steps_code_is_refused_after_a_later_one() -> None:
    secret = totp.new_secret()
    earlier = totp.code_at(secret, totp.step_at(NOW) - 1)
    current = totp.current_code(secret, NOW)
    step = totp.verify(secret, current, last_step=None, now=NOW)
    assert totp.verify(secret, earlier, last_step=step, now=NOW) is None


@pytest.mark.parametrize(
    "pad", ["0{code}", "{code}0", "00{code}", " {code}x", "{code}\n1", "+{code}"]
)
def test_padded_or_decorated_codes_are_refused(pad: str) -> None:
    secret = totp.new_secret()
    code = totp.current_code(secret, NOW)
    assert totp.verify(secret, pad.format(code=code), last_step=None, now=NOW) is None


def test_full_width_digits_are_refused() -> None:
    secret = totp.new_secret()
    code = totp.current_code(secret, NOW)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)
    assert totp.verify(secret, wide, last_step=None, now=NOW) is None


def test_one_step_of_clock_drift_is_allowed_and_two_are_not() -> None:
    secret = totp.new_secret()
    step = totp.step_at(NOW)
    assert totp.verify(secret, totp.code_at(secret, step - 1), last_step=None, now=NOW) == step - 1
    assert totp.verify(secret, totp.code_at(secret, step + 1), last_step=None, now=NOW) == step + 1
    assert totp.verify(secret, totp.code_at(secret, step - 2), last_step=None, now=NOW) is None
    assert totp.verify(secret, totp.code_at(secret, step + 2), last_step=None, now=NOW) is None


def test_spaces_an_app_shows_inside_a_code_are_allowed() -> None:
    secret = totp.new_secret()
    code = totp.current_code(secret, NOW)
    assert totp.verify(secret, f"{code[:3]} {code[3:]}", last_step=None, now=NOW) is not None


def test_the_qr_code_is_an_svg_made_on_the_server() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "anna", "Kiosk"), "QR")
    assert svg.startswith("<svg")
    assert "<title>QR</title>" in svg
    assert "<script" not in svg
    assert "href" not in svg
