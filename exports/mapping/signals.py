"""The receivers that capture saves and deletions of declared models, connected to each
declared model (and its proxies and child models) only: other models keep Django's fast
deletes (a pre_delete receiver of every model would make each QuerySet.delete() load its
rows)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models.signals import class_prepared, post_save, pre_delete

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
    """Connect the receivers to every model an export is declared for, now and later, and
    to its proxies and child models: Django sends a proxy's saves and deletions with the
    proxy as sender, so `Customer.objects.create(…)` of a proxy of a declared `Person`
    would otherwise enqueue nothing."""
    on_each_model(_connect_with_subclasses)
    class_prepared.connect(_connect_if_declared, dispatch_uid="crmsync-capture-subclasses")


def _connect_with_subclasses(model: type) -> None:
    _connect_model(model)
    for other in apps.get_models(include_auto_created=False):
        if other is not model and issubclass(other, model):
            _connect_model(other)


def _connect_if_declared(sender: type, **kwargs: Any) -> None:
    """A model defined after the declarations (a proxy made later): connected when it is a
    declared model's proxy or child."""
    if for_model(sender):
        _connect_model(sender)


def _connect_model(model: type) -> None:
    uid = f"{model._meta.label}"  # type: ignore[attr-defined]
    post_save.connect(captured_save, sender=model, dispatch_uid=f"crmsync-capture-save:{uid}")
    pre_delete.connect(captured_delete, sender=model, dispatch_uid=f"crmsync-capture-delete:{uid}")
