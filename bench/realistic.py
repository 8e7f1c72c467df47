"""Two series of `make bench` for orgs that behave like real ones (bench/README.md):

- `realistic`: the sandbox at 100 ms latency with Apex automation costing 4 ms of CPU per
  record, spent as server time (`cpu_ms_per_record` 4, `server_time_scale` 1, the 10 s CPU
  limit): crmsync with records per call adapting to the org, crmsync with calls fixed at
  1,000 and at 200 records, and the naive loop (one upsert per record; measured on fewer
  records, its rate does not depend on the backlog). Then the same at 12 ms per record
  ("heavy automation"), where a call of 1,000 records (12 s) meets the CPU limit.
- `storm`: a trigger storm: 5 records whose trigger fails its whole 200-record chunk
  (`trigger_fail` scope "chunk"), pause on and pause off: the API calls spent on narrowing
  each failure down to its record, and how many innocent records were parked or logged
  (target 0 for both). Pause on: at each park the guilty record's trigger rule is lifted
  (what a person fixing Salesforce does) and the next run goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench import contenders
from bench.sandbox_ceiling import RULES
from bench.services import Sandbox

REALISTIC_FAULTS = {"latency_ms": 100, "cpu_limit_ms": 10_000, "server_time_scale": 1.0}
CALL_SHAPES = {
    "crmsync (adaptive)": {},
    "crmsync (fixed 1,000)": {"CRMSYNC_ADAPTIVE_CALLS": "false", "CRMSYNC_BATCHES_PER_CALL": "5"},
    "crmsync (fixed 200)": {"CRMSYNC_ADAPTIVE_CALLS": "false", "CRMSYNC_BATCHES_PER_CALL": "1"},
}
STORM_SHARES = (0.06, 0.28, 0.5, 0.72, 0.94)  # where the guilty records sit; mid-chunk


def realistic_org(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    records: int,
    naive_records: int,
    cpu_ms: int = 4,
) -> dict[str, Any]:
    """records/s and API calls per 1,000 of each call shape, and of the naive loop."""
    from exports.models import ExportCursor

    rules = _with_contact(RULES, cpu_ms_per_record=cpu_ms)
    sandbox.set_rules(rules, **REALISTIC_FAULTS)
    account, _ = contenders.make_account(f"realistic-{cpu_ms}", sandbox, records)
    rows = []
    for name, overrides in CALL_SHAPES.items():
        ExportCursor.objects.filter(account=account).update(records_per_call=None)
        [result] = contenders.crmsync(
            [account], records, 1, {**env, **overrides}, log_path, starts=("fresh",)
        )
        cursor = ExportCursor.objects.get(account=account)
        rows.append(_row(name, records, result, cursor.records_per_call))
        _say(rows[-1])
    rows.append(_row("naive loop", naive_records, contenders.naive(sandbox, naive_records), None))
    _say(rows[-1])
    sandbox.set_rules(RULES)
    return {**REALISTIC_FAULTS, "cpu_ms_per_record": cpu_ms, "records": records, "rows": rows}


def trigger_storm(
    sandbox: Sandbox, env: dict[str, str], log_path: Path, records: int
) -> dict[str, Any]:
    """Pause on and off: calls spent on isolation per guilty record, innocent parked/logged."""
    from exports.models import ExportError, ExportRun

    positions = [int(share * records) // 200 * 200 + 37 for share in STORM_SHARES]
    guilty_fields = {
        p: {"LastName": f"BOOM{n}", "Type__c": "Lead"} for n, p in enumerate(positions)
    }
    sandbox.set_rules(RULES)
    clean, _ = contenders.make_account("storm-clean", sandbox, records)
    clean_calls = contenders.crmsync_run(clean, env, log_path).api_calls
    result: dict[str, Any] = {
        "records": records,
        "guilty": len(positions),
        "clean_calls": clean_calls,
    }
    for pause in (True, False):
        slug = f"storm-{'on' if pause else 'off'}"
        account, _ = contenders.make_account(
            slug, sandbox, records, pause=pause, fields=guilty_fields
        )
        guilty_ids = set(_record_ids(account, positions))
        remaining = list(range(len(positions)))
        sandbox.set_rules(_with_contact(RULES, trigger_fail=_triggers(remaining)))
        runs, parked = [], []
        while True:
            run = contenders.crmsync_run(account, env, log_path)
            runs.append(run)
            if run.outcome != ExportRun.Outcome.PAUSED:
                break
            parked.append(_parked_record(account))
            remaining.pop(0)
            sandbox.set_rules(_with_contact(RULES, trigger_fail=_triggers(remaining)))
        errors = set(
            ExportError.objects.filter(account=account).values_list("record_id", flat=True)
        )
        calls = sum(r.api_calls for r in runs)
        entry = {
            "runs": len(runs),
            "outcomes": [r.outcome for r in runs],
            "api_calls": calls,
            "isolation_calls_per_guilty": (calls - clean_calls) / len(positions),
            "guilty_found": len((set(parked) | errors) & guilty_ids),
            "innocent_parked": len(set(parked) - guilty_ids),
            "innocent_export_errors": len(errors - guilty_ids),
            "exported": sum(r.exported for r in runs),
        }
        result["pause_on" if pause else "pause_off"] = entry
        print(f"storm pause {'on' if pause else 'off'}: {entry}", file=sys.stderr, flush=True)
    sandbox.set_rules(RULES)
    return result


def _triggers(numbers: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "when": {"field": "LastName", "equals": f"BOOM{n}"},
            "message": f"ContactTrigger: execution of BeforeInsert caused by BOOM{n}",
            "scope": "chunk",
        }
        for n in numbers
    ]


def _with_contact(rules: dict[str, Any], **contact: Any) -> dict[str, Any]:
    return {
        **rules,
        "objects": {**rules["objects"], "Contact": {**rules["objects"]["Contact"], **contact}},
    }


def _record_ids(account: Any, positions: list[int]) -> list[int]:
    from exports.models import ExportRecord

    ids = list(
        ExportRecord.objects.filter(account=account).order_by("id").values_list("id", flat=True)
    )
    return [ids[p] for p in positions]


def _parked_record(account: Any) -> int:
    from exports.models import ExportCursor

    return ExportCursor.objects.get(account=account).paused_record_id


def _row(name: str, records: int, result: dict[str, Any], per_call: int | None) -> dict[str, Any]:
    return {
        "contender": name,
        "records": records,
        "records_per_s": result["records_per_s"],
        "api_calls_per_1000": result["api_calls_per_1000"],
        "records_per_call_at_end": per_call,
    }


def _say(row: dict[str, Any]) -> None:
    print(
        f"realistic org: {row['contender']:<24} {row['records_per_s']:>9,.1f} records/s "
        f"{row['api_calls_per_1000']:.2f} calls/1000",
        file=sys.stderr,
        flush=True,
    )
