"""The one check every chaos scenario ends with, over the sandbox org's write log.

A workload's records carry a unique token in `Seq__c` (`workload()` below), so every
write in the log maps back to the ExportRecord it came from. `check_export()` then
proves, for one account:

1. nothing lost: every record up to the end point that was not rejected was applied, and
   per external id the org ends with the values of the newest record that went through;
2. nothing duplicated or reordered: per external id the applied record ids never go
   down (a record re-sent right after itself — an at-least-once redelivery of an
   idempotent upsert — is counted as `resent`, not as a duplicate);
3. nothing after a pause point was written;
4. every rejection is an ExportError, and no ExportError names a record that went through;
5. no two runs of the account held the lease at once (from ExportRun started/finished).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import Account
from exports.models import ExportError, ExportRecord, ExportRun

CUSTOMER_NEEDS_EMAIL = {
    "name": "Email_Required_For_Customers",
    "when": {"field": "Type__c", "equals": "Customer"},
    "require": "Email",
    "message": "Customers need an email",
}
RULES = {"objects": {"Contact": {"validation": [CUSTOMER_NEEDS_EMAIL]}}}


def workload(
    slug: str, n: int, external_ids: int, reject: set[int] = frozenset()
) -> list[dict[str, Any]]:
    """n Contact records cycling over `external_ids` external ids (so each external id
    is written several times, newest last); positions in `reject` (0-based) break the
    CUSTOMER_NEEDS_EMAIL rule (a Customer with Email null). Every record carries the token `Seq__c` = "slug:position"."""
    items = []
    for i in range(n):
        customer = i in reject or i % 7 == 0
        # Every record carries every field, so a write (or a re-export) is never partial.
        # A rejected record's null Email clears the stored one: the rule fails whatever
        # was written before.
        fields: dict[str, Any] = {
            "LastName": f"{slug} {i}",
            "Type__c": "Customer" if customer else "Lead",
            "Seq__c": f"{slug}:{i}",
            "Email": f"p{i}@{slug}.example" if customer and i not in reject else None,
        }
        items.append(
            {
                "sobject": "Contact",
                "external_id_field": "ExtId__c",
                "external_id": f"{slug}-p{i % external_ids}",
                "fields": fields,
            }
        )
    return items


@dataclass
class Report:
    scenario: str
    records: int = 0
    written: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    resent: int = 0
    after_pause: int = 0
    errors_expected: int = 0
    errors_found: int = 0
    runs: int = 0
    runs_overlapped: int = 0
    process_restarts: int = 0  # processes that exited on their own (supervisor restarted them)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)

    def add(self, other: Report) -> None:
        """Sum another account's figures into this one (a scenario over several accounts)."""
        for name, value in asdict(other).items():
            if isinstance(value, int) and name != "process_restarts":
                setattr(self, name, getattr(self, name) + value)
        self.problems += other.problems

    def assert_clean(self) -> None:
        save(self)
        assert not self.problems, f"{self.scenario}: " + "; ".join(self.problems)
        assert (self.lost, self.duplicated, self.reordered, self.after_pause) == (0, 0, 0, 0)
        assert self.errors_expected == self.errors_found
        assert self.runs_overlapped == 0


def check_export(
    scenario: str,
    writes: list[dict[str, Any]],
    account: Account,
    rejected_tokens: set[str],
    pause_at_token: str | None = None,
    reexported: bool = False,
) -> Report:
    """Check one account's export against the write log (see the module docstring).

    `rejected_tokens` are the Seq__c tokens the org rejects; with pause on, the export
    stops at `pause_at_token` (the first of them) and nothing after it may be written.
    `reexported`: the rejected records were re-exported later; a resolved one must then
    be written (in order, like any record), a superseded one must not.
    """
    report = Report(scenario)
    records = list(
        ExportRecord.objects.filter(account=account)
        .order_by("id")
        .values_list("id", "external_id", "fields")
    )
    by_token = {fields["Seq__c"]: (rid, ext, fields) for rid, ext, fields in records}
    report.records = len(records)
    pause_id = by_token[pause_at_token][0] if pause_at_token else None
    end_id = pause_id - 1 if pause_id else (records[-1][0] if records else 0)
    rejected_ids = {by_token[t][0] for t in rejected_tokens if t in by_token}
    if pause_id:
        rejected_ids = {pause_id}
    if reexported:
        resolved = set(
            ExportError.objects.filter(
                account=account, record_id__in=rejected_ids, status=ExportError.Status.RESOLVED
            ).values_list("record_id", flat=True)
        )
        _check_errors(account, rejected_ids, report)
        rejected_ids -= resolved  # written by the re-export: checked like any record
        # Open errors of one external id are merged into one write, carrying the newest
        # one's values (docs/semantics.md › The daily re-export): only the newest resolved record appears in the log.
        newest_resolved: dict[str, int] = {}
        for record_id, ext, _ in records:
            if record_id in resolved:
                newest_resolved[ext] = record_id
        merged = resolved - set(newest_resolved.values())
    else:
        merged = set()

    applied = _applied_sequences(writes, by_token, report)
    _check_order(applied, report)
    _check_complete(records, applied, rejected_ids | merged, end_id, pause_id, report)
    if not reexported:
        _check_errors(account, rejected_ids, report)
    _check_runs(account, report)
    return report


def _applied_sequences(
    writes: list[dict[str, Any]], by_token: dict[str, Any], report: Report
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Per external id, the (record id, written fields) of every write of this account."""
    applied: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for write in writes:
        token = write["fields"].get("Seq__c")
        if token is None or token not in by_token:
            continue  # another account's write (tokens start with the slug)
        record_id, ext, _ = by_token[token]
        if ext != write["external_id"]:
            report.problem(f"write {write['seq']} of {token} went to {write['external_id']}")
        applied[ext].append((record_id, write["fields"]))
        report.written += 1
    return applied


def _check_order(applied: dict[str, list[tuple[int, dict[str, Any]]]], report: Report) -> None:
    for ext, sequence in applied.items():
        seen: set[int] = set()
        previous = 0
        for record_id, _ in sequence:
            if record_id == previous:
                report.resent += 1
            elif record_id in seen:
                report.duplicated += 1
                report.problem(f"{ext}: record #{record_id} written again after a newer one")
            if record_id < previous:
                report.reordered += 1
                report.problem(f"{ext}: record #{record_id} applied after #{previous}")
            seen.add(record_id)
            previous = max(previous, record_id)


def _check_complete(
    records: list[tuple[int, str, dict[str, Any]]],
    applied: dict[str, list[tuple[int, dict[str, Any]]]],
    rejected_ids: set[int],
    end_id: int,
    pause_id: int | None,
    report: Report,
) -> None:
    applied_ids = {rid for sequence in applied.values() for rid, _ in sequence}
    newest: dict[str, tuple[int, dict[str, Any]]] = {}
    for record_id, ext, fields in records:
        if record_id > end_id:
            if record_id in applied_ids and record_id != pause_id:
                report.after_pause += 1
                report.problem(f"record #{record_id} written after the pause point")
            continue
        if record_id in rejected_ids:
            if record_id in applied_ids:
                report.problem(f"rejected record #{record_id} appears in the write log")
            continue
        newest[ext] = (record_id, fields)
        if record_id not in applied_ids:
            report.lost += 1
            report.problem(f"record #{record_id} ({ext}) never written")
    for ext, (record_id, fields) in newest.items():
        sequence = applied.get(ext, [])
        last_id, last_fields = sequence[-1] if sequence else (None, {})
        if last_id != record_id or any(last_fields.get(k) != v for k, v in fields.items()):
            report.lost += 1
            report.problem(f"{ext}: the org ends with #{last_id}, the newest is #{record_id}")


def _check_errors(account: Account, rejected_ids: set[int], report: Report) -> None:
    found = set(ExportError.objects.filter(account=account).values_list("record_id", flat=True))
    report.errors_expected = len(rejected_ids)
    report.errors_found = len(found & rejected_ids)
    for record_id in sorted(found - rejected_ids)[:5]:
        report.problem(f"ExportError for record #{record_id}, which Salesforce accepted")
    for record_id in sorted(rejected_ids - found)[:5]:
        report.problem(f"record #{record_id} was rejected but has no ExportError")


def lease_holding_runs(account: Account) -> list[ExportRun]:
    """Runs that held the account's lease: all but `skipped_locked` and runs that never
    asked for it (Export to CRM off)."""
    return list(
        ExportRun.objects.filter(account=account)
        .exclude(outcome=ExportRun.Outcome.SKIPPED_LOCKED)
        .exclude(message__startswith="Export to CRM is off")
        .order_by("started_at", "id")
    )


def count_overlaps(runs: list[ExportRun]) -> list[tuple[int, int]]:
    """Pairs of runs whose [started_at, finished_at] intervals overlap (open = still running)."""
    now = timezone.now()
    overlaps = []
    latest_end, latest_id = None, None
    for run in runs:
        if latest_end is not None and run.started_at < latest_end:
            overlaps.append((latest_id, run.id))
        end = run.finished_at or now
        if latest_end is None or end > latest_end:
            latest_end, latest_id = end, run.id
    return overlaps


def _check_runs(account: Account, report: Report) -> None:
    runs = lease_holding_runs(account)
    report.runs = len(runs)
    overlaps = count_overlaps(runs)
    report.runs_overlapped = len(overlaps)
    for first, second in overlaps[:5]:
        report.problem(f"runs {first} and {second} of {account.slug} overlapped")


def save(report: Report) -> None:
    """Append the figures to var/chaos-report.jsonl (the table in the closing note)."""
    path = Path(
        os.environ.get("CRMSYNC_CHAOS_REPORT", Path(settings.VAR_DIR) / "chaos-report.jsonl")
    )
    with path.open("a") as out:
        out.write(json.dumps(asdict(report)) + "\n")


def export_done(account: Account, pause_at_token: str | None = None) -> bool:
    """The account's export reached its end: parked at the pause record (pause on) or past
    the last record, with no run holding the lease. Tolerates a database that is down."""
    from django.db import Error, connection

    from exports.models import ExportCursor

    try:
        cursor = ExportCursor.objects.filter(account=account).first()
        last = ExportRecord.objects.filter(account=account).order_by("-id").first()
        if cursor is None or last is None or cursor.run_id is not None:
            return False
        if pause_at_token is None:
            return cursor.last_exported_id == last.id and cursor.paused_record_id is None
        paused = ExportRecord.objects.get(
            account=account, fields__contains={"Seq__c": pause_at_token}
        )
        return cursor.paused_record_id == paused.id
    except Error:
        connection.close()
        return False


def tokens(slug: str, positions: set[int]) -> set[str]:
    return {f"{slug}:{i}" for i in positions}


# -- key by key: the versions the org received ------------------------------------------
# A workload's record at position i writes external id `<slug>-p<i % external_ids>`, so
# that key's version is i // external_ids (v0, v1, ...): its newest record is its highest.


@dataclass(frozen=True)
class KeyWrite:
    """One write of a workload record in the write log: its `seq` there and the record's
    `position` in the workload (`Seq__c` = "slug:position")."""

    seq: int
    position: int


def workload_position(write: dict[str, Any], slug: str) -> int | None:
    """The workload position a write of account `slug` carries; None for another's write."""
    token = (write.get("fields") or {}).get("Seq__c")
    if not isinstance(token, str) or not token.startswith(f"{slug}:"):
        return None
    return int(token.removeprefix(f"{slug}:"))


def key_histories(writes: list[dict[str, Any]], slug: str) -> dict[str, list[KeyWrite]]:
    """Per external id of account `slug`, its writes in the order the org applied them."""
    histories: dict[str, list[KeyWrite]] = defaultdict(list)
    for write in writes:
        position = workload_position(write, slug)
        if position is not None:
            histories[write["external_id"]].append(KeyWrite(write["seq"], position))
    return dict(histories)


def first_step_back(history: list[KeyWrite]) -> int | None:
    """Index of the first write that carries an older record than one written before it
    (the key went backwards there); None if the key only ever went forwards."""
    newest = -1
    for index, write in enumerate(history):
        if write.position < newest:
            return index
        newest = max(newest, write.position)
    return None


def keys_gone_backwards(histories: dict[str, list[KeyWrite]]) -> dict[str, int]:
    """Keys whose org received an older record after a newer one: key → index of that write."""
    found = {ext: first_step_back(history) for ext, history in histories.items()}
    return {ext: index for ext, index in found.items() if index is not None}


def history_text(
    ext: str,
    history: list[KeyWrite],
    external_ids: int,
    around: int | None = None,
    width: int = 5,
) -> str:
    """One key's write sequence as the org applied it, e.g.
    `north-p7 (61 writes): … v5@w1203 v6@w1390 v5@w1602 <<BACK v7@w1790 …` (`v<version>@w<write
    log seq>`); around the write at index `around` (`width` writes either side), else whole."""
    start, end = 0, len(history)
    if around is not None:
        start, end = max(0, around - width), min(len(history), around + width + 1)
    newest, shown = -1, []
    for write in history[:start]:
        newest = max(newest, write.position)
    for write in history[start:end]:
        back = " <<BACK" if write.position < newest else ""
        shown.append(f"v{write.position // external_ids}@w{write.seq}{back}")
        newest = max(newest, write.position)
    before = "… " if start else ""
    after = " …" if end < len(history) else ""
    return f"{ext} ({len(history)} writes): {before}{' '.join(shown)}{after}"
