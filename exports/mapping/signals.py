"""The receivers that capture saves and deletions of declared models, connected to each
declared model only: other models keep Django's fast deletes (a pre_delete receiver of
every model would make each QuerySet.delete() load its rows)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_delete

from exports.mapping.capture import capture
from exports.mapping.declare import for_model, on_each_model


def captured_save(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """A saved row of a declared model: its record, in the save's transaction."""
    exports = for_model(sender)
    if exports and not raw:
        capture([(export, instance) for export in exports])


def captured_delete(sender: type, instance: Any, **kwargs: Any) -> None:
    """A row about to be deleted (inside the deletion's transaction): its deletion."""
    exports = for_model(sender)
    if exports:
        capture([(export, instance) for export in exports], deleted=True)


def connect() -> None:
    """Connect the receivers to every model an export is declared for, now and later."""
    on_each_model(_connect_model)


def _connect_model(model: type) -> None:
    uid = f"{model._meta.label}"  # type: ignore[attr-defined]
    post_save.connect(captured_save, sender=model, dispatch_uid=f"crmsync-capture-save:{uid}")
    pre_delete.connect(captured_delete, sender=model, dispatch_uid=f"crmsync-capture-delete:{uid}")
