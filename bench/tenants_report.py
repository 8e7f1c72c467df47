"""The `tenants` series' tables (bench/tenants.py) and its targets, in Markdown."""

from __future__ import annotations

from typing import Any

TARGET_RSS_GROWTH = 0.20
TARGET_RUN_CPU_MS = 15.0
TARGET_TICK_SECONDS = 1.0
TARGET_BIG_DURING_VS_ALONE = 0.50

PASSES = {
    "first_accounts": "first accounts (RSS baseline)",
    "small": "many small, first visit",
    "big": "one big",
    "small_again": "many small, next visit (new records)",
}
# Timers (bench/timers.py) in the order a run meets them, with what each is.
TIMERS = {
    "delivery": "broker: send → run_export starts",
    "task:run_export": "run_export task",
    "start_run": "… start_run",
    "load_settings": "… … settings (each task)",
    "_adopt_or_create_run": "… … run row",
    "_take_lease": "… … lease",
    "log_in_ahead": "… … login handed to the HTTP thread",
    "handover": "broker: run_export ends → first link starts",
    "task:export_batch": "export_batch task (the link)",
    "_open_link": "… link state (cursor, run)",
    "_start_call": "… read the call's records, send",
    "load_call": "… … records read",
    "settings_now": "… settings check",
    "_read_ahead": "… next call read ahead",
    "_answer": "… wait for the answer",
    "_apply": "… cursor move committed",
    "finish_run": "… finish the run",
    "after_run": "… … alerts after the run",
    "reusable_gateway": "gateway lookup (per call)",
    "Gateway.__init__": "new gateway (HTTP client)",
    "Gateway._client": "HTTP thread: token (cache or login)",
    "Login.token": "HTTP thread: token (cache or login request)",
    "Gateway._describe": "HTTP thread: describe (cache or call)",
    "Gateway._rest": "HTTP thread: REST calls (describe, upsert)",
    "send": "HTTP thread: the call (types check, upsert)",
    "sql:run_export": "SQL queries in run_export",
    "sql:export_batch": "SQL queries in the links",
}


def markdown(tenants: dict[str, Any] | None) -> list[str]:
    if not tenants:
        return []
    config = tenants["config"]
    lines = ["", f"**Tenants** (sizes {config}):"]
    lines += _ticks(tenants)
    lines += _small_vs_big(tenants.get("many_small"))
    lines += _fairness(tenants.get("fairness"), config)
    lines += _breakdown(tenants.get("breakdown"))
    lines += _targets(tenants)
    return lines


def _ticks(tenants: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "The tick (`export_due_accounts` in the bench process; median seconds of "
        f"{tenants['config']['tick_reps']}):",
        "",
        "| accounts on | backlogs | seconds | SQL queries | run_export sent | to a running account | to an empty backlog |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for state, key in (("waiting", "tick_waiting"), ("empty", "tick_empty")):
        for row in tenants.get(key) or []:
            lines.append(
                f"| {row['accounts']:,} | {state} | {row['seconds']:.3f} | {row['queries']} "
                f"| {row['messages']:,} | {row['to_running']:,} | {row['to_empty_backlog']:,} |"
            )
    return lines


def _small_vs_big(out: dict[str, Any] | None) -> list[str]:
    if not out:
        return []
    lines = [
        "",
        f"Many small vs one big ({out['workers']} worker processes, 0 ms, same workers, in "
        "this order):",
        "",
        "| pass | accounts | records | seconds | records/s | worker ms / run | worker CPU ms / 1,000 | worker RSS MB after | logins / account | API calls / account |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in PASSES.items():
        p = out.get(key)
        if p:
            lines.append(
                f"| {name} | {p['accounts']:,} | {p['records']:,} | {p['seconds']:.1f} "
                f"| {p['records_per_s']:,.0f} | {p['worker_ms_per_run']:,.1f} "
                f"| {p['worker_cpu_ms_per_1000']:.0f} "
                f"| {p['worker_rss_mb']:.0f} | {p['logins_per_account']:.2f} "
                f"| {p['api_calls_per_account']:.2f} |"
            )
    idle = out.get("nothing_to_do")
    if idle and not idle["messages"]:
        lines.append(
            f"\nA tick while every backlog is empty sends no run_export ({idle['seconds']:.2f} s): "
            "an idle account costs the workers nothing."
        )
        anyway = idle.get("sent_anyway")
        if anyway:
            lines.append(
                f"Sent anyway to each of the {anyway['messages']:,} accounts (as `crm_export` "
                f"would; outcomes {anyway['outcomes']}): a `run_export` with nothing to do costs "
                f"{anyway['worker_ms_per_run']:.1f} ms of worker time "
                f"({anyway['worker_cpu_ms_per_run']:.1f} ms CPU) — one Celery task with its run "
                "row and lease and no call: a floor under any run's cost (a small account's "
                "run is two tasks and a call)."
            )
    elif idle:
        lines.append(
            f"\nA tick while every backlog is empty: {idle['messages']:,} run_export messages, "
            f"outcomes {idle['outcomes']}; each such run costs the workers "
            f"{idle['worker_ms_per_run']:.1f} ms of worker time ({idle['worker_cpu_ms_per_run']:.1f} "
            "ms CPU) and writes an ExportRun row."
        )
    return lines + _bare(out)


def _bare(out: dict[str, Any]) -> list[str]:
    """The bare loops after the passes: what the org takes in each call shape."""
    bare = out.get("bare")
    if not bare or not out.get("big") or not out.get("small_again"):
        return []
    small, big = bare["small"], bare["big"]
    ceiling_share = small["records_per_s"] / big["records_per_s"]
    small_share = out["small_again"]["records_per_s"] / small["records_per_s"]
    big_share = out["big"]["records_per_s"] / big["records_per_s"]
    return [
        "",
        "Bare client loops after the passes (no database, no Celery, one token, prebuilt "
        "bodies): what the org here takes in each call shape.",
        "",
        "| loop | clients | records/s | calls/s | crmsync's pass of that shape |",
        "|---|---:|---:|---:|---:|",
        f"| `ceiling-small`: one Collections upsert of 50 per call | {small['clients']} "
        f"| {small['records_per_s']:,.0f} | {_calls_per_s(small):,.0f} "
        f"| many small, next visit: {small_share:.0%} |",
        f"| `ceiling-composite`: Composite of 5 x 200 per call | 1 | {big['records_per_s']:,.0f} "
        f"| {_calls_per_s(big):,.0f} "
        f"| one big: {big_share:.0%} |",
        "",
        f"Bare small vs bare big: {ceiling_share:.0%} — the most that one call per small "
        "account could reach against one big account here, with no per-run work at all.",
    ]


def _calls_per_s(loop: dict[str, Any]) -> float:
    return loop["api_calls"] / loop["seconds"] if loop["seconds"] else 0.0


def _fairness(fair: dict[str, Any] | None, config: dict[str, Any]) -> list[str]:
    if not fair:
        return []
    ratio = fair["big_during_vs_alone"]
    return [
        "",
        f"Fairness ({config['workers']} workers, {config['fair_latency_ms']} ms latency): one "
        f"account with {config['fair_big_records']:,} records alone for "
        f"{config['fair_solo_seconds']:g} s, then a tick starting {fair['small_accounts']:,} "
        f"accounts × {config['small_records']} records ({fair['tick_messages']:,} messages, "
        f"{fair['tick_seconds']:.2f} s). Delay: from the tick to the account's last record in "
        "the write log."
        + (
            f" The big account finished {fair['big_ended_s_after_tick']:.0f} s after the tick, "
            "before the small ones: its records/s during is over that time."
            if fair["big_ended_before_the_small"] and "big_ended_s_after_tick" in fair
            else ""
        ),
        "",
        "| small accounts | delay p50 s | p99 s | max s | big alone records/s | big during records/s | during / alone |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {fair['small_accounts']:,} | {fair['delay_p50_s']:.1f} | {fair['delay_p99_s']:.1f} "
        f"| {fair['delay_max_s']:.1f} | {fair['big_alone_records_per_s']:,.0f} "
        f"| {fair['big_during_records_per_s']:,.0f} | {ratio:.0%} |"
        if ratio is not None
        else "| – | – | – | – | – | – | – |",
    ]


def _breakdown(visits: dict[str, Any] | None) -> list[str]:
    if not visits:
        return []
    untimed = visits.get("untimed") or {}
    names = [v for v in visits if not v.startswith("untimed")]
    lines = [
        "",
        "Per-run cost of a 50-record run (1 worker, 0 ms, runs one at a time; ms per run, "
        "calls per run in brackets; nested items are inside the one above; the HTTP thread "
        "runs beside the task):",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        "| wall: send → finished_at | "
        + " | ".join(f"{visits[v]['wall_ms_per_run']:.1f}" for v in names)
        + " |",
        "| worker CPU | "
        + " | ".join(f"{visits[v]['worker_cpu_ms_per_run']:.1f}" for v in names)
        + " |",
        "| logins | " + " | ".join(f"{visits[v]['logins_per_run']:.2f}" for v in names) + " |",
    ]
    for pool, cpu in untimed.items():
        passes = ", ".join(f"{p:.1f}" for p in (visits.get("untimed_passes") or {}).get(pool, []))
        lines.insert(
            -1,
            f"| worker CPU, next visit without the bench's timers ({pool}; median of "
            f"{passes or 'one pass'}) | – | {cpu:.1f} | – |",
        )
    known = [n for n in TIMERS if any(n in visits[v]["timers"] for v in names)]
    for name in known:
        cells = []
        for v in names:
            t = visits[v]["timers"].get(name)
            if t and name.startswith("sql:"):
                cells.append(f"{t['calls_per_run']:.1f}")
            else:
                cells.append(f"{t['ms_per_run']:.2f} ({t['calls_per_run']:.2g})" if t else "–")
        lines.append(f"| {TIMERS[name]} | " + " | ".join(cells) + " |")
    return lines


def _targets(tenants: dict[str, Any]) -> list[str]:
    rows = []
    out = tenants.get("many_small") or {}
    if out.get("small") and out.get("first_accounts"):
        growth = out["small"]["worker_rss_mb"] / out["first_accounts"]["worker_rss_mb"] - 1
        rows.append(
            (
                f"worker RSS at {out['small']['accounts']:,} accounts within "
                f"{TARGET_RSS_GROWTH:.0%} of RSS at {out['first_accounts']['accounts']}",
                f"{growth:+.0%}",
                growth <= TARGET_RSS_GROWTH,
            )
        )
    ticks = tenants.get("tick_waiting") or []
    if ticks:
        biggest = ticks[-1]
        queries = {row["queries"] for row in ticks}
        rows.append(
            (
                f"tick at {biggest['accounts']:,} accounts under {TARGET_TICK_SECONDS:g} s, "
                "constant queries",
                f"{biggest['seconds']:.2f} s, queries {sorted(queries)}",
                biggest["seconds"] < TARGET_TICK_SECONDS and len(queries) == 1,
            )
        )
    for pool, cpu in ((tenants.get("breakdown") or {}).get("untimed") or {}).items():
        rows.append(
            (
                f"worker CPU per 50-record run on a next visit ≤ {TARGET_RUN_CPU_MS:g} ms ({pool})",
                f"{cpu:.1f} ms",
                cpu <= TARGET_RUN_CPU_MS,
            )
        )
    fair = tenants.get("fairness")
    if fair and fair.get("big_during_vs_alone") is not None:
        share = fair["big_during_vs_alone"]
        rows.append(
            (
                f"big account ≥ {TARGET_BIG_DURING_VS_ALONE:.0%} of its solo speed",
                f"{share:.0%}",
                share >= TARGET_BIG_DURING_VS_ALONE,
            )
        )
    lines = ["", "| target | measured | met |", "|---|---|---|"]
    return lines + [f"| {n} | {m} | {'yes' if ok else '**no**'} |" for n, m, ok in rows]
