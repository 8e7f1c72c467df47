"""Workers that meet an account without a token at the same moment log in once among them
(a lock in the shared cache); the others wait for its token. The same for a 401 they all
see: one login, not one each. A refused login is everyone's answer at once, after one
attempt. One describe per object, likewise.

Each Gateway here stands for a worker process: its own HTTPS session and token in hand,
the Redis cache shared with the others, as on a fleet
(tests/salesforce/test_workers_log_in_once_per_account.py proves it with real worker
processes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from accounts.models import CRMSettings
from salesforce.client import AuthError, Gateway, TransientError
from tests.salesforce.conftest import CONTACT_RULES, contacts

pytestmark = pytest.mark.integration

WORKERS = 6
LOGIN_LATENCY_MS = 300  # every login takes this long: the workers' misses overlap


def at_once(gateways: list[Gateway], action: Callable[[Gateway], Any]) -> list[Any]:
    """`action(gateway)` in one thread per gateway, released together; results (or the
    exception raised) in order."""
    barrier = threading.Barrier(len(gateways))

    def run(gateway: Gateway) -> Any:
        barrier.wait(10)
        try:
            return action(gateway)
        except Exception as exc:  # the test looks at what each worker got
            return exc

    with ThreadPoolExecutor(len(gateways)) as pool:
        return list(pool.map(run, gateways, timeout=60))


def upsert(gateway: Gateway) -> bool:
    name = threading.current_thread().name
    results = gateway.upsert_collection("Contact", "ExtId__c", contacts(name), True)
    return all(r.ok for r in results)


def test_workers_without_a_token_log_in_once(crm: CRMSettings, sandbox: Any, redis_cache) -> None:
    sandbox.set_faults(latency_ms=LOGIN_LATENCY_MS)
    before = sandbox.stats()["logins"]

    answers = at_once([Gateway(crm) for _ in range(WORKERS)], upsert)

    assert answers == [True] * WORKERS
    assert sandbox.stats()["logins"] - before == 1


def test_workers_refused_the_same_token_log_in_once(
    crm: CRMSettings, sandbox: Any, redis_cache
) -> None:
    gateways = [Gateway(crm) for _ in range(WORKERS)]
    assert at_once(gateways, upsert) == [True] * WORKERS
    sandbox.set_faults(latency_ms=LOGIN_LATENCY_MS)
    sandbox.expire_tokens()  # every worker's token in hand now answers 401
    before = sandbox.stats()["logins"]

    answers = at_once(gateways, upsert)

    assert answers == [True] * WORKERS
    assert sandbox.stats()["logins"] - before == 1


def test_a_refused_login_is_everyones_answer_at_once(
    crm: CRMSettings, sandbox: Any, redis_cache
) -> None:
    sandbox.set_rules({**CONTACT_RULES, "auth": {"clients": {"crmsync": "rotated"}}})
    sandbox.set_faults(latency_ms=LOGIN_LATENCY_MS)
    gateways = [Gateway(crm) for _ in range(WORKERS)]
    attempts: list[str] = []
    for gateway in gateways:
        gateway._session.hooks["response"].append(
            lambda response, **_: attempts.append(response.url)
        )
    started = time.monotonic()

    answers = at_once(gateways, upsert)

    elapsed = time.monotonic() - started
    assert all(isinstance(a, AuthError) and "invalid_client" in a.message for a in answers)
    assert len(attempts) == 1 and attempts[0].endswith("/services/oauth2/token")
    # The waiters took the kept failure; they did not wait out the lock (timeout + 2 s).
    assert elapsed < crm.timeout_seconds, f"waited {elapsed:.1f} s"


def test_workers_describe_an_object_once(crm: CRMSettings, sandbox: Any, redis_cache) -> None:
    sandbox.set_faults(latency_ms=LOGIN_LATENCY_MS)
    gateways = [Gateway(crm) for _ in range(WORKERS)]

    types = at_once(gateways, lambda gateway: gateway.field_types("Contact"))

    assert all(t == types[0] for t in types) and types[0]["LastName"] == "string"
    assert sum(gateway.api_calls for gateway in gateways) == 1  # one describe call


def test_a_transient_failure_is_not_kept_the_next_try_goes_out(
    crm: CRMSettings, sandbox: Any, redis_cache
) -> None:
    """A 503 on the describe is not everyone's answer: the link's retry (at once, with a
    backoff of 0) asks the org again instead of raising the kept failure."""
    gateway = Gateway(crm)
    gateway.field_types("Contact")  # logged in; the describe comes next
    gateway.forget_types("Contact")
    sandbox.set_faults(fail_next=1, fail_status=503)

    with pytest.raises(TransientError):
        gateway.field_types("Contact")
    assert Gateway(crm).field_types("Contact")["LastName"] == "string"
