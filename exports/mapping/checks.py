"""System checks of the declared exports (`manage.py check`, and every start): a mistake in a
mapping is a clear error before the first save, not a failed export."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import models

from exports.mapping.declare import Export, Ref, registered
from exports.record_input import InvalidRecord, _api_name


@checks.register(checks.Tags.models)
def check_exports(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name, export in registered().items():
        errors += _check(name, export)
    return errors


def _check(name: str, export: type[Export]) -> list[checks.CheckMessage]:
    model = export.model
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        return [_error(name, "model is not a Django model", "exports.E001")]
    errors = _names(name, export)
    sf_field, attr = export.external_id
    paths = [attr] + [s.path if isinstance(s, Ref) else s for s in export.fields.values()]
    if isinstance(export.account, str):
        paths.append(export.account)
    elif not callable(export.account):
        errors.append(
            _error(name, "account must be an attribute path or a callable", "exports.E006")
        )
    for path in paths:
        problem = _path_problem(model, path) if path else "an attribute path is empty"
        if problem:
            errors.append(_error(name, problem, "exports.E003"))
    seen: dict[str, str] = {sf_field.lower(): sf_field}
    for field in export.fields:
        if field.lower() in seen:
            errors.append(
                _error(
                    name,
                    f"the Salesforce field {field} is mapped twice (Salesforce "
                    f"field names ignore case: {seen[field.lower()]})",
                    "exports.E004",
                )
            )
        seen[field.lower()] = field
    if attr and not _unique(model, attr):
        errors.append(
            _error(
                name,
                f"the external id {attr!r} is not unique on {model.__name__}: two rows "
                "would write one Salesforce record (make the field unique)",
                "exports.E005",
            )
        )
    return errors


def _names(name: str, export: type[Export]) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    names = [("sobject", export.sobject), ("external_id field", export.external_id[0])]
    names += [("field name", f) for f in export.fields]
    names += [
        ("Ref field", s.external_id_field) for s in export.fields.values() if isinstance(s, Ref)
    ]
    for what, value in names:
        try:
            _api_name(value, what)
        except InvalidRecord as exc:
            errors.append(_error(name, exc.problem, "exports.E002"))
    return errors


def _path_problem(model: type[models.Model], path: str) -> str | None:
    """Why `path` names no attribute of `model` (following relations), or None."""
    current: Any = model
    for step in path.split("."):
        if current is None:
            return None  # past a plain attribute: checked when the row is exported
        field = _field(current, step)
        if field is not None:
            current = field.related_model if field.is_relation else None
        elif hasattr(current, step):
            current = None
        else:
            return f"{current.__name__} has no attribute {step!r} (in {path!r})"
    return None


def _field(model: type[models.Model], step: str) -> Any:
    for field in model._meta.get_fields():
        if field.name == step or getattr(field, "attname", None) == step:
            return field
    return None


def _unique(model: type[models.Model], attr: str) -> bool:
    field = _field(model, attr) if "." not in attr else None
    if field is None:
        return "." not in attr and not hasattr(model, attr)  # E003 says what is wrong
    if getattr(field, "primary_key", False) or getattr(field, "unique", False):
        return True
    constraints = [
        c.fields
        for c in model._meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.condition is None
    ]
    constraints += list(model._meta.unique_together)
    return any(tuple(fields) == (field.name,) for fields in constraints)


def _error(name: str, message: str, code: str) -> checks.Error:
    return checks.Error(f"{name}: {message}", obj=name, id=code)
