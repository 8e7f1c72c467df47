"""`make bench BENCH_ARGS="--series tenants"`: thousands of small accounts.

The series, in one run, against the sandbox org in its own process:

1. **The tick** at 10 / 1,000 / 5,000 accounts with Export to CRM on (the others off):
   `export_due_accounts` called here, timed, SQL counted, its messages counted and then
   dropped; how many went to accounts whose run is still going or whose backlog is empty.
   Measured with every backlog waiting, and again after the small accounts were exported.
2. **Many small vs one big**, on the same `workers` worker processes, 0 ms: 10 accounts
   (worker RSS after them), `small_accounts` × `small_records` (records/s, RSS, logins per
   account, worker CPU per 1,000 records), one account with `big_records`, the small
   accounts again with new records (the next tick's visit: tokens cached or not), then a
   tick whose runs all have nothing to do (what such a run costs the workers); then, the
   workers stopped, bare client loops in both call shapes (`bare_loops`).
3. **Fairness** at `fair_latency_ms`: one account with `fair_big_records` runs alone for
   `fair_solo_seconds`, then a tick (in this process) starts `fair_small_accounts` ×
   `small_records`; per small account the time from the tick to its last record in the
   sandbox's write log (p50 / p99 / max), and the big account's records/s during that
   time vs before it (alone), from the write log.
4. **Per-run cost** of a 50-record run, one worker with BENCH_TIMERS=1 (bench/timers.py),
   `breakdown_runs` accounts one run at a time, three visits: the first (login and describe),
   the next after the worker dropped its connections (as at the next 5-minute tick), and
   one right after (connection reused). Then the next visit's worker CPU without the timers
   and the worker's counters (their Redis writes and query counting are the bench's, not
   the product's: BENCH_COUNTERS=0), in the solo worker and in the
   Procfile's pool, the median of `cost_passes` next visits (`--series runcost` measures
   this part alone).

Sizes: FULL (the issue's) or QUICK (`--quick`), each overridable with `--tenant-sizes
key=value,...`.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import tenant_setup as ts
from bench.services import Sandbox, Workers, sized

FULL = {
    "tick_accounts": [10, 1_000, 5_000],
    "tick_reps": 3,
    "workers": 2,
    "rss_accounts": 10,
    "small_accounts": 5_000,
    "small_records": 50,
    "big_records": 250_000,
    "fair_big_records": 1_000_000,
    "fair_small_accounts": 2_000,
    "fair_latency_ms": 100,
    "fair_solo_seconds": 20.0,
    "breakdown_runs": 50,
    "cost_passes": 3,
    "bare_seconds": 5.0,
}
QUICK = {
    **FULL,
    "small_accounts": 1_000,
    "big_records": 50_000,
    "fair_big_records": 100_000,
    "fair_small_accounts": 200,
    "fair_solo_seconds": 5.0,
    "breakdown_runs": 30,
    "cost_passes": 1,
    "bare_seconds": 2.0,
}


def sizes(quick: bool, overrides: str) -> dict[str, Any]:
    """FULL or QUICK with `key=value,...` overrides (tick_accounts: values joined by '+')."""
    return sized(QUICK if quick else FULL, overrides, "--tenant-sizes", "tick_accounts")


def run(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    config: dict[str, Any],
    result: dict[str, Any],
) -> None:
    """The whole series, into `result` part by part (what was measured stays if a later
    part fails)."""
    import redis

    broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    result["config"] = config
    sandbox.set_latency(0)
    began = time.perf_counter()
    small = ts.make_accounts("t", max(config["tick_accounts"]), config["small_records"], sandbox)
    result["setup_seconds"] = round(time.perf_counter() - began, 1)
    ts.analyze()
    result["tick_waiting"] = ticks(small, config, broker, env["BENCH_QUEUE"])
    _say("tick, every backlog waiting", result["tick_waiting"])
    small = small[: config["small_accounts"]]
    result["many_small"] = many_small_vs_one_big(sandbox, env, log_path, config, small)
    sizes_done = [n for n in config["tick_accounts"] if n <= len(small)]
    result["tick_empty"] = ticks(
        small, {**config, "tick_accounts": sizes_done}, broker, env["BENCH_QUEUE"]
    )
    _say("tick, every backlog empty", result["tick_empty"])
    result["fairness"] = fairness(sandbox, env, log_path, config)
    run_cost(sandbox, env, log_path, config, result)


def run_cost(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    config: dict[str, Any],
    result: dict[str, Any],
) -> None:
    """Part 4 alone (`--series runcost`): where a 50-record run's time and CPU go."""
    import redis

    broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    sandbox.set_latency(0)
    result["breakdown"] = breakdown(sandbox, env, log_path, config, broker)


# --- 1. the tick ---------------------------------------------------------------------------


def ticks(account_ids: list[int], config: dict[str, Any], broker: Any, queue: str) -> list[Any]:
    """The tick at each size (the first N accounts on): the median of `tick_reps` ticks."""
    rows = []
    for count in config["tick_accounts"]:
        ts.enable_only(account_ids[:count])
        reps = [ts.tick(broker, queue) for _ in range(config["tick_reps"])]
        row = dict(reps[-1])
        row["seconds"] = statistics.median(r["seconds"] for r in reps)
        row["queries"] = max(r["queries"] for r in reps)
        rows.append({"accounts": count, **row})
    return rows


# --- 2. many small vs one big ----------------------------------------------------------------


def many_small_vs_one_big(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    config: dict[str, Any],
    small: list[int],
) -> dict[str, Any]:
    """The passes of part 2, all on the same worker processes."""
    from crmsync.celery import app

    first = ts.make_accounts("r", config["rss_accounts"], config["small_records"], sandbox)
    big = ts.make_accounts("big", 1, config["big_records"], sandbox)
    ts.analyze()
    ts.enable_only([*first, *big, *small])
    pool = Workers(config["workers"], env, log_path)
    out: dict[str, Any] = {"workers": config["workers"]}
    try:
        pool.wait_ready(app)
        out["first_accounts"] = export_pass(pool, sandbox, first)
        out["small"] = export_pass(pool, sandbox, small)
        out["big"] = export_pass(pool, sandbox, big)
        ts.enqueue(small, config["small_records"], config["small_records"])
        out["small_again"] = export_pass(pool, sandbox, small)
        out["nothing_to_do"] = nothing_to_do_pass(pool, small)
    finally:
        pool.stop()
    out["bare"] = bare_loops(sandbox, config)
    for name in ("first_accounts", "small", "big", "small_again", "nothing_to_do", "bare"):
        _say(name, out.get(name))
    return out


def bare_loops(sandbox: Sandbox, config: dict[str, Any]) -> dict[str, Any]:
    """What the org here takes from bare client loops (no database, no Celery, one token),
    after the workers stopped: 50-record calls from as many processes as crmsync has workers
    (`ceiling-small`) and Composite calls of 5 x 200 from one (`ceiling-composite`, one
    account's chain). Their ratio bounds what many small accounts can reach against one big
    one with one call per small run."""
    from bench import contenders

    seconds = config["bare_seconds"]
    return {
        "small": contenders.ceiling_small(sandbox, seconds, config["workers"]),
        "big": contenders.ceiling_composite(sandbox, seconds),
    }


def export_pass(pool: Workers, sandbox: Sandbox, account_ids: list[int]) -> dict[str, Any]:
    """One run per account, sent at once: records/s from the first send to the last finish,
    the workers' CPU per 1,000 records, their RSS after it, logins and API calls per account."""
    after, cpu, logins = ts.last_run_id(), pool.cpu_ms(), sandbox.stats()["logins"]
    began = ts.send_runs(account_ids)
    runs = ts.wait_runs(account_ids, after)
    seconds = max(run.finished_at.timestamp() for run in runs) - began
    cpu = pool.cpu_ms() - cpu
    exported = sum(run.exported for run in runs)
    outcomes = Counter(run.outcome for run in runs)
    if set(outcomes) != {"completed"}:
        raise RuntimeError(f"runs ended {dict(outcomes)}; see the worker log")
    return {
        "accounts": len(account_ids),
        "records": exported,
        "seconds": round(seconds, 3),
        "records_per_s": exported / seconds,
        "worker_ms_per_run": 1000 * seconds * pool.count / len(account_ids),
        "worker_cpu_ms_per_1000": 1000 * cpu / exported,
        "worker_rss_mb": round(pool.rss_mb(), 1),
        "logins_per_account": (sandbox.stats()["logins"] - logins) / len(account_ids),
        "api_calls_per_account": sum(run.api_calls for run in runs) / len(account_ids),
    }


def nothing_to_do_pass(pool: Workers, account_ids: list[int]) -> dict[str, Any]:
    """A tick (here) while every backlog is empty, its runs done by the workers: what one
    such run costs them (CPU, and worker time = wall time x workers / runs). The tick sends
    none: then `run_export` is sent to each account anyway (as `crm_export` would): one
    Celery task with its run row and lease read, no call — the least any run costs, a
    floor under the per-run cost of a small account's run (which is two such tasks)."""
    from exports.tasks import export_due_accounts

    ts.enable_only(account_ids)
    after, cpu = ts.last_run_id(), pool.cpu_ms()
    began = time.time()
    sent = export_due_accounts()
    if sent:
        return _runs_cost(pool, sent, after, cpu, began)
    # The tick sends no run to an account with nothing waiting.
    tick = {"messages": 0, "outcomes": {}, "seconds": round(time.time() - began, 3)}
    after, cpu = ts.last_run_id(), pool.cpu_ms()
    began = ts.send_runs(account_ids)
    return {**tick, "sent_anyway": _runs_cost(pool, account_ids, after, cpu, began)}


def _runs_cost(
    pool: Workers, account_ids: list[int], after: int, cpu_before: float, began: float
) -> dict[str, Any]:
    """Wait for the runs sent at `began`: what one cost the workers."""
    runs = ts.wait_runs(account_ids, after)
    seconds = max(run.finished_at.timestamp() for run in runs) - began
    return {
        "messages": len(runs),
        "outcomes": dict(Counter(run.outcome for run in runs)),
        "seconds": round(seconds, 3),
        "worker_ms_per_run": 1000 * seconds * pool.count / len(runs),
        "worker_cpu_ms_per_run": (pool.cpu_ms() - cpu_before) / len(runs),
    }


# --- 3. fairness -----------------------------------------------------------------------------


def fairness(
    sandbox: Sandbox, env: dict[str, str], log_path: Path, config: dict[str, Any]
) -> dict[str, Any]:
    """A big backlog alone, then a tick starting many small accounts (see the module doc)."""
    from crmsync.celery import app
    from exports.tasks import export_due_accounts

    sandbox.set_latency(config["fair_latency_ms"])
    big = ts.make_accounts("fairbig", 1, config["fair_big_records"], sandbox)
    small = ts.make_accounts(
        "fair", config["fair_small_accounts"], config["small_records"], sandbox
    )
    ts.analyze()
    ts.enable_only([*big, *small])
    sandbox.clear()  # the write log from here on
    pool = Workers(config["workers"], env, log_path)
    try:
        pool.wait_ready(app)
        after = ts.last_run_id()
        alone_from = ts.send_runs(big)
        while time.time() < alone_from + config["fair_solo_seconds"]:
            time.sleep(0.05)
        tick_at = time.time()
        sent = export_due_accounts()
        tick_seconds = time.time() - tick_at
        ts.wait_runs(small, after)  # the big run is still going: stopped with the workers
    finally:
        pool.stop()
    sandbox.set_latency(0)
    result = fairness_figures(ts.write_times(sandbox), "fairbig-00001", alone_from, tick_at)
    return {"tick_messages": len(sent), "tick_seconds": round(tick_seconds, 3), **result}


def fairness_figures(
    times: dict[str, list[float]], big_slug: str, alone_from: float, tick_at: float
) -> dict[str, Any]:
    """Per small account the delay from the tick to its last write; the big account's
    records/s alone (before the tick) and while the small ones were exported (until they
    were done, or until the big one was, if it ended first)."""
    big = times.pop(big_slug, [])
    delays = [max(ts_list) - tick_at for ts_list in times.values()]
    small_done = tick_at + max(delays)
    alone = sum(1 for t in big if t < tick_at) / (tick_at - alone_from)
    big_ended = max(big) if big else tick_at
    # While both went on: until the small ones were done, or the big one, if it was first.
    shared_until = min(small_done, big_ended)
    during = (
        sum(1 for t in big if tick_at <= t <= shared_until) / (shared_until - tick_at)
        if shared_until > tick_at
        else 0.0
    )
    return {
        "small_accounts": len(delays),
        "delay_p50_s": ts.percentile(delays, 0.50),
        "delay_p99_s": ts.percentile(delays, 0.99),
        "delay_max_s": max(delays),
        "big_records": len(big),
        "big_alone_records_per_s": alone,
        "big_during_records_per_s": during,
        "big_during_vs_alone": during / alone if alone else None,
        "big_ended_before_the_small": big_ended < small_done,
        "big_ended_s_after_tick": big_ended - tick_at,
    }


# --- 4. per-run cost -------------------------------------------------------------------------


def breakdown(
    sandbox: Sandbox, env: dict[str, str], log_path: Path, config: dict[str, Any], broker: Any
) -> dict[str, Any]:
    """Where a 50-record run's time goes, on three visits (see the module doc)."""
    from crmsync.celery import app
    from salesforce.reuse import REUSE_IDLE_SECONDS

    records = config["small_records"]
    accounts = ts.make_accounts("cost", config["breakdown_runs"], records, sandbox)
    ts.enable_only(accounts)
    pool = Workers(1, {**env, "BENCH_TIMERS": "1"}, log_path)
    key = env["BENCH_STATS_KEY"]
    visits: dict[str, Any] = {}
    try:
        pool.wait_ready(app)
        for k, (visit, rest) in enumerate(
            (("first", REUSE_IDLE_SECONDS + 1), ("next_tick", 0), ("reused", 0))
        ):
            if k:
                ts.enqueue(accounts, records, k * records)  # new records since the last visit
            visits[visit] = one_by_one(pool, sandbox, accounts, broker, key)
            _say(f"breakdown {visit}", {k: v for k, v in visits[visit].items() if k != "timers"})
            time.sleep(rest)  # the worker drops a connection unused this long
    finally:
        pool.stop()
    passes = untimed_cpu(
        sandbox, env, log_path, accounts, records, broker, key, config["cost_passes"]
    )
    visits["untimed"] = {pool: statistics.median(cpu) for pool, cpu in passes.items()}
    visits["untimed_passes"] = passes
    return visits


def untimed_cpu(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    accounts: list[int],
    records: int,
    broker: Any,
    key: str,
    passes: int,
) -> dict[str, list[float]]:
    """Worker CPU per run on the next visit without the bench's timers and counters (what
    the product costs), in the bench's solo worker and in the Procfile's pool (e.g. 32 threads): a
    first visit, then `passes` times the idle time that drops connections and a measured
    next visit (the figures move by a third from one pass to the next on a small VM: the
    median is the one to judge)."""
    from bench.fleet import procfile_pool
    from crmsync.celery import app
    from salesforce.reuse import REUSE_IDLE_SECONDS

    procfile = procfile_pool()
    pools = {
        "solo": {"BENCH_COUNTERS": "0"},
        f"{procfile['pool']} {procfile['concurrency']}": {
            "BENCH_POOL": procfile["pool"],
            "BENCH_CONCURRENCY": str(procfile["concurrency"]),
            "BENCH_COUNTERS": "0",
        },
    }
    cpu: dict[str, list[float]] = {}
    for k, (name, pool_env) in enumerate(pools.items()):
        pool = Workers(1, {**env, **pool_env}, log_path)
        cpu[name] = []
        try:
            pool.wait_ready(app)
            for visit in range(passes + 1):
                ts.enqueue(accounts, records, (3 + (passes + 1) * k + visit) * records)
                if visit:
                    time.sleep(REUSE_IDLE_SECONDS + 1)
                measured = one_by_one(pool, sandbox, accounts, broker, key)
                if visit:
                    cpu[name].append(measured["worker_cpu_ms_per_run"])
                    _say(f"breakdown untimed next visit {visit}, {name}", measured)
        finally:
            pool.stop()
    return cpu


def one_by_one(
    pool: Workers, sandbox: Sandbox, accounts: list[int], broker: Any, key: str
) -> dict[str, Any]:
    """Runs one at a time (each sent when the one before finished): wall ms per run from
    the send to `finished_at`, worker CPU ms per run, and the timers per run."""
    import uuid

    from bench import timers
    from exports.tasks import run_export

    timers.read(broker, key)  # start from zero
    logins, cpu, walls = sandbox.stats()["logins"], pool.cpu_ms(), []
    for account_id in accounts:
        after, task_id = ts.last_run_id(), uuid.uuid4().hex
        broker.hset(f"{key}:sent", task_id, repr(time.time()))
        sent = time.time()
        run_export.apply_async(args=[account_id], kwargs={"trigger": "schedule"}, task_id=task_id)
        (run,) = ts.wait_runs([account_id], after, poll_s=0.002)
        walls.append(1000 * (run.finished_at.timestamp() - sent))
    runs = len(accounts)
    time.sleep(0.2)  # the last task's timers are flushed after it returns
    return {
        "runs": runs,
        "wall_ms_per_run": statistics.mean(walls),
        "wall_ms_p50": statistics.median(walls),
        "worker_cpu_ms_per_run": (pool.cpu_ms() - cpu) / runs,
        "logins_per_run": (sandbox.stats()["logins"] - logins) / runs,
        "timers": {
            name: {"ms_per_run": t["ms"] / runs, "calls_per_run": t["n"] / runs}
            for name, t in timers.read(broker, key).items()
        },
    }


def _say(name: str, figures: Any) -> None:
    print(f"tenants {name}: {figures}", file=sys.stderr, flush=True)
