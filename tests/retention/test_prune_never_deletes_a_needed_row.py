"""crm_prune never deletes a row a run or the re-export still needs (property test over
random outboxes, cursors and errors), and deletes every old row nothing needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Account
from exports import retention
from exports.models import ExportCursor, ExportError, ExportRecord
from exports.run import reexport

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD, RECENT = NOW - timedelta(days=120), NOW - timedelta(days=1)
STATUSES = [None, "open", "resolved", "dismissed", "superseded"]

record = st.fixed_dictionaries(
    {
        "external_id": st.sampled_from(["x0", "X0", "x1"]),  # the org folds case
        "fields": st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(0, 3), max_size=3),
        "old": st.booleans(),
        "error": st.sampled_from(STATUSES),
        "error_old": st.booleans(),
    }
)
outbox = st.lists(record, min_size=1, max_size=30).flatmap(
    lambda records: st.tuples(st.just(records), st.integers(0, len(records)))
)


def build(records: list[dict], done: int) -> tuple[Account, list[int]]:
    """An account whose first `done` records are exported, with the errors `records` say."""
    account = Account.objects.create(slug="prop", name="prop")
    ids = []
    for item in records:
        row = ExportRecord.objects.create(
            account=account,
            sobject="Contact",
            external_id_field="ExtId__c",
            external_id=item["external_id"],
            fields=item["fields"],
        )
        ExportRecord.objects.filter(id=row.id).update(created_at=OLD if item["old"] else RECENT)
        ids.append(row.id)
        if item["error"]:
            closed_at = (OLD if item["error_old"] else RECENT) if item["error"] != "open" else None
            ExportError.objects.create(
                account=account,
                record=row,
                sobject="Contact",
                external_id=item["external_id"],
                error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                status=item["error"],
                resolved_at=closed_at,
            )
    ExportCursor.objects.create(account=account, last_exported_id=ids[done - 1] if done else 0)
    return account, ids


def reexport_plan(account: Account) -> set[tuple]:
    """What the re-export would send for the account's open errors, group by group, for an
    org comparing external ids case-insensitively (the default) and one that does not."""
    open_errors = ExportError.objects.filter(account=account, status="open")
    return {
        (folded, g.key, g.error_ids, tuple(sorted(g.fields.items())))
        for folded in (True, False)
        for g in reexport._groups(account.id, open_errors, lambda s, f, c=not folded: c)
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=outbox)
def test_pruning_keeps_every_row_a_run_or_the_reexport_needs(case):
    records, done = case
    with transaction.atomic():
        account, ids = build(records, done)
        cursor_id = ids[done - 1] if done else 0
        plan_before = reexport_plan(account)
        open_before = set(ExportError.objects.filter(status="open").values_list("id", flat=True))

        summary = retention.prune(now=NOW, chunk=4)

        kept = set(ExportRecord.objects.values_list("id", flat=True))
        # a. nothing at or after the cursor goes
        assert {i for i in ids if i >= cursor_id} <= kept
        # b. every error's record is there; open errors all stay
        assert set(ExportError.objects.values_list("record_id", flat=True)) <= kept
        assert open_before <= set(ExportError.objects.values_list("id", flat=True))
        # c. the re-export sends exactly what it would have sent
        assert reexport_plan(account) == plan_before
        # and what nothing needs is gone: old, exported, no error left, not read by 3c
        open_from = retention._open_from(account.id)
        with_errors = set(ExportError.objects.values_list("record_id", flat=True))
        for rid, item in zip(ids, records, strict=True):
            if (
                item["old"]
                and rid < cursor_id
                and rid not in with_errors
                and not retention.needed_by_reexport(rid, item["external_id"], open_from)
            ):
                assert rid not in kept, f"record {rid} should have been pruned"
        assert summary.records == len(ids) - len(kept)
        transaction.set_rollback(True)


def test_dry_run_counts_the_same_rows_and_deletes_nothing():
    records = [
        {"external_id": f"x{i}", "fields": {}, "old": True, "error": None, "error_old": True}
        for i in range(10)
    ]
    build(records, 8)

    dry = retention.prune(dry_run=True, now=NOW, chunk=3)
    assert ExportRecord.objects.count() == 10
    real = retention.prune(now=NOW, chunk=3)

    assert dry.records == real.records == 7  # below the cursor (#8 stays: the last done)
    assert ExportRecord.objects.count() == 3


def test_an_open_error_keeps_newer_records_of_its_external_id_and_their_closed_errors():
    old_closed = {"old": True, "error_old": True}
    records = [
        {"external_id": "x1", "fields": {"A": 1}, "error": "open", **old_closed},
        {"external_id": "x1", "fields": {"A": 2}, "error": "dismissed", **old_closed},
        {"external_id": "x1", "fields": {"B": 2}, "error": None, **old_closed},
        {"external_id": "x2", "fields": {"A": 3}, "error": "resolved", **old_closed},
        {"external_id": "x2", "fields": {}, "error": None, **old_closed},
        {"external_id": "x3", "fields": {}, "error": None, **old_closed},
    ]
    _, ids = build(records, 6)

    summary = retention.prune(now=NOW)

    assert set(ExportRecord.objects.values_list("id", flat=True)) == {
        ids[0],
        ids[1],
        ids[2],
        ids[5],
    }
    assert set(ExportError.objects.values_list("record_id", flat=True)) == {ids[0], ids[1]}
    assert (summary.records, summary.errors) == (2, 1)
