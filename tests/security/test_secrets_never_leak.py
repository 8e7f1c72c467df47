"""A known secret, used for real logins (and a failed one), never appears in any log
line of the worker (at DEBUG, which prints every task's arguments) or of this process,
in any admin page, in ExportRun/ExportError/ExportCursor rows, in an error message,
nor as plain text in the database."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.db import connection
from django.test import Client

from accounts.models import CRMSettings
from exports.models import ExportCursor, ExportError, ExportRecord, ExportRun
from exports.outbox import enqueue_many
from tests.chaos.checks import RULES, export_done, workload
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

SECRET = f"canary-S3cret-{uuid.uuid4().hex}"


def admin_pages(account) -> dict[str, str]:
    from django.contrib.auth.models import User

    user = User.objects.create_superuser("root", "root@example.com", "pw-not-the-secret")
    client = Client()
    client.force_login(user)
    crm = CRMSettings.objects.get(account=account)
    run = ExportRun.objects.filter(account=account).first()
    error = ExportError.objects.filter(account=account).first()
    record = ExportRecord.objects.filter(account=account).first()
    urls = [
        f"/admin/accounts/crmsettings/{crm.id}/change/",
        f"/admin/accounts/account/{account.id}/change/",
        "/admin/accounts/account/",
        "/admin/exports/exportrun/",
        f"/admin/exports/exportrun/{run.id}/change/",
        "/admin/exports/exporterror/",
        f"/admin/exports/exporterror/{error.id}/change/",
        f"/admin/exports/exportrecord/{record.id}/change/",
        "/admin/exports/exportcursor/",
        "/admin/exports/status/",
        f"/admin/exports/status/{account.slug}/",
    ]
    pages = {url: client.get(url) for url in urls}
    shown = {url: r.content.decode() for url, r in pages.items() if r.status_code == 200}
    assert len(shown) >= len(urls) - 2, {url: r.status_code for url, r in pages.items()}
    return shown


def rows_as_text(account) -> str:
    parts = [
        *map(str, ExportRun.objects.filter(account=account).values()),
        *map(str, ExportError.objects.filter(account=account).values()),
        *map(str, ExportCursor.objects.filter(account=account).values()),
    ]
    return "\n".join(parts)


def test_a_secret_never_leaks(chaos, chaos_account, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.set_rules({**RULES, "auth": {"clients": {"crmsync-sec": SECRET}}})
    account = chaos_account(
        "sec",
        workload("sec", 400, 100, {50, 250}),
        pause=False,
        client_id="crmsync-sec",
        client_secret=SECRET,
    )
    worker = chaos.worker(loglevel="DEBUG", CRMSYNC_LOG_LEVEL="DEBUG")

    sandbox.set_faults(fail_next=1, fail_status=503)  # a transient failure and its retry
    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: export_done(account), timeout=60, interval=0.3)
    sandbox.expire_tokens()  # a refreshed login
    enqueue_many(account, workload("sec2", 10, 10))
    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(lambda: export_done(account), timeout=60, interval=0.3)
    sandbox.set_rules({**RULES, "auth": {"clients": {"crmsync-sec": "rotated-elsewhere"}}})
    sandbox.expire_tokens()  # the next login is refused: an error message is written
    enqueue_many(account, workload("sec3", 5, 5))
    chaos.send("exports.tasks.run_export", account.id, "api")
    wait_for(
        lambda: ExportRun.objects.filter(account=account, outcome="failed").exists(),
        timeout=60,
        interval=0.3,
    )

    worker_log = worker.log()
    assert "TaskPool: Apply" in worker_log, "the worker log shows every task's arguments"
    assert "exports.tasks.export_batch" in worker_log and "Logged in" in worker_log
    evidence = {
        "worker log (DEBUG, with task arguments)": worker_log,
        "this process's log": caplog.text,
        "rows": rows_as_text(account),
        **{f"admin page {url}": html for url, html in admin_pages(account).items()},
    }
    leaks = [where for where, text in evidence.items() if SECRET in text]
    assert not leaks, f"the secret appears in: {leaks}"
    failed = ExportRun.objects.get(account=account, outcome="failed")
    assert failed.message, "a refused login leaves a reason on the run"

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_secret FROM accounts_crmsettings WHERE account_id = %s", [account.id]
        )
        assert SECRET not in cursor.fetchone()[0], "stored encrypted"
