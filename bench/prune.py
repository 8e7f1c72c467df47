"""Pruning the outbox while the same account exports: how fast, and what it costs the export.

    .venv/bin/python -m bench.prune [--rows 1000000] [--export-records N] [--chunk N]
                                    [--database-url postgres://postgres@127.0.0.1:5432/crmsync_bench_prune]

1. Start the sandbox org (its own process, 0 ms latency: the export is then as hungry for
   the database as it gets); create and migrate a PostgreSQL database of the run's own.
2. One account: `--rows` exported records 60 days old (prunable), then `--export-records`
   new ones after its cursor (default: twice as many, so the export outlasts the prune).
3. Without the prune: one worker process exports the new records; records/s from the
   cursor's moves (sampled every 50 ms) while the run is under way.
4. With the prune: the cursor is put back before the new records; `crm_prune` starts in a
   process of its own and, once it is about to delete, the same export is sent again.
   Prune rows/s (its own clock) and the export's records/s from the cursor samples taken
   while the prune ran.
5. Print a table and write bench/results/prune-<time>.json. The issue's target: the export
   keeps >= 80 % of its records/s while the prune runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.services import BenchDatabase, Sandbox, bench_env  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_bench_prune"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"
TARGET = 0.80


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(prune_child()))
        return
    queue = f"bench-prune-{uuid.uuid4().hex[:8]}"
    var_dir = tempfile.mkdtemp(prefix="crmsync-bench-prune-")
    env = bench_env(args.database_url, args.broker_url, queue, var_dir)
    env["CRMSYNC_PRUNE_CHUNK"] = str(args.chunk)
    env["CRMSYNC_PRUNE_REST"] = str(args.rest)
    os.environ.update(env)
    sandbox = Sandbox(Path(tempfile.mkdtemp(prefix="crmsync-bench-sandbox-")))
    sandbox.allow_logins(env)
    database = BenchDatabase(args.database_url)
    try:
        database.create(env)
        import django

        django.setup()
        from crmsync.celery import app

        app.conf.task_default_queue = queue
        result = measure(args, sandbox, env, Path(var_dir) / "workers.log")
    finally:
        sandbox.stop()
        database.drop()
    write(result)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="exported rows to prune")
    parser.add_argument("--export-records", type=int, help="records exported (default 2 x rows)")
    parser.add_argument("--chunk", type=int, default=2000, help="CRMSYNC_PRUNE_CHUNK")
    parser.add_argument("--rest", type=float, default=1.0, help="CRMSYNC_PRUNE_REST")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(args: argparse.Namespace, sandbox: Sandbox, env: dict[str, str], log: Path) -> dict:
    from bench.contenders import export, rewind

    export_records = args.export_records or 2 * args.rows
    account, filled_s = fill(sandbox, args.rows, export_records)
    start_id = rewound(account, export_records, rewind)
    with CursorSampler(account.id) as alone:
        export([account], 1, env, log, prepare=lambda: rewind(account, export_records))
    prune: dict[str, Any] = {}

    def rewind_and_start_prune() -> None:
        """The prune first (its process set up and about to delete), then the export."""
        rewind(account, export_records)
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.prune", "--child"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "pruning"
        prune["process"] = child

    with CursorSampler(account.id) as during:
        export([account], 1, env, log, prepare=rewind_and_start_prune)
    out, _ = prune["process"].communicate(timeout=7200)
    pruned = json.loads(out.strip().splitlines()[-1])
    end_id = start_id + export_records
    alone_rate = alone.rate(start_id, end_id)
    during_rate = during.rate(start_id, end_id, pruned["started"], pruned["finished"])
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.prune", *sys.argv[1:]]),
        "rows": args.rows,
        "export_records": export_records,
        "chunk": args.chunk,
        "rest": args.rest,
        "fill_seconds": round(filled_s, 1),
        "prune": {
            "records": pruned["records"],
            "seconds": round(pruned["seconds"], 2),
            "rows_per_s": round(pruned["records"] / pruned["seconds"]),
        },
        "export_alone_records_per_s": round(alone_rate),
        "export_during_prune_records_per_s": round(during_rate),
        "export_kept": round(during_rate / alone_rate, 3),
        "prune_time_covered_by_export": round(
            during.covered(pruned["started"], pruned["finished"], end_id), 3
        ),
        "target_met": during_rate / alone_rate >= TARGET,
        "load_after": os.getloadavg()[0],
    }


def rewound(account: Any, records: int, rewind: Any) -> int:
    """Where the cursor stands before each export: just before its `records` records."""
    from exports.models import ExportCursor

    rewind(account, records)
    return ExportCursor.objects.get(account=account).last_exported_id


class CursorSampler:
    """(time, cursor position) every 50 ms while the export runs, from a thread: records are
    consecutive ids, so cursor moves are records exported."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CursorSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        from django.db import connection

        from exports.models import ExportCursor

        try:
            while not self._stop.is_set():
                position = ExportCursor.objects.filter(account_id=self.account_id).values_list(
                    "last_exported_id", flat=True
                )[0]
                self.samples.append((time.time(), position))
                time.sleep(0.05)
        finally:
            connection.close()

    def rate(self, start: int, end: int, t0: float = 0.0, t1: float = float("inf")) -> float:
        """Records/s between the first and last samples taken while the export was under
        way (the cursor past `start`, short of `end`) and within [t0, t1]."""
        moving = [(t, p) for t, p in self.samples if start < p < end and t0 <= t <= t1]
        if len(moving) < 2:
            raise RuntimeError("too few samples of the export in the window; use more records")
        (ta, pa), (tb, pb) = moving[0], moving[-1]
        return (pb - pa) / (tb - ta)

    def covered(self, t0: float, t1: float, end: int) -> float:
        """The share of [t0, t1] (the prune) during which the export was still under way."""
        began = next(i for i, (_, p) in enumerate(self.samples) if p < end)  # rewound
        done = next((t for t, p in self.samples[began:] if p >= end), self.samples[-1][0])
        return max(min(done, t1) - t0, 0.0) / (t1 - t0)


def fill(sandbox: Sandbox, rows: int, new: int) -> tuple[Any, float]:
    """The account, its `rows` old exported records and `new` records after its cursor."""
    from django.db import connection

    from accounts.models import Account, CRMSettings
    from exports.models import ExportCursor, ExportRecord

    began = time.perf_counter()
    account = Account.objects.create(slug="prune", name="prune")
    CRMSettings.objects.update_or_create(account=account, defaults=sandbox.crm_settings())
    table = ExportRecord._meta.db_table
    insert = (
        f"INSERT INTO {table} (account_id, sobject, external_id_field, external_id, fields, "  # noqa: S608
        "created_at) SELECT %s, 'Contact', 'ExtId__c', %s || g, "
        "jsonb_build_object('LastName', 'Person ' || g, 'Type__c', 'Lead'), "
        "now() - make_interval(days => %s) FROM generate_series(1, %s) g"
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, [account.id, "old-", 60, rows])
        cursor.execute(insert, [account.id, "new-", 0, new])
        cursor.execute(f"ANALYZE {table}")
    last_old = ExportRecord.objects.filter(account=account).order_by("id")[rows - 1 : rows]
    ExportCursor.objects.create(account=account, last_exported_id=last_old.get().id)
    return account, time.perf_counter() - began


def prune_child() -> dict[str, Any]:
    """In its own process: crm_prune, timed by its own clock (Django set up first)."""
    import django

    django.setup()
    from exports.retention import prune

    print("pruning", flush=True)  # the driver sends the export now
    started = time.time()
    summary = prune()
    finished = time.time()
    return {
        "records": summary.records,
        "errors": summary.errors,
        "runs": summary.runs,
        "started": started,
        "finished": finished,
        "seconds": finished - started,
    }


def write(result: dict[str, Any]) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"prune-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"prune: {result['prune']['records']:,} rows in {result['prune']['seconds']} s = "
        f"{result['prune']['rows_per_s']:,} rows/s (chunks of {result['chunk']}, rest "
        f"{result['rest']})\n"
        f"export alone: {result['export_alone_records_per_s']:,} records/s; while pruning: "
        f"{result['export_during_prune_records_per_s']:,} records/s = "
        f"{result['export_kept']:.0%} (target >= {TARGET:.0%}: "
        f"{'met' if result['target_met'] else 'NOT met'}); the export ran during "
        f"{result['prune_time_covered_by_export']:.0%} of the prune\n{path}"
    )


if __name__ == "__main__":
    main()
