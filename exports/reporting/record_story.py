"""One record's story, read: every outbox version of a key still kept, the results of each
(exports.story), its errors and the key's Salesforce Id (docs/admin.md › A record's story)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from exports.keymap import SalesforceKey, entry
from exports.models import ExportError, RecordOutcome, records_with_key


@dataclass(frozen=True)
class Version:
    """One outbox record of the key, with its results and its error, if any."""

    record_id: int
    operation: str
    fields: dict[str, Any]
    enqueued_at: datetime
    results: list[RecordOutcome] = field(default_factory=list)
    error: Any = None  # its newest ExportError


@dataclass(frozen=True)
class Story:
    account_id: int
    sobject: str
    external_id_field: str
    external_id: str
    versions: list[Version]
    key: SalesforceKey | None
    open_error: Any = None


def story(account_id: int, sobject: str, external_id_field: str, external_id: str) -> Story:
    """The key's versions (every outbox record still kept, in order, matched as the org
    compares external ids: case folded unless an exact match exists only), their results
    and errors, and the key map's entry. A handful of queries, whatever the history."""
    records = list(
        records_with_key(account_id, [external_id])
        .filter(sobject=sobject, external_id_field=external_id_field)
        .order_by("id")
        .values_list("id", "operation", "fields", "created_at", "external_id")
    )
    folded = external_id.casefold()
    records = [r for r in records if r[4].casefold() == folded]
    ids = [r[0] for r in records]
    results: dict[int, list[RecordOutcome]] = {i: [] for i in ids}
    wanted = set(ids)
    calls = Q(record_ids__isnull=False, record_id__lte=max(ids, default=0))
    calls &= Q(last_record_id__gte=min(ids, default=0))
    for result in RecordOutcome.objects.filter(Q(record_id__in=ids) | calls).order_by("id"):
        if result.record_ids is not None:  # a call's written records
            for record_id in wanted.intersection(result.record_ids):
                results[record_id].append(result)
        elif result.record_id in results:
            results[result.record_id].append(result)
    errors = {e.record_id: e for e in ExportError.objects.filter(record_id__in=ids).order_by("id")}
    versions = [
        Version(rid, op, fields, created, results[rid], errors.get(rid))
        for rid, op, fields, created, _ in records
    ]
    open_error = next(
        (v.error for v in reversed(versions) if v.error is not None and v.error.status == "open"),
        None,
    )
    key = entry(account_id, sobject, external_id_field, external_id)
    return Story(account_id, sobject, external_id_field, external_id, versions, key, open_error)
