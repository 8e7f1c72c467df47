"""Python values as Salesforce's JSON takes them (pure functions): dates as YYYY-MM-DD,
datetimes in ISO 8601 with their time zone (naive ones in Django's), decimals as numbers when
exact (else as numeric text, which the org parses), UUIDs and enums as text."""

from __future__ import annotations

import enum
import math
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.utils import timezone


class Unconvertible(TypeError):
    """A value no Salesforce field type takes."""


def to_salesforce(value: Any) -> Any:
    """`value` as the JSON value a Salesforce field takes, or Unconvertible."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the most common first
        return value
    if kind is uuid.UUID:
        return str(value)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return to_salesforce(value.value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unconvertible(f"{value} is not a number Salesforce takes")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Unconvertible(f"{value} is not a number Salesforce takes")
        exact = float(value)
        return exact if Decimal(repr(exact)) == value else str(value)
    if isinstance(value, datetime):
        aware = value if timezone.is_aware(value) else timezone.make_aware(value)
        return aware.isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, uuid.UUID):
        return str(value)
    raise Unconvertible(f"a {type(value).__name__} has no Salesforce field type")
