"""Secrets at rest: Fernet encryption with rotatable keys.

`settings.CRMSYNC_ENCRYPTION_KEYS` lists Fernet keys, newest first (settings.py checks
each at start; crmsync/keys.py). The first key encrypts; every key decrypts, so a key
can be rotated without downtime (`crm_rotate_secrets`).

Signatures (`sign`, `signed`) use keys derived from the same keys (HKDF-SHA256, one per
purpose, named by a label): the newest signs, any verifies, so they rotate together.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be read with any configured key."""


def _multi() -> MultiFernet:
    return _fernets(tuple(settings.CRMSYNC_ENCRYPTION_KEYS))


@functools.cache
def _fernets(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> str:
    return _multi().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The secret a token holds. Each token is decrypted once per process (an HMAC and AES):
    an account's settings and shared token are read at every run until they change."""
    return _decrypted(token, tuple(settings.CRMSYNC_ENCRYPTION_KEYS))


@functools.lru_cache(maxsize=16_384)  # a fleet's accounts: ~0.1 ms of CPU a secret a run
def _decrypted(token: str, keys: tuple[str, ...]) -> str:
    try:
        return _fernets(keys).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(
            "A stored CRM secret cannot be decrypted with CRMSYNC_ENCRYPTION_KEY; "
            "add the key it was written with (comma-separated, newest first) or set the secret again."
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a token with the newest key."""
    return _multi().rotate(token.encode()).decode()


def readable(token: str) -> bool:
    """Does any configured key decrypt this token?"""
    try:
        _multi().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def on_newest_key(token: str) -> bool:
    """Was this token encrypted with the newest (first) key?"""
    try:
        Fernet(settings.CRMSYNC_ENCRYPTION_KEYS[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def sign(label: str, message: bytes) -> str:
    """HMAC-SHA256 of `message` (hex) with the key derived for `label` from the newest key."""
    key = _derived(settings.CRMSYNC_ENCRYPTION_KEYS[0], label)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed(label: str, message: bytes, mac: str) -> bool:
    """Is `mac` what `sign(label, message)` gives with any configured key?"""
    return any(
        hmac.compare_digest(
            hmac.new(_derived(key, label), message, hashlib.sha256).hexdigest(), mac
        )
        for key in settings.CRMSYNC_ENCRYPTION_KEYS
    )


@functools.lru_cache(maxsize=32)
def _derived(key: str, label: str) -> bytes:
    """A key of its own for `label`'s purpose, from one Fernet key (never the key itself)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode())
    return hkdf.derive(base64.urlsafe_b64decode(key.encode()))


class StoredSecret(str):
    """A secret as read from the database and not assigned since."""

    __slots__ = ()


class UnreadableSecret(StoredSecret):
    """A stored secret no key of CRMSYNC_ENCRYPTION_KEY opens: "" plus its stored token
    (no __slots__ here: a str subclass keeps `token` in its __dict__)."""

    token: str

    def __new__(cls, token: str) -> UnreadableSecret:
        value = super().__new__(cls, "")
        value.token = token
        return value

    def __repr__(self) -> str:
        return "UnreadableSecret()"
