"""The run's statements written out as SQL (exports.fixed_sql) read and write what the ORM
does: the same instances (secrets, times, JSON, booleans), the same rows changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, CRMSettings
from exports import fixed_sql
from exports.alerts import evaluate as alerts
from exports.alerts.models import AlertState
from exports.models import ExportCursor, ExportRun
from exports.run import runs
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db

FIELDS_OF = {
    CRMSettings: [f.attname for f in CRMSettings._meta.concrete_fields],
    ExportCursor: [f.attname for f in ExportCursor._meta.concrete_fields],
    Account: [f.attname for f in Account._meta.concrete_fields],
}


def values(obj):
    return {name: getattr(obj, name) for name in FIELDS_OF[type(obj)]}


def test_settings_read_as_the_orm_reads_them_secrets_included():
    crm = CRMSettingsFactory(client_secret="s3cret", pause_on_export_errors=False)
    read = runs.load_settings(crm.account_id)
    orm = CRMSettings.objects.select_related("account").get(account_id=crm.account_id)
    assert values(read) == values(orm)
    assert values(read.account) == values(orm.account)
    assert read.client_secret == "s3cret" and read.pause_on_export_errors is False
    assert read._state.adding is False


def test_a_cursor_reads_back_with_its_times_and_json():
    crm = CRMSettingsFactory()
    now = timezone.now()
    cursor = ExportCursor.objects.create(
        account=crm.account, lease_expires_at=now, retry_only=[3, 5], run_id=None
    )
    read = runs._cursor_and_backlog(crm.account_id)
    assert read is not None and values(read) == values(ExportCursor.objects.get(id=cursor.id))
    assert read.retry_only == [3, 5] and read.lease_expires_at == now
    assert read.waiting is False


def test_update_compares_none_as_is_null_and_counts_rows():
    crm = CRMSettingsFactory()
    cursor = ExportCursor.objects.create(account=crm.account)
    later = timezone.now() + timedelta(minutes=5)
    where = {"id": cursor.id, "run_id": None, "lease_expires_at": None}
    assert fixed_sql.update(ExportCursor, {"run_id": 7, "lease_expires_at": later}, where) == 1
    assert fixed_sql.update(ExportCursor, {"run_id": 8}, where) == 0  # no longer NULL
    cursor.refresh_from_db()
    assert (cursor.run_id, cursor.lease_expires_at) == (7, later)
    changed = fixed_sql.update(
        ExportCursor,
        {"retry_only": [1, 2]},
        {"id": cursor.id, "lease_expires_at": later},  # a time compares equal to itself
        also=runs.PAUSED_ELSE,
        also_params=[ExportCursor.State.PAUSED, ExportCursor.State.IDLE],
    )
    cursor.refresh_from_db()
    assert changed == 1 and cursor.retry_only == [1, 2] and cursor.state == "idle"


def test_insert_writes_what_create_would():
    crm = CRMSettingsFactory()
    run = fixed_sql.insert(ExportRun(account_id=crm.account_id, trigger="manual"))
    stored = ExportRun.objects.get(id=run.id)
    assert (stored.trigger, stored.outcome, stored.attempted) == ("manual", "", 0)
    assert stored.started_at == run.started_at and run._state.adding is False


def test_told_nothing_is_true_until_an_alert_tells_something():
    crm = CRMSettingsFactory()
    run = ExportRun.objects.create(account_id=crm.account_id, trigger="manual")
    sql, params = alerts.told_nothing("r.account_id")

    def quiet():
        found = fixed_sql.fetch_one(
            f"SELECT {sql} FROM {fixed_sql.table(ExportRun)} r WHERE r.id = %s", [*params, run.id]
        )
        return bool(found[0])

    assert quiet()
    state = AlertState.objects.create(account_id=crm.account_id)
    assert quiet()  # a state that tells nothing
    AlertState.objects.filter(id=state.id).update(failing=True)
    assert not quiet()


@pytest.mark.parametrize(
    "change",
    [
        {"pause_on_export_errors": False},  # QuerySet.update: updated_at stays
        {"batch_size": 50},
        {"export_enabled": False},
        {"updated_at": timezone.now() + timedelta(seconds=1)},  # a save (a secret, say)
    ],
)
def test_settings_are_read_again_before_a_call_only_when_they_changed(change):
    crm = runs.load_settings(CRMSettingsFactory(pause_on_export_errors=True).account_id)
    assert runs.settings_now(crm) is crm  # unchanged: no second read
    CRMSettings.objects.filter(account_id=crm.account_id).update(**change)
    fresh = runs.settings_now(crm)
    assert fresh is not crm
    name, value = next(iter(change.items()))
    assert getattr(fresh, name) == value


def test_settings_are_read_again_when_the_account_is_deactivated():
    crm = runs.load_settings(CRMSettingsFactory().account_id)
    Account.objects.filter(id=crm.account_id).update(is_active=False)
    fresh = runs.settings_now(crm)
    assert fresh is not crm and fresh.account.is_active is False
