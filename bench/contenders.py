"""The contenders. Each measurement returns a plain dict of what it saw.

- naive: `sf.Contact.upsert("ExtId__c/<id>", fields)` once per record, one client.
- bulk: simple-salesforce's Bulk API (1.0 and 2.0) — probed, not timed: the sandbox has
  no Bulk endpoints, and the probe records what it answered.
- ceiling: `bench/sandbox_ceiling.py`'s tight loop of 200-record Collections upserts.
- ceiling-composite: the same loop in crmsync's call shape: one Composite request
  (allOrNone, `collateSubrequests` false) of 5 Collections subrequests of 200, prebuilt.
- ceiling-small: a small account's call shape (one Collections upsert of 50), prebuilt,
  from as many client processes as crmsync has workers (the tenants series).
- crmsync: `run_export` for one or more accounts, exactly as `crm_export` sends it,
  through worker processes on Redis and PostgreSQL, twice in the same workers (their
  first run, then a warm one: see STARTS); the outbox is filled once per account
  and the cursor rewound before each repetition, so every repetition exports the same
  records (upserts by external id: updates after the first pass).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.sandbox_ceiling import batches, client, drive
from bench.services import Sandbox, Workers

BATCH = 200


# --- naive, bulk, ceiling ------------------------------------------------------------------


def naive(sandbox: Sandbox, records: int) -> dict[str, Any]:
    """One upsert per record, by external id, in a loop: what most teams write first."""
    sf = client(sandbox.url, sandbox.ca_path)
    began = time.perf_counter()
    for i in range(records):
        sf.Contact.upsert(
            f"ExtId__c/naive-{i}", {"LastName": f"Naive {i}", "Email": f"n{i}@example.com"}
        )
    seconds = time.perf_counter() - began
    sf.session.close()
    return _rate(records, seconds, api_calls=records)


def ceiling(sandbox: Sandbox, seconds: float) -> dict[str, Any]:
    """The sandbox alone: prebuilt 200-record Collections upserts from a tight loop."""
    sf = client(sandbox.url, sandbox.ca_path)
    counts = [0, 0]
    began = time.perf_counter()
    drive(sf, batches(20_000, 0), seconds, counts)
    elapsed = time.perf_counter() - began
    sf.session.close()
    return _rate(counts[1], elapsed, api_calls=counts[0])


PER_COMPOSITE = 5  # Collections subrequests per Composite request, as crmsync sends them


def ceiling_composite(sandbox: Sandbox, seconds: float) -> dict[str, Any]:
    """The sandbox alone in crmsync's call shape: prebuilt Composite requests of 5
    Collections upserts of 200 (allOrNone, as with pause on), from a tight loop."""
    sf = client(sandbox.url, sandbox.ca_path)
    bodies = _composite_bodies(batches(20_000, 1), sf.sf_version)
    calls = records = 0
    began = time.perf_counter()
    deadline = began + seconds
    while time.perf_counter() < deadline:
        answer = sf.restful("composite", method="POST", data=bodies[calls % len(bodies)])
        calls += 1
        for item in answer["compositeResponse"]:
            if item["httpStatusCode"] != 200 or not all(r["success"] for r in item["body"]):
                raise RuntimeError(f"a composite subrequest failed: {item}")
            records += len(item["body"])
    elapsed = time.perf_counter() - began
    sf.session.close()
    return _rate(records, elapsed, api_calls=calls)


SMALL_CALL = 50  # records per call of a small account's run (bench/tenants.py)


def ceiling_small(sandbox: Sandbox, seconds: float, clients: int) -> dict[str, Any]:
    """The sandbox alone in a small account's call shape: prebuilt Collections upserts of
    50 records from `clients` processes in tight loops (as many as crmsync has workers),
    one token, no database: the most records/s calls of that size can carry here."""
    context = multiprocessing.get_context("spawn")  # a fork of this process can hang
    counts = context.Queue()
    loops = [
        context.Process(target=_small_loop, args=(sandbox.url, sandbox.ca_path, seconds, n, counts))
        for n in range(clients)
    ]
    for loop in loops:
        loop.start()
    done = [counts.get(timeout=seconds + 60) for _ in loops]
    for loop in loops:
        loop.join(30)
    calls, records = sum(d[0] for d in done), sum(d[1] for d in done)
    return {**_rate(records, max(d[2] for d in done), api_calls=calls), "clients": clients}


def _small_loop(url: str, ca_path: Path, seconds: float, number: int, counts: Any) -> None:
    sf = client(url, ca_path)
    bodies = [
        json.dumps({"allOrNone": True, "records": records[:SMALL_CALL]}).encode()
        for records in batches(20_000, 100 + number)
    ]
    path = "composite/sobjects/Contact/ExtId__c"
    calls = records = 0
    began = time.perf_counter()
    while time.perf_counter() < began + seconds:
        results = sf.restful(path, method="PATCH", data=bodies[calls % len(bodies)])
        if not all(r["success"] for r in results):
            raise RuntimeError(f"a small call failed: {results[0]}")
        calls, records = calls + 1, records + len(results)
    counts.put((calls, records, time.perf_counter() - began))


def _composite_bodies(prepared: list[list[dict]], version: str) -> list[bytes]:
    """One encoded Composite body per 5 consecutive batches."""
    url = f"/services/data/v{version}/composite/sobjects/Contact/ExtId__c"
    bodies = []
    for start in range(0, len(prepared) - PER_COMPOSITE + 1, PER_COMPOSITE):
        subrequests = [
            {
                "method": "PATCH",
                "url": url,
                "referenceId": f"batch{k}",
                "body": {"allOrNone": True, "records": records},
            }
            for k, records in enumerate(prepared[start : start + PER_COMPOSITE])
        ]
        body = {"allOrNone": True, "collateSubrequests": False, "compositeRequest": subrequests}
        bodies.append(json.dumps(body).encode())
    return bodies


def bulk_probe(sandbox: Sandbox) -> dict[str, Any]:
    """Try simple-salesforce's Bulk API 1.0 and 2.0 once each; say what the sandbox answered."""
    sf = client(sandbox.url, sandbox.ca_path)
    answers = {}
    attempts = {
        "bulk (Bulk API 1.0, POST /services/async/59.0/job)": lambda: sf.bulk.Contact.upsert(
            [{"ExtId__c": "bulk-1", "LastName": "Bulk"}], "ExtId__c"
        ),
        "bulk2 (Bulk API 2.0, POST /services/data/v59.0/jobs/ingest)": lambda: (
            sf.bulk2.Contact.upsert(
                records=[{"ExtId__c": "bulk-1", "LastName": "Bulk"}], external_id_field="ExtId__c"
            )
        ),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            answers[name] = "accepted"
        except Exception as exc:  # noqa: BLE001 - the probe reports whatever happened
            status = getattr(exc, "status", None)
            answers[name] = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    sf.session.close()
    return {
        "supported": all(answer == "accepted" for answer in answers.values()),
        "answers": answers,
        "why": "The sandbox org implements the REST API only (docs/sandbox-rules.md): no Bulk API "
        "endpoints, so simple-salesforce's bulk paths cannot be measured against it.",
    }


def _rate(records: int, seconds: float, api_calls: int) -> dict[str, Any]:
    return {
        "records": records,
        "seconds": round(seconds, 4),
        "records_per_s": records / seconds if seconds else 0.0,
        "api_calls": api_calls,
        "api_calls_per_1000": 1000 * api_calls / records if records else None,
    }


# --- crmsync -------------------------------------------------------------------------------


def make_account(
    slug: str,
    sandbox: Sandbox,
    records: int,
    pool: int | None = None,
    pause: bool = True,
    fields: dict[int, dict[str, Any]] | None = None,
) -> Any:
    """An account on the sandbox (pause on unless said, one run may take the whole backlog)
    with `records` contacts in its outbox; external ids cycle over `pool` (default: all
    distinct); `fields` replaces the fields of the records at those positions.
    Returns (account, seconds the enqueue took)."""
    from accounts.models import Account, CRMSettings
    from exports.outbox import enqueue_many

    account = Account.objects.create(slug=slug, name=slug)
    CRMSettings.objects.update_or_create(  # an Account may come with default settings
        account=account, defaults=sandbox.crm_settings(pause_on_export_errors=pause)
    )
    pool = pool or records
    items = (
        {
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": f"{slug}-{i % pool}",
            "fields": (fields or {}).get(i)
            or {"LastName": f"Person {i}", "Email": f"p{i}@example.com", "Type__c": "Lead"},
        }
        for i in range(records)
    )
    began = time.perf_counter()
    enqueue_many(account, items)
    return account, time.perf_counter() - began


def rewind(account: Any, records: int) -> None:
    """Put the cursor just before the account's last `records` records, idle, no lease."""
    from exports.models import ExportCursor, ExportRecord

    ids = ExportRecord.objects.filter(account=account).order_by("-id").values_list("id", flat=True)
    before = ids[records : records + 1]
    after_id = before[0] if before else 0
    ExportCursor.objects.update_or_create(
        account=account,
        defaults={
            "last_exported_id": after_id,
            "state": ExportCursor.State.IDLE,
            "run_id": None,
            "lease_expires_at": None,
            "paused_record": None,
            "paused_since": None,
            "last_error_code": "",
            "last_error_message": "",
        },
    )


# Each crmsync measurement is a pass of its workers: "fresh" is the workers' first run (their
# login to the org, first database and broker connections and first queries on a new
# PostgreSQL backend are in it); "warm" is the next run in the same workers, as on workers
# that have been running under beat, and as the ceiling's client, logged in and connected
# before its clock starts.
STARTS = ("fresh", "warm")


def crmsync(
    accounts: list[Any],
    records: int,
    workers: int,
    env: dict[str, str],
    log_path: Path,
    starts: tuple[str, ...] = STARTS,
) -> list[dict[str, Any]]:
    """Export the last `records` records of each account, all at once, with `workers`
    worker processes, once per pass in `starts` (the cursor rewound before each): for each,
    records/s from the first `run_export` sent to the last run's finish, API calls, the
    workers' counters and their peak RSS so far."""

    def rewind_all() -> None:
        for account in accounts:
            rewind(account, records)

    passes = export(accounts, workers, env, log_path, len(starts), rewind_all)
    return [
        {"start": start, **_crmsync_result(*one, records * len(accounts))}
        for start, one in zip(starts, passes, strict=True)
    ]


def crmsync_run(account: Any, env: dict[str, str], log_path: Path) -> Any:
    """One run of an account from where its cursor is, one fresh worker; the ExportRun row."""
    return export([account], 1, env, log_path)[0][0][0]


def export(
    accounts: list[Any],
    workers: int,
    env: dict[str, str],
    log_path: Path,
    passes: int = 1,
    prepare: Callable[[], None] | None = None,
    timeout: float = 7200.0,
) -> list[tuple[list[Any], float, float, dict[str, int], float]]:
    """Start `workers` worker processes; `passes` times, call `prepare`, send one
    `run_export` per account as `crm_export` sends it (exports.tools.runner.run_and_wait) and
    wait for every outcome; stop the workers. Per pass: (runs, seconds from the first send
    to the last finish, peak RSS MB so far, counters, the workers' CPU ms in the pass)."""
    import redis

    from crmsync.celery import app
    from exports.models import ExportRun
    from exports.tasks import run_export

    pool = Workers(workers, env, log_path)
    done = []
    try:
        pool.wait_ready(app)
        for _ in range(passes):
            if prepare:
                prepare()
            runs = [
                ExportRun.objects.create(account=a, trigger=ExportRun.Trigger.MANUAL)
                for a in accounts
            ]
            cpu_before = pool.cpu_ms()
            began = time.time()
            for run in runs:
                run_export.apply_async(
                    args=[run.account_id], kwargs={"trigger": run.trigger, "run_id": run.id}
                )
            finished = _wait_for_outcomes([r.id for r in runs], timeout)
            seconds = max(run.finished_at.timestamp() for run in finished) - began
            cpu = pool.cpu_ms() - cpu_before
            done.append((finished, began, seconds, pool.peak_rss_mb(), cpu))
    finally:
        pool.stop()
    # Read after the workers stopped: each link adds its counters after its task returns.
    stats = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    return [
        (runs, seconds, rss, _counters(stats, env["BENCH_STATS_KEY"], runs, began), cpu)
        for runs, began, seconds, rss, cpu in done
    ]


def _counters(stats: Any, prefix: str, runs: list[Any], began: float) -> dict[str, int]:
    """The workers' counters for these runs, summed; `first_call_us`: from sending
    `run_export` to the first API call (the earliest of the processes' first calls)."""
    counters: dict[str, int] = {}
    first_calls = []
    for run in runs:
        key = f"{prefix}:{run.id}"
        for name, value in stats.hgetall(key).items():
            name = name.decode()
            if name.startswith("first_call_at_us:"):
                first_calls.append(int(value))
            else:
                counters[name] = counters.get(name, 0) + int(value)
        stats.delete(key)
    if first_calls:
        counters["first_call_us"] = int(min(first_calls) - 1e6 * began)
    return counters


STALL_SECONDS = 120.0


def _wait_for_outcomes(run_ids: list[int], timeout: float) -> list[Any]:
    """Poll the run rows until each has an outcome (the time comes from `finished_at`).

    The machine is shared: a PostgreSQL restart drops this process's connection (open a
    new one and go on); a Redis restart loses the chain's message, so a run that makes no
    progress for STALL_SECONDS ends the measurement with an error instead of hanging.
    """
    from django.db import InterfaceError, OperationalError, connections

    from exports.models import ExportRun

    deadline = time.monotonic() + timeout
    progress, progress_at = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            runs = list(ExportRun.objects.filter(id__in=run_ids))
        except (OperationalError, InterfaceError):
            connections.close_all()
            time.sleep(1)
            continue
        if all(run.outcome for run in runs):
            return runs
        attempted = sum(run.attempted for run in runs)
        if attempted != progress:
            progress, progress_at = attempted, time.monotonic()
        elif time.monotonic() - progress_at > STALL_SECONDS:
            raise RuntimeError(f"runs {run_ids} made no progress for {STALL_SECONDS:.0f}s")
        time.sleep(0.1)
    raise RuntimeError(f"runs {run_ids} have no outcome after {timeout:.0f}s; see the worker log")


def _crmsync_result(
    runs: list[Any],
    seconds: float,
    peak_rss_mb: float,
    counters: dict[str, int],
    cpu_ms: float,
    expected: int,
) -> dict[str, Any]:
    exported = sum(run.exported for run in runs)
    api_calls = sum(run.api_calls for run in runs)
    calls = counters.get("calls", 0)
    outcomes = sorted({run.outcome for run in runs})
    if outcomes != ["completed"] or exported != expected:
        raise RuntimeError(f"crmsync runs ended {outcomes} with {exported}/{expected} exported")
    return {
        **_rate(exported, seconds, api_calls),
        "links": counters.get("links", 0),
        "calls": calls,
        # Per call (a link makes several): SQL queries and time in export_batch tasks.
        "queries_per_batch": counters.get("queries", 0) / calls if calls else None,
        "batch_task_ms": counters.get("task_us", 0) / 1000 / calls if calls else None,
        "gap_between_batches_ms": (
            counters["gap_us"] / 1000 / counters["gaps"] if counters.get("gaps") else None
        ),
        "first_call_ms": (
            counters["first_call_us"] / 1000 if "first_call_us" in counters else None
        ),
        "worker_peak_rss_mb": round(peak_rss_mb, 1),
        # The worker processes' CPU (all threads) from the first send to the last finish.
        "worker_cpu_ms_per_1000": 1000 * cpu_ms / exported if exported else None,
    }
