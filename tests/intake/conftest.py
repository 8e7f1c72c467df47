"""Fixtures of the HTTP intake's tests: an account with a token, and a helper that POSTs
records the way an application that is not Django does (the in-process test client; the
gunicorn test sends real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from django.test import Client

from accounts import intake_tokens
from accounts.models import Account
from exports.models import ExportRecord
from tests.factories import AccountFactory

NDJSON = "application/x-ndjson"


def url(slug: str) -> str:
    return f"/api/v1/accounts/{slug}/records"


def record(n: int, **extra: Any) -> dict[str, Any]:
    """A valid upsert of Contact person-<n>."""
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": f"person-{n}",
        "fields": {"LastName": f"Person {n}"},
        **extra,
    }


def ndjson(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def post(
    client: Client,
    slug: str,
    body: bytes | str,
    token: str | None,
    content_type: str = NDJSON,
    **headers: str,
) -> Any:
    """POST `body` to the account's records URL; `token` as a bearer token (None: no
    Authorization header)."""
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    # CONTENT_TYPE also as a META key: the test client leaves it out of an empty body's request.
    return client.post(
        url(slug), data=body, content_type=content_type, headers=headers, CONTENT_TYPE=content_type
    )


def outbox(account: Account) -> list[str]:
    """The account's outbox, as external ids in id order."""
    return list(
        ExportRecord.objects.filter(account=account)
        .order_by("id")
        .values_list("external_id", flat=True)
    )


@pytest.fixture
def account(db: None) -> Account:
    return AccountFactory(slug="acme", name="Acme")


@pytest.fixture
def token(account: Account) -> str:
    return intake_tokens.make(account, created_by="test")


@pytest.fixture
def api() -> Client:
    """A client that enforces CSRF checks, as a browser's would: the intake is exempt."""
    return Client(enforce_csrf_checks=True)
