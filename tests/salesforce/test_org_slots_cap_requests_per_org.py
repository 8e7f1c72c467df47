"""Per-org call slots (salesforce/org_slots.py) in the Django cache, on LocMem and on a
real Redis of the test's own: the cap holds, a request over it waits its turn (or, after
the wait, is a TransientError), a freed or expired slot lets the next one in, two orgs do
not share slots, 0 means no cap, and a cache that cannot be reached lets requests go
with a WARNING. The gateway takes a slot for each data request and none for the login."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings

from accounts.models import CRMSettings
from crmsync.settings import cache_config
from salesforce import org_slots, shared
from salesforce.client import Gateway, TransientError
from salesforce.org_slots import Org, held, org_key, slot_keys
from tests.chaos.processes import RedisServer, free_port
from tests.conftest import wait_for


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("org-slots-redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request: pytest.FixtureRequest) -> Iterator[str]:
    """The Django cache on LocMem (one process) or on a real Redis (every worker)."""
    url = "locmem://" if request.param == "locmem" else request.getfixturevalue("redis_server").url
    with override_settings(CACHES={"default": cache_config(url)}):
        yield url


def an_org(cap: int = 3, wait_s: float = 0.0, expiry_s: int = 60, client_id: str = "") -> Org:
    """A fresh org (its own key), so no test sees another's slots."""
    instance = f"https://{uuid.uuid4().hex[:8]}.my.salesforce.com"
    return Org(org_key(instance, client_id or "app"), instance, cap, expiry_s, wait_s)


def take(stack: ExitStack, org: Org, n: int) -> None:
    for _ in range(n):
        stack.enter_context(held(org))


def test_the_cap_holds_and_a_freed_slot_lets_the_next_in(shared_cache: str) -> None:
    org = an_org(cap=3)
    with ExitStack() as stack:
        take(stack, org, 2)
        third = ExitStack()
        take(third, org, 1)
        assert len(cache.get_many(slot_keys(org.key, 3, 0))) == 3
        with pytest.raises(TransientError) as over:
            take(stack, org, 1)
        third.close()  # one request answers
        take(stack, org, 1)
        with pytest.raises(TransientError):
            take(stack, org, 1)
    assert over.value.code == "ORG_CONCURRENCY"
    assert "3 calls to the org at https://" in over.value.message
    assert "CRMSYNC_ORG_CONCURRENCY=3" in over.value.message
    assert cache.get_many(slot_keys(org.key, 3, 0)) == {}  # all freed


def test_a_request_over_the_cap_waits_for_a_slot_to_free(shared_cache: str) -> None:
    org = an_org(cap=2, wait_s=30)
    entered = threading.Event()
    leave = threading.Event()

    def waiter() -> None:
        with override_settings(CACHES={"default": cache_config(shared_cache)}), held(org):
            entered.set()
            leave.wait(10)

    with ExitStack() as stack:
        take(stack, org, 1)
        last = ExitStack()
        take(last, org, 1)
        thread = threading.Thread(target=waiter)
        thread.start()
        assert not entered.wait(0.5)  # both slots taken: it waits
        last.close()  # one request answers
        wait_for(entered.is_set, timeout=10, what="the waiting request to take the freed slot")
        leave.set()
        thread.join(10)


def test_a_leaked_slot_expires(shared_cache: str) -> None:
    org = an_org(cap=1, expiry_s=1)
    leaked = held(org)  # a worker killed mid-request: its slot is never freed
    leaked.__enter__()

    def free_again() -> bool:
        try:
            with held(org):
                return True
        except TransientError:
            return False

    assert not free_again()
    wait_for(free_again, timeout=10, interval=0.2, what="the leaked slot to expire")
    assert leaked is not None  # kept alive until here: collecting it would free the slot


def test_a_request_that_outlived_its_slot_does_not_free_the_next_holders(
    shared_cache: str,
) -> None:
    org = an_org(cap=1, expiry_s=1)
    slow = held(org)
    slow.__enter__()
    later = ExitStack()

    def taken_after_expiry() -> bool:
        try:
            take(later, org, 1)
            return True
        except TransientError:
            return False

    wait_for(taken_after_expiry, timeout=10, interval=0.2, what="the slow request's slot to expire")
    slow.__exit__(None, None, None)  # the slow request answers at last
    with pytest.raises(TransientError):
        take(ExitStack(), org, 1)  # the slot is still the later request's
    later.close()
    take(ExitStack(), org, 1)


def test_two_orgs_do_not_share_slots(shared_cache: str) -> None:
    one = an_org(cap=1, client_id="app-one")
    same_instance_other_app = Org(
        org_key(one.instance_url, "app-two"), one.instance_url, 1, 60, 0.0
    )
    with held(one), held(an_org(cap=1)), held(same_instance_other_app):
        with pytest.raises(TransientError):
            take(ExitStack(), one, 1)


def test_zero_means_no_cap(shared_cache: str) -> None:
    org = an_org(cap=0)
    with ExitStack() as stack:
        take(stack, org, 50)
    assert cache.get(f"org-slot:{org.key}:0") is None


def test_a_cache_out_of_reach_lets_the_request_go_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared, "_down_until", 0.0)  # no outage noted by an earlier test
    monkeypatch.setattr(shared, "_down_warned", False)
    down = cache_config(f"redis://127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.WARNING, logger="salesforce.shared")
    with override_settings(CACHES={"default": down}):
        ran = []
        for _ in range(3):
            with held(an_org(cap=1)):
                ran.append(True)
    assert ran == [True] * 3
    warnings = [r for r in caplog.records if r.name == "salesforce.shared"]
    assert len(warnings) == 1  # one per outage, not one per request
    assert warnings[0].levelno == logging.WARNING
    assert "without the per-org cap" in warnings[0].getMessage()


def test_the_gateway_holds_a_slot_per_data_request_and_none_to_log_in(
    crm: CRMSettings, sandbox: Any, settings: Any
) -> None:
    settings.CRMSYNC_ORG_CONCURRENCY = 1
    settings.CRMSYNC_ORG_SLOT_WAIT_S = 0
    org = Org(org_key(sandbox.url, crm.client_id), sandbox.url, 1, 60, 0.0)
    gateway = Gateway(crm)
    # A request an earlier test left stalled in the org would count in its peak.
    wait_for(lambda: sandbox.stats()["requests_in_flight"] == 0, timeout=15)
    sandbox.session.delete(f"{sandbox.url}/sandbox/stats", timeout=15).raise_for_status()
    with held(org):  # another account of the same org has its one request in flight
        with pytest.raises(TransientError, match="CRMSYNC_ORG_CONCURRENCY=1"):
            gateway.check_connection()  # logs in, then GET limits: a data request
    stats = sandbox.stats()
    assert (stats["logins"], stats["peak_concurrent_requests"], gateway.api_calls) == (1, 0, 0)
    assert gateway.check_connection().instance_url == sandbox.url  # the slot is free again


# -- a thread that keeps its slot between requests (the worker's HTTP thread) --------------


def in_keeping_thread(job: Any, shared_cache: str) -> Any:
    """Run `job` in a new thread that keeps its slot (as the HTTP thread does); its result."""
    out: list[Any] = []

    def run() -> None:
        with override_settings(CACHES={"default": cache_config(shared_cache)}):
            org_slots.keep_slots_in_this_thread()
            out.append(job())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return out[0]


def slots_taken(org: Org) -> int:
    return len(cache.get_many(slot_keys(org.key, org.cap, 0)))


def test_a_kept_slot_serves_the_next_request_and_is_freed_by_let_go(
    shared_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = an_org(cap=2)
    claims = []
    real_claim = shared.claim_free
    monkeypatch.setattr(shared, "claim_free", lambda *a: claims.append(1) or real_claim(*a))

    def three_requests_then_let_go() -> list[int]:
        taken = []
        for _ in range(3):
            with held(org):
                taken.append(slots_taken(org))
        taken.append(slots_taken(org))  # between tasks: still kept
        org_slots.let_go()
        taken.append(slots_taken(org))
        return taken

    assert in_keeping_thread(three_requests_then_let_go, shared_cache) == [1, 1, 1, 1, 0]
    assert len(claims) == 1  # one round trip to take it for three requests


def test_a_kept_slot_still_counts_against_the_cap(shared_cache: str) -> None:
    org = an_org(cap=1)

    def one_request() -> None:
        with held(org):
            pass

    in_keeping_thread(one_request, shared_cache)  # the thread ended without let_go
    with pytest.raises(TransientError):
        take(ExitStack(), org, 1)  # another worker: the kept slot is taken


def test_a_kept_slot_is_let_go_for_another_org_and_when_old(
    shared_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = an_org(cap=1), an_org(cap=1)

    def switch_orgs_then_age() -> list[int]:
        with held(one):
            pass
        with held(two):  # lets one's slot go first
            seen = [slots_taken(one), slots_taken(two)]
        monkeypatch.setattr(org_slots, "KEEP_AT_MOST_S", 0.0)  # two's kept slot is old now
        with held(two):
            seen.append(slots_taken(two))
        org_slots.let_go()
        return [*seen, slots_taken(two)]

    assert in_keeping_thread(switch_orgs_then_age, shared_cache) == [0, 1, 1, 0]


def test_a_failed_request_frees_its_slot_even_in_a_keeping_thread(shared_cache: str) -> None:
    org = an_org(cap=1)

    def failing_request() -> int:
        with pytest.raises(RuntimeError), held(org):
            raise RuntimeError("the request failed")
        return slots_taken(org)

    assert in_keeping_thread(failing_request, shared_cache) == 0
