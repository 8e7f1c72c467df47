"""The receivers that capture saves and deletions of declared models (connected once, for
every model; a model no export declares costs a dictionary lookup)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_delete

from exports.mapping.capture import capture
from exports.mapping.declare import for_model


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
    post_save.connect(captured_save, dispatch_uid="crmsync-capture-save")
    pre_delete.connect(captured_delete, dispatch_uid="crmsync-capture-delete")
