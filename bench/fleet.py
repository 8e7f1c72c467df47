"""`make bench BENCH_ARGS="--series fleet"`: one worker host against a realistic org fleet.

The sandbox org as a realistic org (100 ms latency, Apex automation at 4 ms of CPU per
record spent as server time, the 10 s CPU limit: bench/realistic.py's faults), every
account its own org (a connected app of its own: the per-org cap counts each alone, as
it would for thousands of customers' orgs). One worker host: `processes` worker processes
(one per core) running the Procfile's `worker` pool and concurrency (read from the
Procfile, `CRMSYNC_WORKER_POOL` / `CRMSYNC_WORKER_CONCURRENCY` override them as they do
there), each a `bench/worker.py` with its counters.

1. One account with `big_records` starts its run alone; after `solo_seconds` its records/s
   alone (from the sandbox's write log, from its first write to the first tick).
2. For each N in `counts` (new accounts, `records` each, the others off): **tick 1** (the
   accounts' first: a login and a describe each), then, once every run is done and the
   workers have dropped idle connections (`salesforce.reuse.REUSE_IDLE_SECONDS`, as at
   the next 5-minute tick), `records` new records per account and **tick 2** (tokens and
   describes in the shared cache: the steady state). A tick is `export_due_accounts`
   called here, as beat calls it. Per tick: from the tick to each account's last write in
   the write log (p50 / p99 / max), the big account's records/s meanwhile, worker CPU ms
   per run, worker RSS (all processes, sampled), PostgreSQL connections of the bench
   database (pg_stat_activity, sampled), CPU seconds of the sandbox, PostgreSQL (every
   postgres process, with reaped backends) and Redis (INFO cpu). PostgreSQL and Redis
   are the machine's: other users' work on them counts too (the load is recorded).

The big run goes on through every N (one run, one chain). A tick whose runs are not all
done within `give_up_seconds` ends the series (the knee is passed).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import tenant_setup as ts
from bench.realistic import REALISTIC_FAULTS
from bench.sandbox_ceiling import RULES
from bench.services import ROOT, Sandbox, Workers, process_cpu_ms, sized, tree_cpu_ms

FULL = {
    "counts": [2_000, 5_000, 10_000],
    "records": 50,
    "big_records": 1_000_000,
    "cpu_ms_per_record": 4,
    "solo_seconds": 45.0,
    "processes": 2,
    "give_up_seconds": 900.0,
}
QUICK = {**FULL, "counts": [200], "big_records": 50_000, "solo_seconds": 20.0}
SECRET = "fleet"


def sizes(quick: bool, overrides: str) -> dict[str, Any]:
    """FULL or QUICK with `key=value,...` overrides (counts: values joined by '+'), and the
    Procfile's pool."""
    config = sized(QUICK if quick else FULL, overrides, "--fleet-sizes", "counts")
    return {**config, **procfile_pool()}


def procfile_pool() -> dict[str, Any]:
    """The Procfile `worker` line's pool and concurrency, resolved as its shell would."""
    line = next(
        row for row in (ROOT / "Procfile").read_text().splitlines() if row.startswith("worker:")
    )
    values = {}
    for name, flag in (("pool", "-P"), ("concurrency", "--concurrency")):
        found = re.search(rf"{flag} \$\{{(\w+):-(\w+)\}}", line)
        if found is None:
            raise SystemExit(f"Procfile worker line: no {flag} ${{VAR:-default}}: {line}")
        values[name] = os.environ.get(found[1]) or found[2]
    return {"pool": values["pool"], "concurrency": int(values["concurrency"]), "procfile": line}


def run(
    sandbox: Sandbox,
    env: dict[str, str],
    log_path: Path,
    config: dict[str, Any],
    result: dict[str, Any],
    save: Any,
) -> None:
    """The whole series into `result`, saved after each tick."""
    from crmsync.celery import app

    result["config"] = config
    groups = {
        n: make_accounts(f"f{n}", n, int(config["records"]), sandbox) for n in config["counts"]
    }
    big = make_accounts("fbig", 1, int(config["big_records"]), sandbox)
    clients = [f"f{n}-{i:05d}" for n in config["counts"] for i in range(1, n + 1)]
    rules = {**RULES, "auth": {"clients": {c: SECRET for c in [*clients, "fbig-00001"]}}}
    contact = {**RULES["objects"]["Contact"], "cpu_ms_per_record": config["cpu_ms_per_record"]}
    sandbox.set_rules(
        {**rules, "objects": {**RULES["objects"], "Contact": contact}}, **REALISTIC_FAULTS
    )
    ts.analyze()
    ts.enable_only(big)
    writes = WriteLog(sandbox)
    worker_env = {
        **env,
        "BENCH_POOL": config["pool"],
        "BENCH_CONCURRENCY": str(config["concurrency"]),
    }
    pool = Workers(config["processes"], worker_env, log_path)
    try:
        pool.wait_ready(app)
        ts.send_runs(big)
        time.sleep(config["solo_seconds"])
        result["rows"] = []
        for count, accounts in groups.items():
            ts.enable_only([*big, *accounts])
            for visit in (1, 2):
                if visit == 2:
                    rest_then_enqueue(accounts, int(config["records"]))
                row = tick(pool, sandbox, writes, accounts, config)
                result["rows"].append({"accounts": count, "tick": visit, **row})
                _say(result["rows"][-1])
                save()
                if not row["all_done"]:
                    return
    finally:
        result["big_alone_records_per_s"] = writes.big_alone()
        pool.stop()
        sandbox.set_rules(RULES)


def make_accounts(prefix: str, count: int, records: int, sandbox: Sandbox) -> list[int]:
    """`count` accounts `<prefix>-00001`..., each its own org (client id = its slug), off."""
    from accounts.models import Account, CRMSettings

    accounts = Account.objects.bulk_create(
        [Account(slug=f"{prefix}-{n:05d}", name=f"{prefix} {n}") for n in range(1, count + 1)]
    )
    CRMSettings.objects.bulk_create(
        [
            CRMSettings(
                account=a,
                **sandbox.crm_settings(
                    export_enabled=False,
                    pause_on_export_errors=True,
                    client_id=a.slug,
                    client_secret=SECRET,
                ),
            )
            for a in accounts
        ]
    )
    ts.enqueue(accounts, records, 0)
    return [a.id for a in accounts]


def rest_then_enqueue(accounts: list[int], records: int) -> None:
    """The next tick's records, and at least REUSE_IDLE_SECONDS + 1 since the last run:
    the workers drop idle connections, as they would in the 5 minutes between ticks."""
    from salesforce.reuse import REUSE_IDLE_SECONDS

    began = time.monotonic()
    from exports.models import ExportRecord

    done = ExportRecord.objects.filter(account_id=accounts[0]).count()
    ts.enqueue(accounts, records, done)
    time.sleep(max(0.0, REUSE_IDLE_SECONDS + 1 - (time.monotonic() - began)))


def tick(
    pool: Workers, sandbox: Sandbox, writes: WriteLog, accounts: list[int], config: dict[str, Any]
) -> dict[str, Any]:
    """One tick (export_due_accounts here) and its runs, measured (see the module doc)."""
    from exports.tasks import export_due_accounts

    writes.read()  # the big account's writes so far; the tick's from here
    after, logins = ts.last_run_id(), sandbox.stats()["logins"]
    sampler = Sampler(pool)
    cpu = cpu_seconds(pool)
    load = os.getloadavg()[0]
    tick_at = time.time()
    sent = export_due_accounts()
    runs = wait_runs(accounts, after, config["give_up_seconds"])
    done_at = time.time()
    cpu = {k: v - cpu[k] for k, v in cpu_seconds(pool).items()}
    sampler.stop()
    cpu["postgres_bench_db"] = sampler.backend_cpu_s()
    fleet = writes.read()
    delays = sorted(max(times) - tick_at for times in fleet.values())
    runs_done = len(runs)
    return {
        "sent": len(sent),
        "runs_done": runs_done,
        "all_done": runs_done == len(accounts),
        "outcomes": dict(Counter(r.outcome for r in runs)),
        "accounts_written": len(delays),
        "seconds": round(done_at - tick_at, 1),
        "delay_p50_s": ts.percentile(delays, 0.50) if delays else None,
        "delay_p99_s": ts.percentile(delays, 0.99) if delays else None,
        "delay_max_s": delays[-1] if delays else None,
        "logins_per_account": (sandbox.stats()["logins"] - logins) / len(accounts),
        "api_calls_per_account": sum(r.api_calls for r in runs) / len(accounts),
        "worker_cpu_ms_per_run": 1000 * cpu["workers"] / max(1, runs_done),
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "big_during_records_per_s": writes.big_during(
            tick_at, tick_at + (delays[-1] if delays else 0)
        ),
        "load_before": round(load, 2),
        **sampler.peaks,
    }


def wait_runs(accounts: list[int], after: int, give_up: float) -> list[Any]:
    """The finished runs of these accounts (contiguous ids) newer than `after`, polled once
    a second (a light query: the wait must not load PostgreSQL); at most `give_up` s."""
    from exports.models import ExportRun

    runs: list[Any] = []
    found = ExportRun.objects.filter(
        id__gt=after, account_id__gte=min(accounts), account_id__lte=max(accounts)
    ).exclude(outcome="")
    deadline = time.monotonic() + give_up
    while time.monotonic() < deadline:
        if found.count() >= len(accounts):
            break
        time.sleep(1.0)
    runs = list(found)
    return runs


class Sampler:
    """Every second: worker RSS (all processes), the bench database's PostgreSQL
    connections (all, active) and their backends' CPU time; the peaks."""

    def __init__(self, pool: Workers) -> None:
        import psycopg
        from django.conf import settings

        db = settings.DATABASES["default"]
        self.conn = psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname=db["NAME"],
            autocommit=True,
        )
        self.pool, self.name = pool, db["NAME"]
        self.peaks = {"worker_rss_mb": 0.0, "pg_connections": 0, "pg_active": 0}
        self.backends: dict[int, tuple[float, float]] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        self.sample(first=True)
        while not self.done.wait(1.0):
            self.sample()

    def sample(self, first: bool = False) -> None:
        rows = self.conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.name],
        ).fetchall()
        peaks = self.peaks
        peaks["worker_rss_mb"] = max(peaks["worker_rss_mb"], round(self.pool.total_rss_mb(), 1))
        peaks["pg_connections"] = max(peaks["pg_connections"], len(rows))
        peaks["pg_active"] = max(
            peaks["pg_active"], sum(1 for _, state in rows if state == "active")
        )
        for pid, _ in rows:
            try:
                used = process_cpu_ms(pid)
            except OSError:
                continue
            # A backend born during the tick counts from 0; one there before, from now.
            start = self.backends.get(pid, (used if first else 0.0, 0.0))[0]
            self.backends[pid] = (start, used)

    def backend_cpu_s(self) -> float:
        """CPU seconds of this database's backends over the samples (a backend that ended
        loses its last second)."""
        return sum(last - start for start, last in self.backends.values()) / 1000

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        self.conn.close()


def cpu_seconds(pool: Workers) -> dict[str, float]:
    """CPU seconds so far of the workers, the sandbox (this process's multiprocessing
    child), PostgreSQL (the postmaster, its children and the backends it reaped), Redis."""
    import multiprocessing

    import redis
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    status = Path(f"/proc/{backend}/status").read_text()
    postmaster = int(re.search(r"PPid:\s+(\d+)", status)[1])
    info = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).info("cpu")
    sandbox = [p.pid for p in multiprocessing.active_children()]
    return {
        "workers": pool.cpu_ms() / 1000,
        "sandbox": sum(tree_cpu_ms(pid) for pid in sandbox) / 1000,
        "postgres": tree_cpu_ms(postmaster) / 1000,
        "redis": info["used_cpu_sys"] + info["used_cpu_user"],
    }


class WriteLog:
    """The sandbox's write log read in order: the big account's write times (kept) and
    the other accounts' since the last read (returned)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox, self.since, self.big, self.first_tick = sandbox, 0, [], None

    def read(self, page: int = 50_000) -> dict[str, list[float]]:
        times: dict[str, list[float]] = defaultdict(list)
        while True:
            response = self.sandbox.http.get(
                f"{self.sandbox.url}/sandbox/writes",
                params={"since": self.since, "limit": page},
                timeout=300,
            )
            response.raise_for_status()
            body = response.json()
            for write in body["writes"]:
                slug = write["external_id"].rsplit("-", 1)[0]
                at = datetime.fromisoformat(write["at"]).timestamp()
                (self.big if slug == "fbig-00001" else times[slug]).append(at)
            self.since = body["last_seq"]
            if len(body["writes"]) < page:
                if self.first_tick is None:
                    self.first_tick = time.time()
                return times

    def big_during(self, start: float, end: float) -> float | None:
        """The big account's records/s between its first and last call answered in
        [start, end] (call boundaries: its 1,000-record calls take seconds each); None with
        fewer than two calls in the window."""
        return _rate([t for t in self.big if start <= t <= end])

    def big_alone(self) -> float | None:
        """The same before the first tick (its first call, with the login and describe,
        only starts the window)."""
        return _rate([t for t in self.big if self.first_tick and t <= self.first_tick])


def _rate(times: list[float]) -> float | None:
    first, last = (min(times), max(times)) if times else (0.0, 0.0)
    if last - first < 0.5:
        return None
    return sum(1 for t in times if t > first + 0.2) / (last - first)


def _say(row: dict[str, Any]) -> None:
    print(f"fleet: {row}", file=sys.stderr, flush=True)
