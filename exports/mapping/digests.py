"""Digests of the values a key last enqueued (`CapturedKey.digests`): a short digest per
field, so a save sends only the fields that changed (docs/integration.md › Capture on
commit)."""

from __future__ import annotations

import hashlib
from typing import Any


def digest(value: Any) -> str:
    """A short digest of a converted value (what was enqueued for a field): its repr, which
    for the JSON values `to_salesforce` gives (text, numbers, booleans, None, a one-key
    reference) is the same in every process. Remembered for text, integers, booleans and
    None (whose repr their type and value decide), and references to them."""
    kind = type(value)
    if kind is dict and len(value) == 1:
        ((name, ref),) = value.items()
        if ref.__class__ not in _REMEMBERED:
            return _digest(value)
        key: Any = (name, ref.__class__, ref)
    else:
        key = (kind, value)
        if kind not in _REMEMBERED:
            return _digest(value)
    try:
        return _DIGESTS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return _digest(value)
    if len(_DIGESTS) >= 50_000:
        _DIGESTS.clear()
    _DIGESTS[key] = found = _digest(value)
    return found


def digests_of(values: dict[str, Any]) -> dict[str, str]:
    """`digest` of each value, a remembered scalar's found without a call (a backfill
    digests millions of values, most of them repeated)."""
    return dict(zip(values, digests_in_column(list(values.values())), strict=True))


def digests_in_column(values: list[Any], ref: str | None = None, texts: bool = False) -> list[str]:
    """`digest` of each value of a column (a backfill's chunk, a column at a time), or of
    `{ref: value}` for each value not None (a Ref's column); `texts`: every value is text
    or None. The same digests `digests_of` gives."""
    if texts:  # text looked up by itself: no type checked, no tuple made for the lookup
        memo = _TEXTS.setdefault(ref, {})
        if len(memo) >= 50_000:
            memo.clear()
        none = digest(None)
        return [
            none if value is None else memo.get(value) or _text(memo, ref, value)
            for value in values
        ]
    if ref is not None:
        return [digest(None if value is None else {ref: value}) for value in values]
    remembered = _DIGESTS
    found: list[str] = []
    add = found.append
    for value in values:
        kind = value.__class__
        if kind in _REMEMBERED:
            key = (kind, value)
            answer = remembered.get(key)
            if answer is None:
                answer = _digest(value)
                if len(remembered) >= 50_000:
                    remembered.clear()
                remembered[key] = answer
            add(answer)
        else:
            add(digest(value))
    return found


def _text(memo: dict[str, str], ref: str | None, value: str) -> str:
    memo[value] = found = _digest(value if ref is None else {ref: value})
    return found


def _digest(value: Any, _blake2b: Any = hashlib.blake2b) -> str:
    return _blake2b(repr(value).encode(), digest_size=8).hexdigest()


_REMEMBERED = frozenset((str, int, bool, type(None)))
_DIGESTS: dict[Any, str] = {}
_TEXTS: dict[str | None, dict[str, str]] = {}  # per Ref (None: plain values), text → digest
