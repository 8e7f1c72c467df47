"""The declarations: `Export` (a model → a Salesforce object) and `Ref` (a parent by its
external id), registered when a subclass names its model (docs/integration.md › Mappings)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models

from exports.mapping.convert import to_salesforce


@dataclass(frozen=True)
class Ref:
    """A parent looked up in the org by its external id: `Ref("Account", "Ext_Id__c",
    "company.uuid")` sends {"Ext_Id__c": <the company's uuid>} under the relationship name."""

    sobject: str
    external_id_field: str
    path: str

    @property
    def parent_path(self) -> str:
        """The attribute path of the parent object ("company" of "company.uuid")."""
        return self.path.rpartition(".")[0]


_REGISTRY: dict[str, type[Export]] = {}
# Called with each model an export is declared for (the capture's receivers connect to it:
# exports.mapping.signals), for those declared before and after.
_ON_MODEL: list[Callable[[type], None]] = []
_BY_MODEL: dict[type, list[type[Export]]] = {}  # for_model's answers (cleared on registration)


def registered() -> dict[str, type[Export]]:
    """Every declared export by name (its class name)."""
    return dict(_REGISTRY)


def on_each_model(callback: Callable[[type], None]) -> None:
    """Call `callback` with every model an export is declared for, now and from now on."""
    _ON_MODEL.append(callback)
    for export in list(_REGISTRY.values()):
        if export.model is not None:
            callback(export.model)


def for_model(model: type) -> list[type[Export]]:
    """The exports declared for `model` (a proxy or child model: its concrete model's too)."""
    found = _BY_MODEL.get(model)
    if found is None:
        found = [
            e for e in _REGISTRY.values() if e.model is not None and issubclass(model, e.model)
        ]
        _BY_MODEL[model] = found
    return found


class Export:
    """How a model is exported. Subclass it and set `model`, `sobject`, `external_id`
    (Salesforce field, model attribute), `account` (an attribute path to the crmsync
    Account or its id, or a callable of the object) and `fields` ({Salesforce field:
    attribute path or Ref}); override `include(obj)` to export only some rows."""

    model: ClassVar[type[models.Model] | None] = None
    sobject: ClassVar[str] = ""
    external_id: ClassVar[tuple[str, str]] = ("", "")
    account: ClassVar[str | Callable[[Any], Any]] = ""
    fields: ClassVar[Mapping[str, str | Ref]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.model is not None:
            _REGISTRY[cls.__name__] = cls
            _BY_MODEL.clear()
            for callback in _ON_MODEL:
                callback(cls.model)

    def include(self, obj: Any) -> bool:
        """Is this row exported? (False for a row exported before: its record is deleted.)"""
        return True

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def key_of(cls, obj: Any) -> str:
        """The row's external id, as text."""
        return str(to_salesforce(attribute(obj, cls.external_id[1])))

    @classmethod
    def account_id_of(cls, obj: Any) -> int | None:
        """The crmsync account the row belongs to (None: not exported). A path that ends in
        a foreign key reads its id column: the Account row is never loaded."""
        if callable(cls.account):
            found = cls.account(obj)
        else:
            head, _, last = cls.account.rpartition(".")
            owner = attribute(obj, head) if head else obj
            column = f"{last}_id"
            found = (
                getattr(owner, column, None)
                if owner is not None and hasattr(owner, column)
                else attribute(owner, last)
                if owner is not None
                else None
            )
        return getattr(found, "pk", found)

    @classmethod
    def values_of(cls, obj: Any) -> dict[str, Any]:
        """The mapped Salesforce fields of `obj`, converted (a Ref as {field: parent key})."""
        values: dict[str, Any] = {}
        for sf_field, source in cls.fields.items():
            if isinstance(source, Ref):
                parent_key = attribute(obj, source.path)
                ref = (
                    None
                    if parent_key is None
                    else {source.external_id_field: to_salesforce(parent_key)}
                )
                values[sf_field] = ref
            else:
                values[sf_field] = to_salesforce(attribute(obj, source))
        return values

    @classmethod
    def parents_of(cls, obj: Any) -> list[Any]:
        """The parent objects its Refs point at (those that exist)."""
        found = []
        for source in cls.fields.values():
            if isinstance(source, Ref) and source.parent_path:
                parent = attribute(obj, source.parent_path)
                if parent is not None:
                    found.append(parent)
        return found


def attribute(obj: Any, path: str) -> Any:
    """`obj.a.b.c` for the path "a.b.c"; None as soon as a step is None."""
    value = obj
    for step in path.split("."):
        if value is None:
            return None
        value = getattr(value, step)
    return value
