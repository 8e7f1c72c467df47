"""Backfill: how fast `crm_backfill` enqueues a large table of a declared model, and whether
its memory stays flat.

    .venv/bin/python -m bench.backfill [--rows 1000000] [--batch 2000]
                                       [--database-url postgres://postgres@127.0.0.1:5432/crmsync_bench_backfill]

1. Create and migrate a PostgreSQL database of the run's own (development settings: the
   example app, whose PersonExport maps people with a Ref to their company).
2. One account, one tenant, 1,000 companies and `--rows` people (inserted with SQL).
3. `crm_backfill --account bench --export PersonExport` in a process of its own: rows/s
   (its own clock) over the whole run and per tenth of it, and its resident memory
   sampled every 0.5 s (the first tenth's and the last tenth's peaks: flat or not), and
   the CPU time it and its PostgreSQL backends used a row (/proc: the server is local).
4. Print a table and write bench/results/backfill-<time>.json. Target: >= 20,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.services import BenchDatabase, bench_env  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_bench_backfill"
TARGET = 20_000
BROKER_URL = "redis://127.0.0.1:6379/14"  # its shared cache only: the backfill sends no task


def main() -> None:
    args = parse_args()
    env = bench_env(
        args.database_url, BROKER_URL, f"bench-backfill-{uuid.uuid4().hex[:8]}", tempfile.mkdtemp()
    )
    env["CRMSYNC_DEV"] = "1"  # the example app and its mapping
    os.environ.update(env)
    database = BenchDatabase(args.database_url)
    try:
        database.create(env)
        import django

        django.setup()
        made = fill(args.rows)
        result = run_backfill(env, args.batch)
        result |= {"rows": args.rows, "fill_seconds": made, "batch": args.batch}
        write(result)
    finally:
        database.drop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    return parser.parse_args()


def fill(rows: int) -> float:
    """The account, its tenant, 1,000 companies and `rows` people; seconds taken."""
    from django.db import connection

    from accounts.models import Account
    from crmsync.example.models import Company, Person, Tenant

    began = time.perf_counter()
    account = Account.objects.create(slug="bench", name="bench")
    tenant = Tenant.objects.create(name="bench", crm_account=account)
    Company.objects.bulk_create([Company(tenant=tenant, name=f"Company {i}") for i in range(1000)])
    first_company = Company.objects.order_by("id").values_list("id", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Person._meta.db_table} (tenant_id, uuid, company_id, first_name,"  # noqa: S608
            " last_name, email, kind, is_customer, notes)"
            " SELECT %s, md5(g::text || 'p')::uuid, %s + g %% 1000, 'First', 'Person ' || g,"
            " 'p' || g || '@example.com', 'Lead', true, '' FROM generate_series(1, %s) g",
            [tenant.id, first_company, rows],
        )
        cursor.execute(f"ANALYZE {Person._meta.db_table}")
    return time.perf_counter() - began


def run_backfill(env: dict[str, str], batch: int) -> dict[str, Any]:
    """crm_backfill in its own process; its stdout, rate and memory samples."""
    command = [
        sys.executable,
        "manage.py",
        "crm_backfill",
        "--account",
        "bench",
        "--export",
        "PersonExport",
        "--batch",
        str(batch),
        "--no-progress",
    ]
    began = time.perf_counter()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    progress: list[tuple[float, int]] = []  # (seconds, rows read) as its chunks commit
    backends: dict[int, float] = {}  # PostgreSQL backend pid -> its CPU seconds last seen
    while child.poll() is None:
        samples.append((time.perf_counter() - began, _rss_kb(child.pid)))
        progress.append((samples[-1][0], _rows_read()))
        backends |= _backend_cpu()
        try:  # the next sample in 0.5 s, or the end as soon as it comes
            child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    seconds = time.perf_counter() - began
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    command_cpu = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    out = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"crm_backfill failed ({child.returncode}): {out}")
    tenth = max(1, len(samples) // 10)
    rss = [kb for _, kb in samples if kb]
    return {
        "output": out.strip(),
        "seconds": seconds,
        "rss_first_tenth_mb": max(rss[:tenth] or [0]) / 1024,
        "rss_last_tenth_mb": max(rss[-tenth:] or [0]) / 1024,
        "rss_peak_mb": max(rss or [0]) / 1024,
        "rows_per_s_by_tenth": _rates_by_tenth(progress),
        "command_cpu_seconds": command_cpu,
        "postgresql_cpu_seconds": sum(backends.values()),
    }


def _rows_read() -> int:
    from exports.captured import BackfillProgress

    return max(BackfillProgress.objects.values_list("rows", flat=True), default=0)


def _backend_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend of the bench's database but this process's
    (from /proc: the server runs on this machine in the bench)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def _rates_by_tenth(progress: list[tuple[float, int]]) -> list[float]:
    """Rows/s over each tenth of the rows (from the committed progress, sampled)."""
    total = max((rows for _, rows in progress), default=0)
    rates, start = [], (0.0, 0)
    for tenth in range(1, 11):
        reached = next(((t, r) for t, r in progress if r >= total * tenth / 10), None)
        if reached is None or total == 0:
            break
        seconds = reached[0] - start[0]
        rates.append((reached[1] - start[1]) / seconds if seconds > 0 else 0.0)
        start = reached
    return rates


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def write(result: dict[str, Any]) -> None:
    rate = result["rows"] / result["seconds"]
    verdict = "PASS" if rate >= TARGET else "FAIL"
    print(f"\nbackfill of {result['rows']:,} people (PersonExport, batch {result['batch']}):")
    print(f"  {rate:,.0f} rows/s over {result['seconds']:.1f} s (target >= {TARGET:,}: {verdict})")
    print(
        f"  RSS: first tenth {result['rss_first_tenth_mb']:.0f} MB, last tenth "
        f"{result['rss_last_tenth_mb']:.0f} MB, peak {result['rss_peak_mb']:.0f} MB"
    )
    rows = result["rows"]
    print(
        f"  CPU a row: crm_backfill {result['command_cpu_seconds'] / rows * 1e6:.0f} µs,"
        f" its PostgreSQL backends {result['postgresql_cpu_seconds'] / rows * 1e6:.0f} µs"
        " (sampled every 0.5 s: the last half second's left out)"
    )
    tenths = ", ".join(f"{rate:,.0f}" for rate in result["rows_per_s_by_tenth"])
    print(f"  rows/s by tenth of the rows (committed progress, sampled every 0.5 s): {tenths}")
    print(f"  {result['output']}")
    out = ROOT / "bench" / "results" / f"backfill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result | {"rows_per_s": rate, "verdict": verdict}, indent=2))


if __name__ == "__main__":
    main()
