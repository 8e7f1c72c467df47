"""A run row is written in the same transaction as its request for the lease: a worker that
dies in between (here: the lease request fails) leaves no run that is neither finished nor
holding the lease — nothing would ever end such a row, and it would show as running."""

from __future__ import annotations

from unittest import mock

import pytest

from exports.models import ExportRun
from exports.run import runs
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db(transaction=True)


class WorkerDied(Exception):
    pass


@pytest.mark.parametrize("start", ["run", "lease"])
def test_no_run_row_survives_a_failure_before_the_lease(start):
    crm = CRMSettingsFactory(export_enabled=True)
    with (
        mock.patch.object(runs, "_take_lease", side_effect=WorkerDied),
        pytest.raises(WorkerDied),
    ):
        if start == "run":
            runs.start_run(crm.account_id, ExportRun.Trigger.SCHEDULE)
        else:
            runs.start_lease(crm.account_id, ExportRun.Trigger.REEXPORT)

    assert not ExportRun.objects.exists()
