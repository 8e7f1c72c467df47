"""Task arguments are JSON from outside (Flower's "apply", a requeued message): each id is
checked before any query, with a clear error that names the argument."""

from __future__ import annotations

from typing import Any


class ExportRequestError(ValueError):
    """A task was given ids that do not fit (unknown account, run of another account)."""


def is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def require_id(name: str, value: Any) -> None:
    """A task argument that must be a database id (JSON from Flower may be anything)."""
    if not is_id(value):
        raise ExportRequestError(f"{name} must be an integer id, got {value!r}")


def check_link_arguments(
    account_id: Any, run_id: Any, after_id: Any, until_id: Any, only: Any
) -> None:
    """A requeued link's JSON arguments (Flower) are checked before any query: a clear
    ExportRequestError naming the argument, instead of a database error."""
    for name, value in (("account_id", account_id), ("run_id", run_id), ("after_id", after_id)):
        require_id(name, value)
    if until_id is not None and not is_id(until_id):
        raise ExportRequestError(f"until_id must be an integer id or null, got {until_id!r}")
    if only is not None and not (isinstance(only, list) and all(is_id(i) for i in only)):
        raise ExportRequestError(f"only must be a list of record ids or null, got {only!r}")
