"""`make bench BENCH_ARGS="--series deletes"`: deletions against upserts, at 100 ms.

Each repetition, against the sandbox org in its own process (emptied first, latency
LATENCY_MS), with a fresh account `deletes-<rep>` (pause on, like compare's accounts) and
one worker process (`bench/worker.py`, BENCH_TIMERS=1 with the delete path's functions in
TIMED below) that exports these passes in turn, each a `run_export` as `crm_export` sends
it, timed like compare's (from the send to the run's `finished_at`; API calls from the
run row; its records enqueued and ANALYZE run before the clock starts):

1. warm-up (not measured: the worker's login and first connections are in it): upserts
   of the keys the mixes delete, `x<run>-0`...;
2. upserts: `records` upserts of `d0`...`d<records - 1>` (created in the org);
3. deletions: `records` deletions of the same keys (by Salesforce Id, from the key map);
4. one mix per run length in `runs`: `records` records, runs of that many upserts of new
   keys `n<run>-<i>` alternating with as many deletions of `x<run>-<i>` (50/50).

The sandbox's write log checks the org side of each pass: its upserts and deletes (every
record must be there) and the span from its first write to its last. After the passes,
the key map read a deletion call makes (`exports.keymap.ids_for` for one call's 1,000
keys) is run here once more under EXPLAIN ANALYZE. Rows of the report: medians over the
repetitions; "vs upserts" is the median of the per-repetition ratios.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import contenders, timers
from bench.services import Sandbox, analyze

LATENCY_MS = 100
# The delete path, timed in the worker beside bench/timers.py's TIMED (which has the
# call in the HTTP thread, `send`, its REST exchange, `Gateway._rest`, and the link's
# wait for the answer, `_answer`).
TIMED = (
    "exports.run.overlap:send_call",  # link thread: the deletions' Ids read, call handed over
    "exports.run.payload:with_ids",
    "exports.keymap:ids_for",  # … the key map's query
    "exports.run.call:_resolve_deletions",  # HTTP thread: Ids the key map did not have
    "exports.run.call:find_ids",  # … looked up in the org by SOQL
    "exports.run.link:move_cursor",  # the cursor move's transaction, key map included
    "exports.keymap:note_writes",
)
CONTACT = ("Contact", "ExtId__c")


def run(
    sandbox: Sandbox, env: dict[str, str], log_path: Path, config: dict[str, Any], progress: Any
) -> dict[str, Any]:
    """The series: `config` has records, runs (mix run lengths), reps. `progress` gets the
    result after each repetition."""
    result: dict[str, Any] = {"latency_ms": LATENCY_MS, **config, "reps_done": []}
    for rep in range(config["reps"]):
        one = repetition(sandbox, env, log_path, rep, config["records"], config["runs"])
        result["reps_done"].append(one)
        for name, phase in one["phases"].items():
            print(
                f"deletes rep {rep} {name:<18} {phase['records_per_s']:>8,.0f} records/s "
                f"{phase['api_calls_per_1000']:.2f} calls/1000",
                file=sys.stderr,
                flush=True,
            )
        result["rows"] = rows(result["reps_done"])
        progress(result)
    result["keymap_read"] = keymap_read(result["reps_done"][-1]["account_id"], config["records"])
    return result


def phases(records: int, runs: list[int]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(name, outbox items) of each pass, in order; the first is the warm-up."""
    half = records // 2
    passes = [("warm-up", [_upsert(f"x{run}-{i}") for run in runs for i in range(half)])]
    passes.append(("upserts", [_upsert(f"d{i}") for i in range(records)]))
    passes.append(("deletions", [_delete(f"d{i}") for i in range(records)]))
    for run in runs:
        items: list[dict[str, Any]] = []
        for k in range(records // run):
            first = (k // 2) * run
            keys = range(first, first + run)
            if k % 2 == 0:
                items += [_upsert(f"n{run}-{i}") for i in keys]
            else:
                items += [_delete(f"x{run}-{i}") for i in keys]
        passes.append((f"mix (runs of {run})", items))
    return passes


def _upsert(key: str) -> dict[str, Any]:
    fields = {"LastName": f"Person {key}", "Email": f"{key}@example.com", "Type__c": "Lead"}
    return {
        "sobject": CONTACT[0],
        "external_id_field": CONTACT[1],
        "external_id": key,
        "fields": fields,
    }


def _delete(key: str) -> dict[str, Any]:
    return {
        "operation": "delete",
        "sobject": CONTACT[0],
        "external_id_field": CONTACT[1],
        "external_id": key,
    }


def repetition(
    sandbox: Sandbox, env: dict[str, str], log_path: Path, rep: int, records: int, runs: list[int]
) -> dict[str, Any]:
    """One repetition: the passes in one worker; per measured pass its figures, its
    timers and what the org's write log holds of it."""
    import redis

    from accounts.models import Account, CRMSettings
    from exports.outbox import enqueue_many

    sandbox.clear()
    sandbox.set_latency(LATENCY_MS)
    account = Account.objects.create(slug=f"deletes-{rep}", name=f"deletes {rep}")
    CRMSettings.objects.update_or_create(account=account, defaults=sandbox.crm_settings())
    broker, key = redis.Redis.from_url(env["CELERY_BROKER_URL"]), env["BENCH_STATS_KEY"]
    timers.read(broker, key)  # start from zero
    planned = phases(records, runs)
    done: list[int] = []
    timed: list[dict[str, Any]] = []

    def prepare() -> None:
        enqueue_many(account, planned[len(done)][1])
        analyze()  # as autovacuum would after a bulk insert
        if done:  # the workers are idle: the previous pass's timers are all flushed
            timed.append(timers.read(broker, key))
        done.append(len(planned[len(done)][1]))

    worker_env = {**env, "BENCH_TIMERS": "1", "BENCH_TIMED_EXTRA": ",".join(TIMED)}
    passes = contenders.export([account], 1, worker_env, log_path, len(planned), prepare)
    timed.append(timers.read(broker, key))  # the workers have stopped
    org = org_writes(sandbox)
    measured = {}
    for (name, items), one, timing in zip(planned, passes, timed, strict=True):
        if name == "warm-up":
            continue
        figures = contenders._crmsync_result(*one, len(items))
        measured[name] = {**figures, "org": org.get(name, {}), "timers": per_call(timing, figures)}
    return {"rep": rep, "account_id": account.id, "phases": measured}


def per_call(timing: dict[str, dict[str, float]], figures: dict[str, Any]) -> dict[str, Any]:
    """Each timer's ms and count per API call of the pass."""
    calls = figures.get("calls") or figures["api_calls"] or 1
    return {
        name: {"ms": t["ms"] / calls, "n": t["n"] / calls}
        for name, t in timing.items()
        if not name.startswith("sql:")
    }


def _pass_of(write: dict[str, Any]) -> str:
    """Which pass wrote this entry of the write log (by its key and operation)."""
    ext, op = write["external_id"] or "", write.get("op") or "upsert"
    if ext.startswith("d"):
        return "upserts" if op == "upsert" else "deletions"
    run = ext[1:].split("-", 1)[0]
    if ext.startswith("x") and op == "upsert":
        return "warm-up"
    return f"mix (runs of {run})"


def org_writes(sandbox: Sandbox, page: int = 50_000) -> dict[str, dict[str, Any]]:
    """Per pass, from the sandbox's write log: upserts, deletes, first and last write (unix
    time) and the span between them."""
    found: dict[str, dict[str, Any]] = defaultdict(lambda: {"upsert": 0, "delete": 0})
    since = 0
    while True:
        response = sandbox.http.get(
            f"{sandbox.url}/sandbox/writes", params={"since": since, "limit": page}, timeout=300
        )
        response.raise_for_status()
        body = response.json()
        for write in body["writes"]:
            entry = found[_pass_of(write)]
            entry[write.get("op") or "upsert"] += 1
            at = datetime.fromisoformat(write["at"]).timestamp()
            entry["first_at"] = min(entry.get("first_at", at), at)
            entry["last_at"] = max(entry.get("last_at", at), at)
        if len(body["writes"]) < page:
            break
        since = body["last_seq"]
    for entry in found.values():
        entry["span_s"] = entry["last_at"] - entry["first_at"]
    return dict(found)


def rows(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per measured pass: medians over the repetitions, ratios pair by pair."""
    out = []
    for name in reps[0]["phases"]:
        runs = [r["phases"][name] for r in reps if name in r["phases"]]
        rates = [p["records_per_s"] for p in runs]
        ratios = [
            r["phases"][name]["records_per_s"] / r["phases"]["upserts"]["records_per_s"]
            for r in reps
            if name in r["phases"] and "upserts" in r["phases"]
        ]
        row = {
            "phase": name,
            "reps": len(runs),
            "records": runs[0]["records"],
            "records_per_s": statistics.median(rates),
            "records_per_s_min": min(rates),
            "records_per_s_max": max(rates),
            "vs_upserts": statistics.median(ratios) if ratios else None,
            "api_calls_per_1000": statistics.median(p["api_calls_per_1000"] for p in runs),
            "org_upserts": min(p["org"].get("upsert", 0) for p in runs),
            "org_deletes": min(p["org"].get("delete", 0) for p in runs),
        }
        for field in ("queries_per_batch", "batch_task_ms", "worker_cpu_ms_per_1000"):
            values = [p[field] for p in runs if p.get(field) is not None]
            row[field] = statistics.median(values) if values else None
        names = {n for p in runs for n in p["timers"]}
        row["timers_ms_per_call"] = {
            n: statistics.median(p["timers"].get(n, {"ms": 0.0})["ms"] for p in runs)
            for n in sorted(names)
        }
        out.append(row)
    return out


def keymap_read(account_id: int, records: int, keys: int = 1_000) -> dict[str, Any]:
    """The key map read of one deletion call (`ids_for`, `keys` keys of the deletions
    pass): its SQL, its time here (median of 5) and PostgreSQL's plan of it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from exports import keymap

    targets = [(*CONTACT, f"d{i}") for i in range(min(keys, records))]
    with CaptureQueriesContext(connection) as captured:
        found = keymap.ids_for(account_id, targets)
    sql = captured.captured_queries[-1]["sql"]
    took = []
    for _ in range(5):
        began = time.perf_counter()
        keymap.ids_for(account_id, targets)
        took.append(1000 * (time.perf_counter() - began))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM exports_salesforcekey WHERE account_id = %s", [account_id]
        )
        (account_keys,) = cursor.fetchone()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        # The IN list's 1,000 keys, written as one placeholder.
        plan = [re.sub(r"'\{[^}]*\}'::text\[\]", "<the keys>", line) for (line,) in cursor]
    return {
        "keys": len(targets),
        "found": len(found),
        "account_keys": account_keys,
        "ms": statistics.median(took),
        "sql": sql[:300] + ("…" if len(sql) > 300 else ""),
        "plan": plan,
    }
