"""Saving an account's CRM settings, or a connection test that logged in, closes its circuit
breaker (exports.alerts.circuit). `records_exported` (exports.keymap) is the signal a host
app listens to for the Salesforce Ids of what was written."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import CRMSettings
from accounts.signals import connection_works
from exports.alerts import circuit
from exports.keymap import records_exported

__all__ = ["records_exported"]


@receiver(post_save, sender=CRMSettings)
def close_circuit_on_save(sender: type[CRMSettings], instance: CRMSettings, **kwargs: Any) -> None:
    """New settings deserve a login now: the next scheduled run tries at once."""
    if not kwargs.get("raw"):
        circuit.close(instance.account_id)


@receiver(connection_works)
def close_circuit_when_the_connection_works(sender: Any, account_id: int, **kwargs: Any) -> bool:
    """The login works again: True if the circuit was open (scheduled runs start again)."""
    return circuit.close(account_id)
