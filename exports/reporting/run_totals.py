"""Run counters for /metrics: totals of old runs rolled up, plus the latest runs live.

Counting every ExportRun at each scrape would read the whole table (288 runs a day per
account) and go down when crm_prune deletes old runs. So runs are rolled up into
RunTotals (per account and outcome) up to a mark, and a scrape adds the runs after it:

`roll_up(now)` (the periodic check and crm_prune call it):
1. Read the mark: every run with an id up to it is in RunTotals.
2. The new mark: the newest run that started over an hour ago (every id below it was
   handed out over an hour ago, so no transaction still holds one unseen), but below the
   first run that may still change (unfinished and started within a day, or finished
   within the last hour: a run's API calls may be added just after it ends).
3. Add the runs between the marks (by account and outcome) to RunTotals and move the
   mark, in one transaction; the mark moves by compare-and-swap, so two roll-ups at
   once add nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from exports.models import ExportRun, RunTotals, RunTotalsMark

COUNTED = ("runs", "exported", "failed", "api_calls")
Totals = dict[tuple[int, str], dict[str, int]]


def mark() -> int:
    row = RunTotalsMark.objects.filter(id=1).values_list("up_to_run_id", flat=True).first()
    return row or 0


def roll_up(now: datetime | None = None) -> int:
    """Steps 1-3 of the module docstring; the number of runs rolled up."""
    now = now or timezone.now()
    RunTotalsMark.objects.get_or_create(id=1)
    old = mark()
    new = _new_mark(old, now)
    if new <= old:
        return 0
    delta = totals_of(ExportRun.objects.filter(id__gt=old, id__lte=new))
    with transaction.atomic():
        if not RunTotalsMark.objects.filter(id=1, up_to_run_id=old).update(up_to_run_id=new):
            return 0  # another roll-up moved the mark first
        _add(delta)
    return sum(v["runs"] for v in delta.values())


def next_mark(now: datetime) -> int:
    """The mark a roll-up now would move to (crm_prune --dry-run)."""
    old = mark()
    return max(old, _new_mark(old, now))


def _new_mark(old: int, now: datetime) -> int:
    after = ExportRun.objects.filter(id__gt=old)
    hour_ago = now - timedelta(hours=1)
    settled = after.filter(started_at__lt=hour_ago).aggregate(last=Max("id"))["last"] or old
    unsettled = after.filter(
        Q(outcome="", started_at__gt=now - timedelta(days=1)) | Q(finished_at__gt=hour_ago)
    ).aggregate(first=Min("id"))["first"]
    return min(settled, unsettled - 1) if unsettled else settled


def totals_of(runs: QuerySet[ExportRun]) -> Totals:
    """Runs, records exported and rejected, API calls per (account, outcome) of `runs`
    (finished ones only)."""
    rows = (
        runs.exclude(outcome="")
        .values("account_id", "outcome")
        .annotate(
            runs=Count("id"),
            exported=Sum("exported"),
            failed=Sum("failed"),
            api_calls=Sum("api_calls"),
        )
        .order_by()
    )
    return {(r["account_id"], r["outcome"]): {k: r[k] or 0 for k in COUNTED} for r in rows}


def current() -> Totals:
    """Every run's totals so far: RunTotals plus the runs after the mark (two queries)."""
    totals: Totals = defaultdict(lambda: dict.fromkeys(COUNTED, 0))
    rolled = RunTotals.objects.values("account_id", "outcome", *COUNTED)
    for row in rolled:
        totals[(row["account_id"], row["outcome"])] = {k: row[k] for k in COUNTED}
    live = totals_of(ExportRun.objects.filter(id__gt=mark()))
    for key, values in live.items():
        totals[key] = {k: totals[key][k] + values[k] for k in COUNTED}
    return dict(totals)


def _add(delta: Totals) -> None:
    existing = {
        (t.account_id, t.outcome): t
        for t in RunTotals.objects.filter(account_id__in={a for a, _ in delta})
    }
    new = []
    for (account_id, outcome), values in delta.items():
        row = existing.get((account_id, outcome))
        if row is None:
            new.append(RunTotals(account_id=account_id, outcome=outcome, **values))
            continue
        for name in COUNTED:
            setattr(row, name, getattr(row, name) + values[name])
    RunTotals.objects.bulk_create(new)
    RunTotals.objects.bulk_update(list(existing.values()), list(COUNTED))
