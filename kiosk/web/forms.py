"""The base of every form: CSRF from Flask-WTF, and no invisible or control characters."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from babel import support
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.i18n import messages_path

from kiosk.i18n import _l

# C0 controls except tab/newline/return, DEL, C1 controls, and the bidirectional
# overrides that can make text read differently from how it is stored.
_FORBIDDEN_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORBIDDEN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@lru_cache(maxsize=16)
def _wtforms_catalogue(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _WTFormsMessages:
    """WTForms' own messages in the reader's language.

    Flask-WTF reads the catalogue from disk again in every request that builds a form;
    here each language's is read once per process.
    """

    def gettext(self, string: str) -> str:
        return str(_wtforms_catalogue(str(get_locale() or "en")).ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(_wtforms_catalogue(str(get_locale() or "en")).ungettext(singular, plural, n))


_MESSAGES = _WTFormsMessages()


class BaseForm(FlaskForm):  # type: ignore[misc] # Flask-WTF is untyped
    """Refuses text with control characters in any field, with a translated message."""

    class Meta:
        def get_translations(self, _form: Any) -> _WTFormsMessages:
            return _MESSAGES

    def validate(self, extra_validators: Any = None) -> bool:
        """Field validators, then the character check on every text field."""
        ok: bool = super().validate(extra_validators=extra_validators)
        for field in self:
            data = field.data
            if not isinstance(data, str):
                continue
            pattern = _FORBIDDEN_MULTILINE if isinstance(field, TextAreaField) else _FORBIDDEN_LINE
            if pattern.search(data):
                field.errors = [*field.errors, _l("Remove the special characters from this field.")]
                ok = False
        return ok

    def error_count(self) -> int:
        """How many fields have errors."""
        return sum(1 for field in self if field.errors)


def strip_filter(value: Any) -> Any:
    """Trim surrounding spaces from typed text."""
    return value.strip() if isinstance(value, str) else value


def safe_next(target: str | None, default: str) -> str:
    """A local path to go back to, never another site (open redirects)."""
    if not target or len(target) > 512:
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
