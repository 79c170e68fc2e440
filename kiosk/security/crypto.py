"""Encryption of secrets at rest (TOTP seeds, later health records) with the instance key."""

from __future__ import annotations

import base64
import binascii
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet


class Vault:
    """Fernet encryption; several comma-separated keys allow rotation (the first encrypts).

    The keys are checked when the vault is made, as ``Fernet`` checks them, but
    cryptography itself (about 9 MB resident) is imported at the first encryption or
    decryption: most requests of the inmate portal never need it.
    """

    def __init__(self, keys: str) -> None:
        self._keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not self._keys:
            raise ValueError("MultiFernet requires at least one Fernet instance")
        for key in self._keys:
            _check_key(key)
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    def _multi(self) -> MultiFernet:
        if self._fernet is None:
            with self._lock:
                if self._fernet is None:
                    from cryptography.fernet import Fernet, MultiFernet

                    self._fernet = MultiFernet([Fernet(k) for k in self._keys])
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        """Authenticated ciphertext of a text."""
        return self._multi().encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The text back; raises ``ValueError`` if it was changed or the key is wrong."""
        from cryptography.fernet import InvalidToken

        try:
            return self._multi().decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong key or changed data") from exc


def _check_key(key: str) -> None:
    """Refuse a key ``Fernet`` would refuse, with its message."""
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.") from exc
    if len(raw) != 32:
        raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")
