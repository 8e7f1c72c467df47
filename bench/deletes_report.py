"""The `deletes` series' tables and targets (bench/deletes.py)."""

from __future__ import annotations

from typing import Any

TARGET_DELETE_SHARE = 0.9  # deletions' records/s over upserts'
TARGET_CALLS_PER_1000 = 1.1  # deletions and the mix
# Where a call's time goes: timer names (bench/timers.py, bench/deletes.py TIMED), labelled.
TIMERS = {
    "send_call": "link thread: the call handed over (Ids read included)",
    "with_ids": "… deletions' Ids from the key map",
    "ids_for": "… … the key map query",
    "_answer": "link thread: wait for the answer",
    "send": "HTTP thread: the call",
    "_resolve_deletions": "… Ids the key map lacked",
    "find_ids": "… … SOQL lookups",
    "Gateway._rest": "… REST exchange (the Composite request)",
    "move_cursor": "cursor move committed",
    "note_writes": "… key map written",
}


def targets(deletes: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Deletions at least 0.9 of upserts' records/s; at most 1.1 API calls per 1,000 for
    deletions and the first mix."""
    rows = {r["phase"]: r for r in (deletes or {}).get("rows", [])}
    if "deletions" not in rows:
        return []
    deletions = rows["deletions"]
    mixes = [r for name, r in rows.items() if name.startswith("mix")]
    out = [
        _target(
            f"deletions >= {TARGET_DELETE_SHARE} of upserts' records/s (100 ms)",
            f"{deletions['vs_upserts']:.2f} ({deletions['records_per_s']:,.0f} vs "
            f"{rows['upserts']['records_per_s']:,.0f} records/s)",
            deletions["vs_upserts"] >= TARGET_DELETE_SHARE,
        )
    ]
    for row in [deletions, *mixes[:1]]:
        calls = row["api_calls_per_1000"]
        out.append(
            _target(
                f"{row['phase']}: <= {TARGET_CALLS_PER_1000} API calls per 1,000 records",
                f"{calls:.2f}",
                calls <= TARGET_CALLS_PER_1000,
            )
        )
    return out


def _target(name: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": name, "measured": measured, "met": met}


def markdown(deletes: dict[str, Any] | None) -> list[str]:
    """The series' table, where a call's time goes, the key map read, PASS/FAIL."""
    if not deletes or not deletes.get("rows"):
        return []
    lines = [
        "",
        f"**Deletes** ({deletes['latency_ms']} ms latency, 1 worker, {deletes['records']:,} "
        f"records per pass, {len(deletes['reps_done'])} repetitions; median [min-max]; "
        "`org`: what the sandbox's write log holds of the pass):",
        "",
        "| pass | records/s | vs upserts | API calls / 1,000 | org upserts | org deletes "
        "| SQL / call | call ms | worker CPU ms / 1,000 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in deletes["rows"]:
        lines.append(
            f"| {r['phase']} | {r['records_per_s']:,.0f} "
            f"[{r['records_per_s_min']:,.0f}-{r['records_per_s_max']:,.0f}] "
            f"| {r['vs_upserts']:.2f} | {r['api_calls_per_1000']:.2f} | {r['org_upserts']:,} "
            f"| {r['org_deletes']:,} | {_f(r['queries_per_batch'])} | {_f(r['batch_task_ms'])} "
            f"| {_f(r['worker_cpu_ms_per_1000'], 0)} |"
        )
    lines += _timer_lines(deletes["rows"])
    lines += _keymap_lines(deletes.get("keymap_read"))
    for t in targets(deletes):
        lines.append(f"- {'PASS' if t['met'] else 'FAIL'}: {t['target']}: {t['measured']}")
    return lines


def _timer_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "Where a call's time goes (ms per API call, wall time in the worker, median):",
        "",
        "| | " + " | ".join(r["phase"] for r in rows) + " |",
        "|---|" + "---:|" * len(rows),
    ]
    for name, label in TIMERS.items():
        values = [r["timers_ms_per_call"].get(name) for r in rows]
        lines.append(f"| {label} | " + " | ".join(_f(v) for v in values) + " |")
    return lines


def _keymap_lines(read: dict[str, Any] | None) -> list[str]:
    if not read:
        return []
    return [
        "",
        f"Key map read of one deletion call (`ids_for`, {read['keys']:,} keys, "
        f"{read['found']:,} found, {read['account_keys']:,} keys of the account): "
        f"{read['ms']:.1f} ms here; plan: "
        + "; ".join(f"`{line.strip()}`" for line in read["plan"]),
    ]


def _f(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value is not None else "–"
