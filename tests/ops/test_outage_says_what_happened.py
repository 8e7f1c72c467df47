"""The README's outage path: with the org down, a person sees the retries as they happen
and, once they run out, what happened, what to check and where the next run resumes —
never "will retry" in the end, no API calls counted, one WARNING line and no traceback in
the worker's log.

The Procfile's worker runs with short retries (3, one second apart); `crm_export` and
`crm_status` run as commands, as a person runs them, against the same queue and database.
The org is a login URL where nothing listens.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest

from salesforce.login_hosts import ENV_NAME
from tests.factories import AccountFactory, CRMSettingsFactory
from tests.ops.conftest import Worker, worker_process
from tests.pipeline_fixtures import contacts, enqueue
from tests.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RETRIES = {"CRMSYNC_MAX_RETRIES": "3", "CRMSYNC_RETRY_BACKOFF_S": "1", "CRMSYNC_RETRY_BACKOFF_MAX_S": "1"}  # fmt: skip


# Nothing listens there; an allowed login host (CRMSYNC_EXTRA_LOGIN_HOSTS) of the processes.
DOWN_ORG = f"https://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def short_retries(django_db_setup, tmp_path_factory) -> Iterator[Worker]:
    allowed = ",".join(filter(None, [os.environ.get(ENV_NAME), DOWN_ORG.removeprefix("https://")]))
    with worker_process(
        tmp_path_factory.mktemp("outage"), **RETRIES, **{ENV_NAME: allowed}
    ) as started:
        yield started


def test_org_down(short_retries, tmp_path):
    org = DOWN_ORG
    account = AccountFactory(slug="acme")
    CRMSettingsFactory(account=account, login_url=org, ca_bundle="", export_enabled=True)
    ids = enqueue(account, contacts(3))

    export = short_retries.manage("crm_export", "--account", "acme", "--progress")

    assert export.returncode == 1, export.stderr
    summary, reason = export.stdout.strip().splitlines()
    assert re.fullmatch(
        r"run \d+ of acme: failed — attempted 0, exported 0, failed 0, API calls 0", summary
    )
    assert re.fullmatch(
        rf"failed: The org at {org} refused the connection 4 times in a row over \d+ s; "
        r"check the login URL in the account's CRM settings and that the org is reachable "
        rf"from this machine; nothing was skipped: the next scheduled run resumes at record "
        rf"#{ids[0]} \(or now: python manage.py crm_export --account acme\)\.",
        reason,
    ), reason
    # The retries showed as they happened, on the progress line. The line is polled
    # (every 0.1 s), so it must show each retry that waited a second; one sent again at
    # once (full jitter: "in 0 s") may come and go between two looks.
    notes = set(
        re.findall(r"0/3 records — (retry .*?)\s*$", export.stderr.replace("\r", "\n"), re.M)
    )
    assert all(re.fullmatch(r"retry [123]/3 in [01] s: connection refused", n) for n in notes)
    logged = [line.split("note=")[1].strip('"') for line in retries_logged(short_retries)]
    assert {n for n in logged if " in 1 s:" in n} <= notes, (logged, notes)
    assert "will retry" not in export.stdout + export.stderr

    status = short_retries.manage("crm_status", "--account", "acme")
    assert status.stdout.splitlines()[0] == "account acme: FAILING (idle), exported up to #0"
    assert reason.removeprefix("failed: ") in status.stdout
    data = json.loads(short_retries.manage("crm_status", "--account", "acme", "--json").stdout)
    assert (data["last_run_outcome"], data["last_run_message"]) == (
        "failed",
        reason.removeprefix("failed: "),
    )

    # The worker's log: each retry as it happened, then one WARNING with the reason.
    # Each note says the wait Celery scheduled ("Retry in 1s"; the first link's retry is
    # sent by run_export itself).
    for n, note in enumerate(logged, start=1):
        assert re.fullmatch(rf"retry {n}/3 in [01] s: connection refused", note), logged
    assert len(logged) == 3
    scheduled = [
        int(s) for s in re.findall(r"\] retry: Retry in (\d+)s", short_retries.process.log())
    ]
    assert [int(n.split(" in ")[1][0]) for n in logged[1:]] == scheduled, (logged, scheduled)
    warnings = short_retries.lines("WARNING/")
    assert len(warnings) == 1 and "outcome=failed" in warnings[0], warnings
    assert "refused the connection 4 times" in warnings[0]
    log = short_retries.process.log()
    assert "ERROR" not in log and "Traceback" not in log


def retries_logged(worker: Worker) -> list[str]:
    """The worker's `export.batch.retry` lines for acme, in order."""
    return worker.lines("export.batch.retry account=acme")
