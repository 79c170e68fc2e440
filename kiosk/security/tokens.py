"""Random tokens and codes, and the hashes under which they are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Crockford's base32: no I, L, O or U, so a code read aloud or typed on a tablet is unambiguous.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_token() -> str:
    """A random 256-bit token for a cookie."""
    return secrets.token_urlsafe(32)


def token_hash(token: str, context: str = "") -> str:
    """SHA-256 of a high-entropy token, as stored: a leaked table gives no usable cookie."""
    return hashlib.sha256(f"{context}:{token}".encode()).hexdigest()


def keyed_digest(key: str, value: str) -> str:
    """HMAC-SHA256 of a value under a server key (recovery codes, typed identifiers)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_code(length: int = 10, group: int = 5) -> str:
    """A random code such as ``7K2QM-X9P4D`` (50 bits for 10 characters)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + group] for i in range(0, length, group))


def normalize_code(typed: str) -> str:
    """Upper-case, without spaces or dashes, with look-alike letters mapped to digits."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -\t")
    return cleaned.translate(_CONFUSABLES)
