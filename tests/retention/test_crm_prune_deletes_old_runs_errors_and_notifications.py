"""`crm_prune [--dry-run] [--json]`: closed errors, runs and notifications past their own
retention go, the rest stays; --json prints `records`, `errors`, `runs`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from exports.models import ExportCursor, ExportError, ExportRun, Notification
from tests.factories import ExportErrorFactory, ExportRecordFactory, ExportRunFactory

pytestmark = pytest.mark.django_db


def aged(model, obj, days: int, **fields_to_age: str) -> None:
    when = timezone.now() - timedelta(days=days)
    model.objects.filter(id=obj.id).update(**{f: when for f in fields_to_age.values()})


def test_each_kind_goes_after_its_own_retention(capsys):
    record = ExportRecordFactory()
    account = record.account
    ExportCursor.objects.create(account=account, last_exported_id=record.id + 1000)
    old_run, new_run = ExportRunFactory(account=account), ExportRunFactory(account=account)
    aged(ExportRun, old_run, 91, a="started_at", b="finished_at")
    aged(ExportRun, new_run, 89, a="started_at", b="finished_at")
    resolved_old = ExportErrorFactory(
        record=ExportRecordFactory(account=account), status="resolved"
    )
    resolved_new = ExportErrorFactory(
        record=ExportRecordFactory(account=account), status="resolved"
    )
    still_open = ExportErrorFactory(record=ExportRecordFactory(account=account))
    aged(ExportError, resolved_old, 91, a="resolved_at")
    aged(ExportError, resolved_new, 10, a="resolved_at")
    aged(ExportError, still_open, 400, a="first_seen_at")
    note = Notification.objects.create(
        account=account, event="paused", channel="email", target="a@b.c", payload={}
    )
    Notification.objects.filter(id=note.id).update(created_at=timezone.now() - timedelta(days=91))

    call_command("crm_prune", "--dry-run", "--json")
    dry = json.loads(capsys.readouterr().out)
    call_command("crm_prune", "--json")
    done = json.loads(capsys.readouterr().out)

    assert {k: dry[k] for k in ("records", "errors", "runs")} == {
        "records": 0,
        "errors": 1,
        "runs": 1,
    }
    assert dry["dry_run"] is True and done["dry_run"] is False
    assert {k: done[k] for k in ("records", "errors", "runs", "notifications")} == {
        "records": 0,
        "errors": 1,
        "runs": 1,
        "notifications": 1,
    }
    assert list(ExportRun.objects.values_list("id", flat=True)) == [new_run.id]
    assert set(ExportError.objects.values_list("id", flat=True)) == {resolved_new.id, still_open.id}
    assert not Notification.objects.exists()


def test_text_output_says_what_went():
    from io import StringIO

    out = StringIO()
    call_command("crm_prune", "--dry-run", stdout=out)

    assert out.getvalue().startswith("would delete 0 exported records (older than 30 days)")
