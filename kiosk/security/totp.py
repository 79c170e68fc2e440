"""Time-based one-time codes (RFC 6238). The only module that touches pyotp.

A code is accepted for the current 30-second step and one step either side
(clock drift), and only for a step later than the last one accepted: the same
code, or an older one, never works twice.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
_CODE = re.compile(r"[0-9]{6}", re.ASCII)


def new_secret() -> str:
    """A fresh 160-bit base32 seed."""
    return pyotp.random_base32()


def step_at(when: dt.datetime) -> int:
    """The time step number of a moment."""
    return int(when.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of one time step."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def current_code(secret: str, now: dt.datetime) -> str:
    """The code an authenticator shows at ``now``."""
    return code_at(secret, step_at(now))


def normalize(typed: str) -> str | None:
    """Exactly six ASCII digits (spaces an app shows between groups are dropped), else None."""
    compact = typed.strip().replace(" ", "")
    return compact if _CODE.fullmatch(compact) else None


def verify(secret: str, typed: str, *, last_step: int | None, now: dt.datetime) -> int | None:
    """The time step the code belongs to, if it is valid and newer than ``last_step``."""
    code = normalize(typed)
    if code is None:
        return None
    current = step_at(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    return totp.provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(uri: str, title: str) -> str:
    """The URI as an inline SVG QR code, made on the server (no image service, no script)."""
    qr = segno.make(uri, error="m")
    svg: str = qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title)
    return svg
