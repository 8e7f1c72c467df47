"""Checks of single values in a rules document (rules.py): each returns the value, typed, or
raises a `RulesError` whose message names the key path (`where`) and what was expected."""

from __future__ import annotations

import json
import re
from typing import Any

FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class RulesError(ValueError):
    """A rules document is not valid; the message says where and what to fix."""


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RulesError(f"{where}: expected a JSON object, got {kind(value)}")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RulesError(f"{where}: expected a JSON list, got {kind(value)}")
    return value


def field_names(value: Any, where: str) -> list[str]:
    names = as_list(value, where)
    for name in names:
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise RulesError(f"{where}: {name!r} is not a field API name (letters, digits, _)")
    return names


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}: expected a non-empty string, got {kind(value)}")
    return value


def name_map(value: Any, where: str) -> dict[str, str]:
    mapping = as_object(value, where)
    field_names(list(mapping), where)
    for key, parent in mapping.items():
        if not isinstance(parent, str) or not FIELD_NAME.match(parent):
            raise RulesError(f"{where}.{key}: expected a parent sObject name, got {kind(parent)}")
    return dict(mapping)


def integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RulesError(f"{where}: expected an integer from {low} to {high}, got {kind(value)}")
    return value


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RulesError(f"{where}: expected true or false, got {kind(value)}")
    return value


def number(value: Any, where: str, low: float, high: float) -> float:
    """An integer or decimal JSON number within [low, high] (not a boolean, NaN or infinity)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not low <= value <= high  # False for NaN
    ):
        raise RulesError(f"{where}: expected a number from {low:g} to {high:g}, got {kind(value)}")
    return value


def known_keys(spec: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise RulesError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def required_keys(spec: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in spec:
            raise RulesError(f"{where}: missing required key {key!r}")


def kind(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)
