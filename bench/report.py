"""Summaries of a benchmark run: medians per configuration, pairwise ratios, the Markdown table."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from bench import deletes_report, fleet_report, tenants_report

TARGET_RPS_AT_100MS = 1_900
TARGET_SHARE_OF_SAME_SHAPE = 0.9
TARGET_SHARE_OF_CEILING_AT_0MS = 0.80
TARGET_CALLS_PER_1000 = 5.1
TARGET_PEAK_RSS_MB = 250
TARGET_BACKLOG_SPREAD = 0.15
# crmsync's passes (bench/contenders.py STARTS), as the report names them.
STARTS = {
    "warm": "warm workers (logged in and connected, as the ceiling's client is)",
    "fresh": "fresh workers (their first run: login and first connections included)",
}


def group_key(m: dict[str, Any]) -> tuple[Any, ...]:
    return (
        m["latency_ms"],
        m["contender"],
        m.get("records_per_account"),
        m.get("accounts"),
        m.get("workers"),
        m.get("start"),
    )


def summarize(measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: medians over repetitions and ratios computed pair by pair
    (each repetition's crmsync figure over the same repetition's ceiling or naive figure)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for m in measurements:
        groups[group_key(m)].append(m)
    by_rep = {
        (m["latency_ms"], m["contender"], m["rep"]): m
        for m in measurements
        if not m["contender"].startswith("crmsync")
    }
    rows = []
    for key, runs in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        latency, contender = key[0], key[1]
        rates = [m["records_per_s"] for m in runs]
        row = {
            "latency_ms": latency,
            "contender": contender,
            "records_per_account": key[2],
            "accounts": key[3],
            "workers": key[4],
            "start": key[5],
            "reps": len(runs),
            "records_per_s": statistics.median(rates),
            "records_per_s_min": min(rates),
            "records_per_s_max": max(rates),
            "api_calls_per_1000": statistics.median(m["api_calls_per_1000"] for m in runs),
        }
        for name in (
            "queries_per_batch",
            "batch_task_ms",
            "gap_between_batches_ms",
            "first_call_ms",
            "worker_peak_rss_mb",
            "worker_cpu_ms_per_1000",
        ):
            values = [m[name] for m in runs if m.get(name) is not None]
            if values:
                row[name] = (
                    max(values) if name == "worker_peak_rss_mb" else statistics.median(values)
                )
        for other in ("ceiling", "ceiling-composite", "naive"):
            ratios = [
                m["records_per_s"] / by_rep[(latency, other, m["rep"])]["records_per_s"]
                for m in runs
                if (latency, other, m["rep"]) in by_rep
            ]
            if ratios and contender != other:
                row[f"vs_{other.replace('-', '_')}"] = statistics.median(ratios)
        rows.append(row)
    return rows


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    rank = {
        "naive": 0,
        "ceiling": 1,
        "ceiling-composite": 2,
        "crmsync": 3,
        "crmsync-collections": 4,
    }
    return (key[0], rank.get(key[1], 9), key[3] or 0, key[2] or 0, key[4] or 0, key[5] or "")


def targets(
    rows: list[dict[str, Any]], backlog: dict[str, Any] | None, pause: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The benchmark's targets, each with what was measured and whether it is met."""
    single = [r for r in rows if r["contender"] == "crmsync" and r["accounts"] == 1]
    return [
        *_rate_target(single),
        *_same_shape_targets(single),
        *_ceiling_targets(single),
        *_calls_target(rows),
        *_queries_target(rows),
        *_pause_target(pause),
        *_backlog_targets(backlog),
    ]


def _rate_target(single: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One account at 100 ms: records/s of its best configuration."""
    at_100 = [r["records_per_s"] for r in single if r["latency_ms"] == 100]
    if not at_100:
        return []
    best = max(at_100)
    return [
        _target(
            f"one account at 100 ms >= {TARGET_RPS_AT_100MS} records/s",
            f"{best:,.0f} records/s (best configuration, median)",
            best >= TARGET_RPS_AT_100MS,
        )
    ]


def _same_shape_targets(single: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One account on one warm worker at 25 and 100 ms against the bare loop of crmsync's
    call shape (`ceiling-composite`), judged on its worst size."""
    out = []
    for latency in (25, 100):
        shares = {
            r["records_per_account"]: r["vs_ceiling_composite"]
            for r in single
            if r["latency_ms"] == latency
            and r["workers"] == 1
            and r.get("start") == "warm"
            and r.get("vs_ceiling_composite") is not None
        }
        if shares:
            listed = ", ".join(f"{n:,} records {v:.0%}" for n, v in sorted(shares.items()))
            out.append(
                _target(
                    f"one account at {latency} ms >= {TARGET_SHARE_OF_SAME_SHAPE:.0%} of the "
                    "bare same-shape loop (warm, one worker)",
                    f"{listed} (median of per-rep ratios)",
                    min(shares.values()) >= TARGET_SHARE_OF_SAME_SHAPE,
                )
            )
    return out


def _ceiling_targets(single: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One account at 0 ms against the sandbox's ceiling: one target per crmsync pass,
    judged on its worst configuration."""
    out = []
    for start, workers_are in STARTS.items():
        shares = {
            (r["records_per_account"], r["workers"]): r["vs_ceiling"]
            for r in single
            if r["latency_ms"] == 0 and r.get("start") == start and "vs_ceiling" in r
        }
        if shares:
            worst = min(shares.values())
            listed = ", ".join(
                f"{records:,} records {workers}w {share:.0%}"
                for (records, workers), share in sorted(shares.items())
            )
            out.append(
                _target(
                    f"one account at 0 ms >= {TARGET_SHARE_OF_CEILING_AT_0MS:.0%} of the "
                    f"sandbox ceiling, {workers_are}",
                    f"{listed} (median of per-rep ratios)",
                    worst >= TARGET_SHARE_OF_CEILING_AT_0MS,
                )
            )
    return out


def _calls_target(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """API calls per 1,000 clean records, in crmsync's worst configuration."""
    calls = [r["api_calls_per_1000"] for r in rows if r["contender"].startswith("crmsync")]
    if not calls:
        return []
    return [
        _target(
            f"<= {TARGET_CALLS_PER_1000} API calls per 1,000 clean records",
            f"{max(calls):.2f} (worst configuration)",
            max(calls) <= TARGET_CALLS_PER_1000,
        )
    ]


def _queries_target(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQL queries per call, constant among runs of one size and call size."""
    # A run's and a link's own queries (lease, settings, finish) are spread over its calls:
    # fewer calls, more per call. So the spread is judged among runs of one size and shape.
    by_size: dict[Any, list[float]] = {}
    for r in rows:
        if r.get("queries_per_batch") is not None:
            shape = (r["contender"], r.get("records_per_account"))
            by_size.setdefault(shape, []).append(r["queries_per_batch"])
    if not by_size:
        return []
    low = min(min(q) for q in by_size.values())
    high = max(max(q) for q in by_size.values())
    spread = max(max(q) - min(q) for q in by_size.values())
    return [
        _target(
            "constant SQL queries per batch (asserted in tests/run/test_constant_queries_per_batch.py)",
            f"{low:.2f}-{high:.2f} per call (of up to 5 batches); among runs of one size "
            "and call size "
            f"they differ by {spread:.2f} at most (runs of fewer calls spread the run's "
            "own queries over fewer calls)",
            spread < 0.5,
        )
    ]


def _pause_target(pause: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Pause mode's extra API calls per rejected record, in that record's call."""
    if not pause:
        return []
    extra = pause["pause_on"]["extra_calls_per_rejection_in_its_batch"]
    return [
        _target(
            "pause mode: at most one extra API call per rejected record",
            f"{extra:g} extra call(s) in the batch of each rejected record",
            extra <= 1,
        )
    ]


def _backlog_targets(backlog: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The 1,000,000-record backlog: a worker's peak RSS, and records/s across sizes."""
    if not (backlog and backlog.get("sizes")):
        return []
    rss = max(b["worker_peak_rss_mb"] for b in backlog["runs"])
    return [
        _target(
            f"1,000,000-record backlog: worker peak RSS < {TARGET_PEAK_RSS_MB} MB",
            f"{rss:.0f} MB",
            rss < TARGET_PEAK_RSS_MB,
        ),
        _target(
            f"records/s of 20k vs 200k vs 1M within {TARGET_BACKLOG_SPREAD:.0%}",
            f"spread {backlog['spread']:.1%}",
            backlog["spread"] <= TARGET_BACKLOG_SPREAD,
        ),
    ]


def _target(name: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": name, "measured": measured, "met": met}


def markdown(report: dict[str, Any]) -> str:
    """The README-ready table and the lists that go with it."""
    lines = _comparison_lines(report)
    lines += _bulk_lines(report["bulk"])
    lines += _pause_lines(report.get("pause_cost"))
    lines += _real_org_lines(report.get("realistic"), None)
    lines += _real_org_lines(report.get("realistic_heavy"), report.get("storm"))
    lines += tenants_report.markdown(report.get("tenants"))
    lines += fleet_report.markdown(report.get("fleet"))
    lines += deletes_report.markdown(report.get("deletes"))
    lines += _backlog_lines(report.get("backlog"))
    for failure in report.get("failed_measurements", []):
        lines.append(f"\n**Failed measurement** (left out above): {failure}")
    lines += _target_lines(report["targets"])
    return "\n".join(lines) + "\n"


def _comparison_lines(report: dict[str, Any]) -> list[str]:
    """How the run was made, then one row per configuration of the comparison."""
    lines = [
        f"Measured {report['started_at']} with `{report['command']}` "
        f"({report['machine']['cpus']} CPUs, load average {report['machine']['load_before']} before, "
        f"{report['machine']['load_after']} after; {report['config']['reps']} repetitions, alternating contenders; "
        "median, [min-max]). `crmsync` sends up to 5 batches of 200 in one Composite call "
        "(CRMSYNC_BATCHES_PER_CALL=5, the default); `crmsync-collections` one batch per call "
        "(CRMSYNC_BATCHES_PER_CALL=1). SQL / call and call ms: per API call, counted inside the "
        "`export_batch` tasks (one task makes calls for up to CRMSYNC_LINK_SECONDS). First call ms: "
        "from sending `run_export` to the first API call going out (the run's fixed start). "
        "Start: each crmsync configuration starts fresh worker processes that export twice, "
        "`fresh` is their first run (login to the org, first database and broker connections "
        "included) and `warm` the next, as on workers running under beat and like the "
        "ceiling's client, which logs in and connects before its clock starts.",
        "",
        "| latency | contender | records/account | accounts | workers | start | records/s (median) [min-max] | vs ceiling | vs ceiling-composite | vs naive | API calls / 1,000 | SQL / call | call ms | first call ms | worker CPU ms / 1,000 | worker peak RSS MB |",
        "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["summary"]:
        lines.append(
            f"| {r['latency_ms']} ms | {r['contender']} | {_n(r['records_per_account'])} | {_n(r['accounts'])} | {_n(r['workers'])} | {r.get('start') or '–'} "
            f"| {r['records_per_s']:,.0f} [{r['records_per_s_min']:,.0f}-{r['records_per_s_max']:,.0f}] "
            f"| {_pct(r.get('vs_ceiling'))} | {_pct(r.get('vs_ceiling_composite'))} | {_x(r.get('vs_naive'))} | {r['api_calls_per_1000']:.2f} "
            f"| {_f(r.get('queries_per_batch'))} | {_f(r.get('batch_task_ms'))} | {_f(r.get('first_call_ms'), 0)} "
            f"| {_f(r.get('worker_cpu_ms_per_1000'), 0)} | {_f(r.get('worker_peak_rss_mb'), 0)} |"
        )
    return lines


def _bulk_lines(bulk: dict[str, Any]) -> list[str]:
    """Why the Bulk API is not measured, and what the probe heard."""
    return [
        "",
        f"**bulk**: not measured. {bulk['why']} Probe: "
        + "; ".join(f"{k}: {v}" for k, v in bulk["answers"].items())
        + ".",
    ]


def _pause_lines(pause: dict[str, Any] | None) -> list[str]:
    """Pause mode's API cost, pause on and pause off."""
    if not pause:
        return []
    on, off = pause["pause_on"], pause["pause_off"]
    return [
        "",
        f"**Pause mode cost** ({pause['records']:,} records, {pause['rejected']} rejected, {pause['clean_calls']} calls when clean): "
        f"pause on — {on['runs']} runs (each rejection parks the run; its rule is then lifted), {on['api_calls']} API calls, "
        f"{on['rejected_batch_calls']} calls in each rejected record's call (clean: 1), i.e. "
        f"{on['extra_calls_per_rejection_in_its_batch']:g} extra per rejection; {on['extra_calls_per_rejection_total']:g} extra per rejection over the whole backlog "
        "(the parked record is sent again once it passes, and the calls after it start at it). "
        f"Pause off — {off['api_calls']} API calls, {off['failed']} ExportErrors, {off['extra_calls_per_rejection_total']:g} extra per rejection.",
    ]


def _backlog_lines(backlog: dict[str, Any] | None) -> list[str]:
    """The backlog series' table and the spread of its medians."""
    if not (backlog and backlog.get("sizes")):
        return []
    lines = [
        "",
        f"**Backlog** (one account, {backlog['latency_ms']} ms, 1 worker, a fresh worker per "
        "export, sizes in alternating order; median [min-max]):",
        "",
        "| backlog | runs | records/s | worker peak RSS MB | SQL / call |",
        "|---:|---:|---:|---:|---:|",
    ]
    for b in backlog["sizes"]:
        lines.append(
            f"| {b['records']:,} | {b['reps']} | {b['records_per_s']:,.0f} "
            f"[{b['records_per_s_min']:,.0f}-{b['records_per_s_max']:,.0f}] "
            f"| {b['worker_peak_rss_mb']:.0f} | {_f(b.get('queries_per_batch'))} |"
        )
    lines.append(f"\nSpread of the medians (max/min − 1): {backlog['spread']:.1%}.")
    return lines


def _target_lines(targets: list[dict[str, Any]]) -> list[str]:
    """The targets' table: each with what was measured and whether it is met."""
    lines = ["", "| target | measured | met |", "|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    return lines


def _real_org_lines(realistic: Any, storm: Any) -> list[str]:
    """The `realistic` and `storm` series' tables (bench/realistic.py)."""
    lines: list[str] = []
    if realistic:
        lines += [
            "",
            f"**A realistic org** ({realistic['latency_ms']} ms latency, "
            f"{realistic['cpu_ms_per_record']} ms of Apex CPU per record spent as server time, "
            f"10 s CPU limit; {realistic['records']:,} records, 1 worker, fresh):",
            "",
            "| contender | records | records/s | API calls / 1,000 | records per call at the end |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in realistic["rows"]:
            lines.append(
                f"| {r['contender']} | {r['records']:,} | {r['records_per_s']:,.1f} "
                f"| {r['api_calls_per_1000']:.2f} | {_n(r['records_per_call_at_end'])} |"
            )
    if storm:
        lines += [
            "",
            f"**Trigger storm** ({storm['records']:,} records, {storm['guilty']} records whose "
            f"trigger fails its whole 200-record chunk; a clean export of the same backlog: "
            f"{storm['clean_calls']} API calls):",
            "",
            "| pause | runs | API calls | isolation calls per guilty record | guilty found | innocent parked | innocent ExportErrors |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name in ("pause_on", "pause_off"):
            e = storm[name]
            lines.append(
                f"| {name.replace('_', ' ')} | {e['runs']} | {e['api_calls']} "
                f"| {e['isolation_calls_per_guilty']:.1f} | {e['guilty_found']} "
                f"| {e['innocent_parked']} | {e['innocent_export_errors']} |"
            )
    return lines


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def _f(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value is not None else "–"


def _pct(value: Any) -> str:
    return f"{value:.0%}" if value is not None else "–"


def _x(value: Any) -> str:
    return f"{value:,.0f}×" if value is not None else "–"
