"""Secrets at rest: Fernet encryption with rotatable keys.

`settings.CRMSYNC_ENCRYPTION_KEYS` lists Fernet keys, newest first (settings.py checks
each at start; crmsync/keys.py). The first key encrypts; every key decrypts, so a key
can be rotated without downtime (`crm_rotate_secrets`).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be read with any configured key."""


def _multi() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.CRMSYNC_ENCRYPTION_KEYS])


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
        Fernet(settings.CRMSYNC_ENCRYPTION_KEYS[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
