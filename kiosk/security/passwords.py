"""Hashing (argon2id) and the rules for staff passwords and inmate PINs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import secrets
import string
import unicodedata
from functools import cached_property, lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from kiosk.errors import DomainError
from kiosk.i18n import _l

PASSWORD_MIN = 12
# Long enough for any passphrase, short enough that hashing cannot be used to tie up a worker.
PASSWORD_MAX = 128
PIN_LENGTH = 6

# Key-pad shapes and other PINs that people pick far more often than chance would.
_PATTERN_PINS = frozenset(
    {
        "147258",
        "258369",
        "369258",
        "852741",
        "741852",
        "963852",
        "258147",
        "147369",
        "159753",
        "357159",
        "753951",
        "951753",
        "159357",
        "357951",
        "123654",
        "456987",
        "789456",
        "456123",
        "321654",
        "654987",
        "147852",
        "258963",
        "369852",
        "102030",
        "112233",
        "121314",
        "131313",
        "135790",
        "246810",
        "111222",
        "696969",
        "420420",
        "142536",
        "124578",
        "235689",
        "986532",
        "865421",
        "012012",
        "098098",
        "102938",
        "314159",
        "271828",
        "161803",
        "007007",
        "131420",
        "520520",
        "521521",
        "753159",
    }
)


class WeakSecret(DomainError):
    """A password or PIN that the rules refuse."""


class SecretHasher:
    """argon2id for passwords and PINs; PINs are first keyed with the instance pepper."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int, pin_pepper: str):
        self._ph = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._pepper = pin_pepper.encode()

    @cached_property
    def _dummy(self) -> str:
        # Made on first need, not at start: an argon2 hash costs every worker start
        # (and every restart after max_requests) its memory and time otherwise.
        return self._ph.hash(secrets.token_hex(16))

    def _peppered(self, pin: str) -> str:
        return hmac.new(self._pepper, pin.encode(), hashlib.sha256).hexdigest()

    def hash_password(self, password: str) -> str:
        """An argon2id hash of a password."""
        return self._ph.hash(password)

    def verify_password(self, stored: str | None, password: str) -> bool:
        """True when the password matches; costs the same when there is no account."""
        return self._verify(stored, password)

    def hash_pin(self, pin: str) -> str:
        """An argon2id hash of a PIN keyed with the pepper."""
        return self._ph.hash(self._peppered(pin))

    def verify_pin(self, stored: str | None, pin: str) -> bool:
        """True when the PIN matches; costs the same when there is no account."""
        return self._verify(stored, self._peppered(pin))

    def needs_rehash(self, stored: str) -> bool:
        """True when the hash was made with weaker parameters than today's."""
        try:
            return self._ph.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def _verify(self, stored: str | None, value: str) -> bool:
        if not stored:
            # Spend the same time as a real check: response time must not reveal accounts.
            self._burn(value)
            return False
        try:
            return self._ph.verify(stored, value)
        except (VerificationError, InvalidHashError):
            return False

    def _burn(self, value: str) -> None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            self._ph.verify(self._dummy, value)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    words = set(FREQUENCY_LISTS.get("passwords", ()))
    words.update(FREQUENCY_LISTS.get("english_wikipedia", ())[:2000])
    return frozenset(w.lower() for w in words)


def password_problem(password: str, *, username: str = "", name: str = "") -> str | None:
    """Why a password is refused (translated), or None when it is good enough."""
    if len(password) < PASSWORD_MIN:
        return str(_l("Use at least %(n)d characters.", n=PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        return str(_l("Use at most %(n)d characters.", n=PASSWORD_MAX))
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        return str(_l("The password contains characters that cannot be typed."))
    lowered = password.lower()
    stripped = lowered.rstrip(string.digits + string.punctuation)
    if lowered in _common_passwords() or stripped in _common_passwords():
        return str(_l("This password is too common. Choose another one."))
    if username and username.lower() in lowered:
        return str(_l("The password must not contain the user name."))
    from zxcvbn import zxcvbn

    inputs = [x for x in (username, name, *name.split(), "kiosk", "prison", "portal") if x]
    if zxcvbn(password[:64], user_inputs=inputs)["score"] < 3:
        return str(_l("This password is too easy to guess. A few unrelated words work well."))
    return None


def check_password(password: str, *, username: str = "", name: str = "") -> None:
    """Raise ``WeakSecret`` with the reason when a password is refused."""
    problem = password_problem(password, username=username, name=name)
    if problem:
        raise WeakSecret(problem, field="password")


def new_one_time_password() -> str:
    """A random first password (about 80 bits) that must be changed at first sign-in."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _is_run(pin: str) -> bool:
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    return steps in ({1}, {9})


def pin_problem(pin: str, *, booking_number: str = "") -> str | None:
    """Why a PIN is refused (translated), or None when it is good enough."""
    if len(pin) != PIN_LENGTH or not all(ch in string.digits for ch in pin):
        return str(_l("The PIN must be exactly %(n)d digits.", n=PIN_LENGTH))
    if len(set(pin)) < 3:
        return str(_l("The PIN uses too few different digits."))
    if _is_run(pin):
        return str(_l("The PIN must not be a run of digits such as 123456."))
    if pin[:3] == pin[3:] or pin == pin[::-1]:
        return str(_l("The PIN must not repeat or mirror itself."))
    if pin in _PATTERN_PINS:
        return str(_l("This PIN is too common. Choose another one."))
    digits = "".join(ch for ch in booking_number if ch in string.digits)
    if len(digits) >= 4 and (pin in digits or digits in pin or digits[-6:] == pin):
        return str(_l("The PIN must not be part of your booking number."))
    return None


def check_pin(pin: str, *, booking_number: str = "") -> None:
    """Raise ``WeakSecret`` with the reason when a PIN is refused."""
    problem = pin_problem(pin, booking_number=booking_number)
    if problem:
        raise WeakSecret(problem, field="pin")


def new_pin(booking_number: str = "") -> str:
    """A random PIN that passes the rules."""
    while True:
        pin = f"{secrets.randbelow(10**PIN_LENGTH):0{PIN_LENGTH}d}"
        if pin_problem(pin, booking_number=booking_number) is None:
            return pin
