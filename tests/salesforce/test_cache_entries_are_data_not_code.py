"""The shared cache holds data, never code: whoever can write to Redis cannot make a worker
run anything. An entry that is not crmsync's JSON — a crafted pickle whose unpickling would
make a directory included — runs nothing and is a miss, told once at WARNING; the export
goes on (logging in, reading the describe again). Both backends store the same data:
JSON values, integers as integers."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings

from accounts.models import CRMSettings
from crmsync.settings import cache_config
from salesforce import shared
from salesforce.client import Gateway
from salesforce.org_slots import slot_keys
from tests.salesforce.conftest import contacts
from tests.salesforce.raw_redis import fresh_cache_health, write_raw

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_cache_health(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_cache_health(monkeypatch)


class MakesADirectory:
    """Unpickling this calls os.mkdir(path): proof that the entry's code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.mkdir, (str(self.path),))


def crafted_pickle(path: Path) -> bytes:
    return pickle.dumps(MakesADirectory(path))


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


ENTRIES: dict[str, Callable[[Gateway], str]] = {
    "token": lambda gateway: gateway._login.cache_key(),
    "describe": lambda gateway: gateway._describe_key("Contact"),
    "kept failure": lambda gateway: f"{gateway._login.cache_key()}:failed",
}


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_crafted_pickle_runs_nothing_and_is_a_miss(
    crm: CRMSettings,
    sandbox: Any,
    redis_cache: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    entry: str,
) -> None:
    ran = tmp_path / "the-pickle-ran"
    write_raw(redis_cache, ENTRIES[entry](Gateway(crm)), crafted_pickle(ran))
    caplog.set_level(logging.INFO, logger="salesforce")

    gateway = Gateway(crm)
    types = gateway.field_types("Contact")
    results = gateway.upsert_collection("Contact", "ExtId__c", contacts("p-1"), True)

    assert not ran.exists(), "unpickling a cache entry ran its code"
    assert types.get("LastName") == "string" and all(r.ok for r in results)
    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)
    assert sum("Logged in" in r.getMessage() for r in caplog.records) == 1


def test_a_crafted_pickle_in_an_org_slot_runs_nothing(
    db: None, redis_cache: Any, tmp_path: Path
) -> None:
    ran = tmp_path / "the-pickle-ran"
    keys = slot_keys("some-org", 3, 0)
    for key in keys[:2]:
        write_raw(redis_cache, key, crafted_pickle(ran))

    taken = shared.claim_free(keys, 12345, 30)

    assert not ran.exists(), "unpickling a slot entry ran its code"
    assert taken == keys[2]  # the unreadable slots still count as taken
    assert cache.get(keys[2]) == 12345


@pytest.mark.parametrize("backend", ["redis", "locmem"])
def test_both_backends_store_json_data(backend: str, redis_cache: Any) -> None:
    url = redis_cache.url if backend == "redis" else "locmem://"
    with override_settings(CACHES={"default": cache_config(url)}):
        cache.set("data", {"kind": "auth", "codes": ("A", "B"), "n": 2})
        cache.set("count", 41)
        cache.incr("count")

        assert cache.get("data") == {"kind": "auth", "codes": ["A", "B"], "n": 2}
        assert cache.get("count") == 42 and type(cache.get("count")) is int
        with pytest.raises(TypeError):
            cache.set("not-data", MakesADirectory(Path("/nowhere")))
