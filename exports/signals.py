"""Saving an account's CRM settings closes its circuit breaker (exports.alerts.circuit)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import CRMSettings
from exports.alerts import circuit


@receiver(post_save, sender=CRMSettings)
def close_circuit_on_save(sender: type[CRMSettings], instance: CRMSettings, **kwargs: Any) -> None:
    """New settings deserve a login now: the next scheduled run tries at once."""
    if not kwargs.get("raw"):
        circuit.close(instance.account_id)
