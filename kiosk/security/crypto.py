"""Encryption of secrets at rest (TOTP seeds, later health records) with the instance key."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Vault:
    """Fernet encryption; several comma-separated keys allow rotation (the first encrypts)."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])

    def encrypt(self, plaintext: str) -> str:
        """Authenticated ciphertext of a text."""
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The text back; raises ``ValueError`` if it was changed or the key is wrong."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong key or changed data") from exc
