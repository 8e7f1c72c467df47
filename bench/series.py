"""Two series of `make bench` beside the comparison: pause mode's API cost and the backlog.

- `pause_cost`: the API calls of a backlog with five rejected records, pause on and off.
- `backlog`: one account's backlog exported at growing sizes (20k, 200k, 1M with
  --million), records/s and a fresh worker's peak RSS per size.

Each takes the sandbox org, the workers' environment and their log file, and returns the
series' entry of the report (bench/run.py writes it).
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import contenders
from bench.sandbox_ceiling import RULES
from bench.services import Sandbox, analyze

# Where the rejected records sit in the backlog: a share of it, plus an offset into a batch
# of 200 (0: the first record of a batch, nothing before it to send again; else mid-batch).
PAUSE_POSITIONS = ((0.06, 0), (0.28, 37), (0.5, 99), (0.72, 150), (0.94, 199))


# -- pause mode ------------------------------------------------------------------------------


def pause_cost(
    sandbox: Sandbox, env: dict[str, str], log_path: Path, records: int
) -> dict[str, Any]:
    """API calls of a backlog with five rejected records, pause on and pause off.

    Each rejected record has Type__c "BadN" and no Email; rule N requires an Email for
    Type__c "BadN". Pause on: run, and at each park lift that record's rule (what a
    person fixing Salesforce does), until the run completes. Pause off: one run.
    """
    positions = [int(share * records) // 200 * 200 + offset for share, offset in PAUSE_POSITIONS]
    sandbox.set_latency(0)
    result: dict[str, Any] = {
        "records": records,
        "rejected": len(positions),
        "clean_calls": math.ceil(records / _call_size()),
    }
    for pause in (True, False):
        account = _pause_account(sandbox, pause, records, positions)
        runs = _runs_until_done(sandbox, account, env, log_path, len(positions))
        calls = sum(r.api_calls for r in runs)
        entry = {
            "runs": len(runs),
            "outcomes": [r.outcome for r in runs],
            "api_calls": calls,
            "exported": sum(r.exported for r in runs),
            "failed": sum(r.failed for r in runs),
            "extra_calls_per_rejection_total": (calls - result["clean_calls"]) / len(positions),
        }
        if pause:
            entry["rejected_batch_calls"] = _rejected_batch_calls(runs)
            entry["extra_calls_per_rejection_in_its_batch"] = entry["rejected_batch_calls"] - 1
        result["pause_on" if pause else "pause_off"] = entry
        print(f"pause {'on' if pause else 'off'}: {entry}", file=sys.stderr, flush=True)
    sandbox.set_rules(RULES)
    return result


def _runs_until_done(
    sandbox: Sandbox, account: Any, env: dict[str, str], log_path: Path, rejected: int
) -> list[Any]:
    """Export the account until a run does not pause, lifting the first remaining rule
    after each paused run (the rejected records park in backlog order)."""
    from exports.models import ExportRun

    remaining = [_bad_rule(n) for n in range(rejected)]
    sandbox.set_rules(_with_validations(RULES, remaining))
    runs: list[Any] = []
    while True:
        run = contenders.crmsync_run(account, env, log_path)
        runs.append(run)
        if run.outcome != ExportRun.Outcome.PAUSED:
            return runs
        remaining.pop(0)
        sandbox.set_rules(_with_validations(RULES, remaining))


def _pause_account(sandbox: Sandbox, pause: bool, records: int, positions: list[int]) -> Any:
    from accounts.models import Account, CRMSettings
    from exports.outbox import enqueue_many

    slug = f"pause-{'on' if pause else 'off'}"
    account = Account.objects.create(slug=slug, name=slug)
    CRMSettings.objects.update_or_create(
        account=account,
        defaults=sandbox.crm_settings(pause_on_export_errors=pause),
    )
    bad = {position: n for n, position in enumerate(positions)}

    def item(i: int) -> dict[str, Any]:
        fields = {"LastName": f"Person {i}", "Email": f"p{i}@example.com", "Type__c": "Lead"}
        if i in bad:
            fields = {"LastName": f"Person {i}", "Type__c": f"Bad{bad[i]}"}
        return {
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": f"{slug}-{i}",
            "fields": fields,
        }

    enqueue_many(account, (item(i) for i in range(records)))
    return account


def _bad_rule(n: int) -> dict[str, Any]:
    return {
        "name": f"Bad{n}",
        "when": {"field": "Type__c", "equals": f"Bad{n}"},
        "require": "Email",
        "message": f"Bad{n} needs an email",
    }


def _with_validations(rules: dict[str, Any], extra: list[dict[str, Any]]) -> dict[str, Any]:
    contact = dict(rules["objects"]["Contact"])
    contact["validation"] = [*contact.get("validation", []), *extra]
    return {**rules, "objects": {**rules["objects"], "Contact": contact}}


def _call_size() -> int:
    """Records in one clean API call: batches of 200, CRMSYNC_BATCHES_PER_CALL of them."""
    from django.conf import settings

    return 200 * settings.CRMSYNC_BATCHES_PER_CALL


def _rejected_batch_calls(runs: list[Any]) -> int:
    """API calls of the call that held the rejected record, at worst over the paused runs.

    A paused run exported whole calls of `_call_size()` records, then the rejected one:
    attempted = size·k + prefix + 1, so the rejected call cost api_calls − k calls.
    """
    size = _call_size()
    return max(
        (run.api_calls - (run.attempted - 1) // size for run in runs if run.outcome == "paused"),
        default=0,
    )


# -- the backlog ------------------------------------------------------------------------------


def backlog(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    sizes: list[int],
    reps: int,
    progress: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """One account with the biggest backlog; export its last 20k, 200k, then all of it,
    each with a fresh worker (peak RSS per size), at 0 ms (where a per-batch cost that
    grew with the backlog would show most), `reps` times in alternating order. The
    spread compares the medians. `progress` gets the result so far after each export."""
    sandbox.set_latency(0)
    account, took = contenders.make_account("backlog", sandbox, max(sizes), pool=200_000)
    analyze()
    result: dict[str, Any] = {"latency_ms": 0, "enqueue_seconds": round(took, 1), "runs": []}
    for rep in range(reps):
        for size in sizes if rep % 2 == 0 else sizes[::-1]:
            entry = {
                "rep": rep,
                "records": size,
                **contenders.crmsync([account], size, 1, env, log_path, starts=("fresh",))[0],
            }
            result["runs"].append(entry)
            print(
                f"backlog {size:>9,}: {entry['records_per_s']:,.0f} records/s, "
                f"peak RSS {entry['worker_peak_rss_mb']} MB",
                file=sys.stderr,
                flush=True,
            )
            progress(result)
    result["sizes"] = [_backlog_size(size, result["runs"]) for size in sizes]
    rates = [size["records_per_s"] for size in result["sizes"]]
    result["spread"] = max(rates) / min(rates) - 1
    return result


def _backlog_size(size: int, all_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's row: medians (and the range) over its repetitions."""
    runs = [r for r in all_runs if r["records"] == size]
    return {
        "records": size,
        "reps": len(runs),
        "records_per_s": statistics.median(r["records_per_s"] for r in runs),
        "records_per_s_min": min(r["records_per_s"] for r in runs),
        "records_per_s_max": max(r["records_per_s"] for r in runs),
        "worker_peak_rss_mb": max(r["worker_peak_rss_mb"] for r in runs),
        "queries_per_batch": statistics.median(r["queries_per_batch"] for r in runs),
    }
