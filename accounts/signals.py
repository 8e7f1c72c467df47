from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from accounts.models import Account, CRMSettings

# The admin's "Test connection" logged in to the account's org (`account_id`). The export
# side listens (exports.signals): a receiver returns True if scheduled runs start again.
connection_works = Signal()


@receiver(post_save, sender=Account)
def create_crm_settings(
    sender: type[Account], instance: Account, created: bool, **kwargs: Any
) -> None:
    """Every account has exactly one CRMSettings row (export off until enabled)."""
    if created and not kwargs.get("raw"):
        CRMSettings.objects.get_or_create(account=instance)
