"""Envelope encryption for secrets at rest.

Each value gets its own random data key (Fernet: AES-128-CBC + HMAC-SHA256); the data key is
stored wrapped by the key-encryption key from configuration (`Settings.key_encryption_key`).
Rotating the configured key only requires re-wrapping data keys, never re-encrypting values.
Stored form: ``v1.<wrapped data key>.<ciphertext>`` (all URL-safe base64).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

_VERSION = "v1"


class DecryptionError(ValueError):
    """The value was not produced by this key or was tampered with."""


def _fernet_from_secret(secret: bytes) -> Fernet:
    digest = hashlib.sha256(b"waza-kek:" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class Envelope:
    """Encrypt and decrypt values with per-value data keys wrapped by one key-encryption key."""

    def __init__(self, key_encryption_key: bytes) -> None:
        self._kek = _fernet_from_secret(key_encryption_key)

    def encrypt(self, plaintext: bytes | str) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        data_key = Fernet.generate_key()
        wrapped = self._kek.encrypt(data_key).decode()
        ciphertext = Fernet(data_key).encrypt(data).decode()
        return f"{_VERSION}.{wrapped}.{ciphertext}"

    def decrypt(self, stored: str) -> bytes:
        try:
            version, wrapped, ciphertext = stored.split(".", 2)
            if version != _VERSION:
                raise DecryptionError(f"unknown envelope version {version!r}")
            data_key = self._kek.decrypt(wrapped.encode())
            return Fernet(data_key).decrypt(ciphertext.encode())
        except (ValueError, InvalidToken) as exc:
            if isinstance(exc, DecryptionError):
                raise
            raise DecryptionError("value cannot be decrypted with the configured key") from exc
