"""Fixtures of the mapping tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exports.mapping import declare


@pytest.fixture
def registry() -> Iterator[None]:
    """Declarations made in a test are forgotten after it."""
    saved = dict(declare._REGISTRY)
    yield
    declare._REGISTRY.clear()
    declare._REGISTRY.update(saved)
    declare._BY_MODEL.clear()
