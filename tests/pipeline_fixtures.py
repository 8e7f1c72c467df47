"""Accounts wired to the sandbox org, and records enqueued for them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import Account
from exports.models import ExportRecord
from exports.outbox import enqueue_many
from exports.run import link, steps
from tests.factories import AccountFactory, CRMSettingsFactory

CUSTOMER_NEEDS_EMAIL = {
    "name": "Email_Required_For_Customers",
    "when": {"field": "Type__c", "equals": "Customer"},
    "require": "Email",
    "message": "Customers need an email",
}


@pytest.fixture
def crm_account(sandbox: Any) -> Callable[..., Account]:
    """Make an account whose CRM settings point at the sandbox org."""

    def make(slug: str = "acme", pause: bool = True, **settings: Any) -> Account:
        account = AccountFactory(slug=slug, name=slug.title())
        values = {
            "export_enabled": True,
            "pause_on_export_errors": pause,
            "login_url": sandbox.url,
            "ca_bundle": str(sandbox.ca_path),
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        }
        CRMSettingsFactory(account=account, **(values | settings))
        return account

    return make


def contacts(n: int, start: int = 1, **overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """n Contact records person-{start}… ; `overrides` maps "person-437" → extra fields."""
    items = []
    for i in range(start, start + n):
        ext = f"person-{i}"
        fields = {"LastName": f"Person {i}", "Type__c": "Lead", **overrides.get(ext, {})}
        items.append(
            {
                "sobject": "Contact",
                "external_id_field": "ExtId__c",
                "external_id": ext,
                "fields": fields,
            }
        )
    return items


def enqueue(account: Account, items: list[dict[str, Any]]) -> list[int]:
    before = (
        ExportRecord.objects.filter(account=account)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
        or 0
    )
    enqueue_many(account, items)
    return list(
        ExportRecord.objects.filter(account=account, id__gt=before)
        .order_by("id")
        .values_list("id", flat=True)
    )


def written_external_ids(sandbox: Any, since: int = 0) -> list[str]:
    return [w["external_id"] for w in sandbox.writes(since=since)]


def export_one_call(account_id: int, run_id: int, after_id: int, **kwargs: Any) -> steps.LinkStep:
    """A link that makes one call (CRMSYNC_LINK_SECONDS=0: no time for a second one), as
    the `export_batch` task runs it: what the link does with each call, one at a time."""
    kwargs.setdefault("link_id", str(uuid.uuid4()))  # a Celery task id: each link its own
    with override_settings(CRMSYNC_LINK_SECONDS=0):
        return link.export_link(account_id, run_id, after_id, **kwargs)
