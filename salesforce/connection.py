"""What the client reads of an account's connection settings. `accounts.CRMSettings` is
one; the client takes any object with these attributes, so it imports nothing of the
apps above it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Connection(Protocol):
    account_id: int
    login_url: str
    auth_flow: str
    client_id: str
    username: str
    client_secret: str
    private_key: str
    password: str
    api_version: str
    ca_bundle: str
    timeout_seconds: float
    updated_at: datetime

    @property
    def account_slug(self) -> str:
        """How what a login tells a person names the account ("account acme")."""
        ...


# How a login names each setting it needs (the admin's labels of those fields).
LABELS = {
    "client_id": "client id",
    "username": "username",
    "client_secret": "client secret",
    "private_key": "private key",
    "password": "password",
}
