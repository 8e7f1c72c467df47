"""The `fleet` series' table (bench/fleet.py) and its targets, in Markdown."""

from __future__ import annotations

import statistics
from typing import Any

TARGET_DELAY_S = 300.0  # one tick
TARGET_RSS_MB = 1_536
TARGET_BIG_DURING_VS_ALONE = 0.50


def markdown(fleet: dict[str, Any] | None) -> list[str]:
    if not fleet or not fleet.get("rows"):
        return []
    config, alone = fleet["config"], fleet.get("big_alone_records_per_s")
    lines = [
        "",
        "## Fleet: one worker host, N accounts per tick, a realistic org",
        "",
        f"{config['processes']} worker processes × `-P {config['pool']} --concurrency "
        f"{config['concurrency']}` (the Procfile's `{config['procfile']}`); "
        f"{config['records']:g} records per account and tick; the big account "
        f"({config['big_records']:,.0f} records) alone: {_f(alone)} records/s.",
        "",
        "| accounts | tick | runs done | seconds | delay p50 s | p99 s | max s | logins / account "
        "| API calls / account | worker CPU ms / run | worker RSS MB (all) | PG connections "
        "(active) | CPU s workers / sandbox / PostgreSQL (this database; all) / Redis "
        "| big during / alone | load |",
        "|" + "---:|" * 15,
    ]
    for row in fleet["rows"]:
        cpu = row["cpu_seconds"]
        during = row.get("big_during_records_per_s")
        share = f"{during / alone:.0%}" if during is not None and alone else "–"
        lines.append(
            f"| {row['accounts']:,} | {row['tick']} | {row['runs_done']:,} | {row['seconds']} "
            f"| {_f(row['delay_p50_s'])} | {_f(row['delay_p99_s'])} | {_f(row['delay_max_s'])} "
            f"| {row['logins_per_account']:.2f} | {row['api_calls_per_account']:.2f} "
            f"| {row['worker_cpu_ms_per_run']:.1f} | {row['worker_rss_mb']:,.0f} "
            f"| {row['pg_connections']} ({row['pg_active']}) "
            f"| {cpu['workers']} / {cpu['sandbox']} / {_f(cpu.get('postgres_bench_db'))}; "
            f"{cpu['postgres']} / {cpu['redis']:.1f} "
            f"| {share} | {row['load_before']} |"
        )
    return lines + _targets(fleet)


def _targets(fleet: dict[str, Any]) -> list[str]:
    rows, alone = [], fleet.get("big_alone_records_per_s")
    for row in (r for r in fleet["rows"] if r["tick"] == 2):
        p99 = row["delay_p99_s"]
        ok = row["all_done"] and p99 is not None and p99 < TARGET_DELAY_S
        rows.append(
            (
                f"{row['accounts']:,} accounts, steady tick: p99 < {TARGET_DELAY_S:g} s "
                "(p50 / p99 / max)",
                f"{_f(row['delay_p50_s'])} / {_f(p99)} / {_f(row['delay_max_s'])} s",
                ok,
            )
        )
        rows.append(
            (
                f"{row['accounts']:,} accounts: worker RSS ≤ {TARGET_RSS_MB:,} MB",
                f"{row['worker_rss_mb']:,.0f} MB",
                row["worker_rss_mb"] <= TARGET_RSS_MB,
            )
        )
        during = row.get("big_during_records_per_s")
        if during is not None and alone:
            rows.append(
                (
                    f"{row['accounts']:,} accounts: big account ≥ "
                    f"{TARGET_BIG_DURING_VS_ALONE:.0%} of its solo speed",
                    f"{during / alone:.0%}",
                    during / alone >= TARGET_BIG_DURING_VS_ALONE,
                )
            )
    lines = ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {n} | {m} | {'yes' if ok else '**no**'} |" for n, m, ok in rows]
    return lines + ["", knee(fleet["rows"])]


def knee(rows: list[dict[str, Any]]) -> str:
    """Where the steady tick's p99 passes one tick (or the most accounts that stayed
    within it), with the bound two cores' worker CPU per run sets."""
    steady = [r for r in rows if r["tick"] == 2]
    if not steady:
        return "The knee: no steady tick measured."
    passed = [r for r in steady if not r["all_done"] or (r["delay_p99_s"] or 0) >= TARGET_DELAY_S]
    within = [r for r in steady if r not in passed]
    cpu = statistics.median(r["worker_cpu_ms_per_run"] for r in steady)
    bound = 2 * 1000 / cpu * TARGET_DELAY_S if cpu else 0
    where = (
        f"p99 passes one tick at {passed[0]['accounts']:,} accounts"
        if passed
        else f"not reached: p99 within one tick up to {within[-1]['accounts']:,} accounts"
    )
    return (
        f"The knee: {where}. Bound from worker CPU alone ({cpu:.1f} ms a run, the steady "
        f"ticks' median, on 2 cores): {bound:,.0f} accounts per tick."
    )


def _f(value: Any) -> str:
    return "–" if value is None else f"{value:,.1f}"
