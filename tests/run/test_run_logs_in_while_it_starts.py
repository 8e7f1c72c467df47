"""A run with records to export logs in while it starts (in the HTTP thread), so its first
call does not wait for the login; a run with nothing to do does not log in at all."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import cache

from exports.models import ExportRun
from exports.run import link, overlap, runs, steps
from salesforce.reuse import reusable_gateway
from tests.pipeline_fixtures import contacts, enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def logins(caplog: pytest.LogCaptureFixture, slug: str) -> int:
    """This account's logins (another test's HTTP thread may still log in for its own)."""
    return sum(
        f"Logged in to Salesforce for account {slug} " in r.getMessage() for r in caplog.records
    )


def http_thread_done() -> None:
    """Wait until the HTTP thread has run everything submitted before now (it runs one
    job at a time, in order)."""
    overlap.http().submit(lambda: None).result(timeout=30)


def test_a_starting_run_logs_in_before_its_first_call(sandbox, crm_account, caplog):
    caplog.set_level(logging.INFO, logger="salesforce")
    account = crm_account(slug="login-ahead")
    enqueue(account, contacts(30))
    cache.clear()  # no token from an earlier test

    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    http_thread_done()

    assert isinstance(started, runs.Running)
    assert logins(caplog, "login-ahead") == 1
    assert sandbox.writes() == []  # logged in, nothing sent yet

    link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    run = ExportRun.objects.get(id=started.run_id)
    assert (run.outcome, run.exported) == ("completed", 30)
    assert logins(caplog, "login-ahead") == 1  # the call used the token the start got


def test_a_run_with_nothing_to_do_does_not_log_in(sandbox, crm_account, caplog):
    caplog.set_level(logging.INFO, logger="salesforce")
    account = crm_account(slug="idle")
    cache.clear()

    started = runs.start_run(account.id, ExportRun.Trigger.SCHEDULE)
    http_thread_done()

    assert started == runs.Ended(started.run_id, "nothing_to_do")
    assert logins(caplog, "idle") == 0


def test_a_refused_login_fails_the_run_after_one_attempt(sandbox, crm_account):
    account = crm_account(slug="refused", client_secret="wrong-secret-value")
    enqueue(account, contacts(5))
    cache.clear()
    attempts: list[Any] = []
    started = runs.start_run(account.id, ExportRun.Trigger.MANUAL)
    http_thread_done()
    gateway = reusable_gateway(runs.load_settings(account.id))
    gateway._session.hooks["response"].append(lambda response, **_: attempts.append(response))

    with pytest.raises(steps.RunFailed):  # the link's task ends in FAILURE (Flower)
        link.export_link(account.id, started.run_id, started.after_id, link_id="L1")

    run = ExportRun.objects.get(id=started.run_id)
    assert run.outcome == "failed" and "login" in run.message
    assert attempts == []  # the start's failed login is the call's answer: not tried again
    assert sandbox.writes() == []
