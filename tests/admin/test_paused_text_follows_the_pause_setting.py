"""A paused account's status says what the next run does with the parked record under the
pause setting it has now: with pause on every run retries it and nothing after it is
written; with pause off the next run logs it as an open export error (the daily re-export
retries it) and goes on (docs/semantics.md › Settings take effect at the next call)."""

from __future__ import annotations

import html

import pytest
from django.core.management import call_command

from exports.reporting.status import PARKED_WITH_PAUSE_OFF, PARKED_WITH_PAUSE_ON
from tests.admin.conftest import pause_at
from tests.factories import CRMSettingsFactory, ExportErrorFactory, ExportRecordFactory

pytestmark = pytest.mark.django_db

NOTHING_AFTER = "nothing after it is written until it goes through"


def paused_account(pause_on: bool):
    settings = CRMSettingsFactory(account__slug="acme", pause_on_export_errors=pause_on)
    done = ExportRecordFactory(account=settings.account)
    record = ExportRecordFactory(account=settings.account)
    pause_at(record, ExportErrorFactory(record=record), last_exported=done)
    return settings.account


def status_page(client) -> str:
    return html.unescape(client.get("/admin/exports/status/acme/").content.decode())


def crm_status(capsys) -> str:
    call_command("crm_status", "--account", "acme")
    return capsys.readouterr().out


def test_pause_on_every_run_retries_the_parked_record(super_client, capsys):
    paused_account(pause_on=True)

    page, text = status_page(super_client), crm_status(capsys)

    for shown in (page, text):
        assert PARKED_WITH_PAUSE_ON in shown and NOTHING_AFTER in shown
        assert PARKED_WITH_PAUSE_OFF not in shown
    assert "the next run retries it" in text


def test_pause_off_the_next_run_logs_it_and_goes_on(super_client, capsys):
    paused_account(pause_on=False)  # turned off while paused: still parked until a run

    page, text = status_page(super_client), crm_status(capsys)

    for shown in (page, text):
        assert NOTHING_AFTER not in shown and "retries this record first" not in shown
        assert "the next run logs this record as an open export error" in shown
        assert "the daily re-export retries" in shown and "goes on after it" in shown
    assert 'id="paused-at"' in super_client.get("/admin/exports/status/acme/").content.decode()
    assert "the next run retries it" not in text
