"""The encrypted secret column and the values it reads.

A secret read from the database is a `StoredSecret` (a str): the model can tell it from
a value assigned since (CRMSettings.save forgets stored secrets when the connection
target changes). A stored secret that no configured key decrypts (the key changed or is
missing) reads as an `UnreadableSecret`: empty for every use, shown as "unreadable — set
it again", and written back unchanged when the row is saved, so a page or a run never
fails on it with a 500 and nothing is lost until someone sets it again.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from salesforce import crypto
from salesforce.crypto import StoredSecret, UnreadableSecret

UNREADABLE = "unreadable — set it again"


def secret_state(value: str) -> str:
    """What a person is told about a secret: "set", "not set" or UNREADABLE."""
    if isinstance(value, UnreadableSecret):
        return UNREADABLE
    return "set" if value else "not set"


class EncryptedTextField(models.TextField):
    """A text column stored encrypted (Fernet); "" means not set."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        if not value:
            return ""
        try:
            return StoredSecret(crypto.decrypt(value))
        except crypto.SecretDecryptionError:
            return UnreadableSecret(value)

    def get_prep_value(self, value: Any) -> str:
        if isinstance(value, UnreadableSecret):
            return value.token  # unchanged: still there for the key that opens it
        value = super().get_prep_value(value)
        if not value:
            return ""
        return crypto.encrypt(value)
