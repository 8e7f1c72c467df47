"""Secrets at rest: Fernet encryption with rotatable keys.

`settings.CRMSYNC_ENCRYPTION_KEYS` lists keys, newest first. Each may be a
Fernet key or any passphrase (hashed to one). The first key encrypts; every
key decrypts, so a key can be rotated without downtime.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be read with any configured key."""


def _fernet_for(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:
        digest = hashlib.sha256(key.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


def _multi() -> MultiFernet:
    return MultiFernet([_fernet_for(k) for k in settings.CRMSYNC_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _multi().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _multi().decrypt(token.encode()).decode()
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
        _fernet_for(settings.CRMSYNC_ENCRYPTION_KEYS[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
