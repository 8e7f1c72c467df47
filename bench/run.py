"""`make bench`: crmsync against the naive loop and the sandbox's ceiling, in one run.

    .venv/bin/python -m bench.run [--quick] [--million] [--reps N]
                                  [--database-url postgres://postgres@127.0.0.1:5432/crmsync_bench]

1. Start the sandbox org in its own process; create and migrate a PostgreSQL database of
   the run's own; fill each bench account's outbox once (timed: the enqueue rate).
2. Probe simple-salesforce's Bulk API paths against the sandbox (it has none).
3. For each repetition, for each latency (sandbox fault `latency_ms`): naive, ceiling, then
   every crmsync configuration (records × workers, and 2 and 4 accounts on as many
   workers), each with fresh worker processes that export twice: "fresh" (their first
   run) and "warm" (the next); the crmsync order is reversed on odd repetitions so drift
   on a shared machine hits every configuration alike.
4. Pause mode's API cost (counts only), and with --million the 20k/200k/1M backlog series
   (both in bench/series.py).
5. Write bench/results/bench-<time>.json (every measurement, written as it goes) and .md
   (medians, ratios computed pair by pair within each repetition, and the targets).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shlex
import sys
import tempfile
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import deletes_report, report  # noqa: E402
from bench.services import BenchDatabase, Sandbox, analyze, bench_env  # noqa: E402
from salesforce.login_hosts import ENV_NAME  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"

FULL = {
    "reps": 5,
    "latencies": [0, 100],
    "sizes": [20_000, 200_000],
    "workers": [1, 2],
    "accounts": [2, 4],  # plus the 1-account, 1-worker configuration above
    "records_per_account": 20_000,
    "naive_records": {0: 1_000, 25: 100, 100: 30},  # 25 ms: `--latencies 25,100`
    "ceiling_seconds": {0: 3.0, 25: 4.0, 100: 5.0},
    "pause_records": 20_000,
    "backlog_sizes": [20_000, 200_000, 1_000_000],
    "backlog_reps": 5,
    "realistic_records": 20_000,
    "realistic_naive_records": 200,
    "storm_records": 20_000,
    "deletes_records": 20_000,
    "deletes_runs": [100, 200],
}
QUICK = {
    "reps": 2,
    "latencies": [0, 100],
    "sizes": [2_000, 10_000],
    "workers": [1, 2],
    "accounts": [2],
    "records_per_account": 2_000,
    "naive_records": {0: 200, 25: 20, 100: 10},
    "ceiling_seconds": {0: 1.0, 25: 1.2, 100: 1.5},
    "pause_records": 2_000,
    "backlog_sizes": [2_000, 10_000, 50_000],
    "backlog_reps": 1,
    "realistic_records": 2_000,
    "realistic_naive_records": 20,
    "storm_records": 2_000,
    "deletes_records": 2_000,
    "deletes_runs": [100, 200],
}


def main() -> None:
    args = parse_args()
    config = dict(QUICK if args.quick else FULL)
    if args.reps:
        config["reps"] = args.reps
    if args.latencies:
        config["latencies"] = _latencies(args.latencies, sorted(config["naive_records"]))
    queue = f"crmsync-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    var_dir = tempfile.mkdtemp(prefix="crmsync-bench-")
    env = bench_env(args.database_url, args.broker_url, queue, var_dir)
    os.environ.update(env)
    bench = Bench(config, env, out_dir / f"bench-{stamp}", args)
    try:
        bench.run()
    finally:
        bench.close()


def _latencies(value: str, known: list[int]) -> list[int]:
    """--latencies as a list; each must be one the run has sizes for."""
    chosen = [part.strip() for part in value.split(",")]
    if not all(part in {str(ms) for ms in known} for part in chosen):
        sys.exit(f"--latencies: give some of {','.join(map(str, known))} (got {value!r})")
    return [int(part) for part in chosen]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: fewer records and repetitions"
    )
    parser.add_argument("--million", action="store_true", help="add the 20k/200k/1M backlog series")
    parser.add_argument(
        "--series",
        default="compare,pause",
        help="comma-separated: compare (the contenders), pause (pause mode's API cost), "
        "backlog (what --million adds), realistic (an org with server time: adaptive vs "
        "fixed call sizes vs the naive loop), storm (chunk-failing triggers: isolation "
        "cost), tenants (thousands of small accounts: bench/tenants.py), deletes (deletions vs "
        "upserts at 100 ms: bench/deletes.py), runcost (the tenants series' per-run cost of a "
        "50-record run alone), fleet (one worker host, N small accounts per "
        "tick on a realistic org: bench/fleet.py); default compare,pause",
    )
    parser.add_argument("--fleet-sizes", default="", help="key=value,... (bench/fleet.py FULL)")
    parser.add_argument(
        "--tenant-sizes",
        default="",
        help="the tenants series' sizes, key=value,... (e.g. small_accounts=500,"
        "tick_accounts=10+1000); see bench/tenants.py FULL",
    )
    parser.add_argument("--reps", type=int, default=0, help="repetitions (default 5, --quick 2)")
    parser.add_argument(
        "--latencies",
        default="",
        help="comma-separated simulated latencies in ms for the compare series (default 0,100)",
    )
    parser.add_argument(
        "--database-url", default=DEFAULT_DATABASE_URL, help="created and dropped by the run"
    )
    parser.add_argument(
        "--broker-url", default=DEFAULT_BROKER_URL, help="Redis; the run uses a queue of its own"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop the database at the end"
    )
    return parser.parse_args()


class Bench:
    def __init__(
        self, config: dict[str, Any], env: dict[str, str], base: Path, args: argparse.Namespace
    ) -> None:
        self.config = config
        self.env = env
        self.base = base
        self.args = args
        self.series = set(args.series.split(",")) | ({"backlog"} if args.million else set())
        self.log_path = base.with_suffix(".workers.log")
        self.data_dir = Path(tempfile.mkdtemp(prefix="crmsync-bench-sandbox-"))
        # The sandbox process is forked before Django is set up in this one.
        self.sandbox = Sandbox(self.data_dir)
        self.sandbox.allow_logins(self.env)
        # Its accounts log in to this sandbox org: an allowed login host here and in workers.
        sandbox_host = self.sandbox.url.removeprefix("https://")
        env[ENV_NAME] = ",".join(filter(None, [env.get(ENV_NAME), sandbox_host]))
        os.environ[ENV_NAME] = env[ENV_NAME]
        self.database = BenchDatabase(env["DATABASE_URL"])
        self.report: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "make bench"
            + (f" BENCH_ARGS='{' '.join(sys.argv[1:])}'" if sys.argv[1:] else ""),
            "argv": shlex.join(sys.argv),
            "mode": "quick" if args.quick else "full",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_before": _load(),
            },
            "config": {k: v for k, v in config.items()},
            "measurements": [],
        }

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        self.setup()
        from bench import contenders

        self.report["bulk"] = contenders.bulk_probe(self.sandbox)
        if "compare" in self.series:
            for rep in range(self.config["reps"]):
                for latency in self.config["latencies"]:
                    self.one_round(rep, latency)
        if "pause" in self.series:
            self.report["pause_cost"] = self.guarded("pause cost", self.pause_cost)
            self.save()
        if "backlog" in self.series:
            self.report["backlog"] = self.guarded("backlog", self.backlog)
        self.real_org_series()
        if "deletes" in self.series:
            self.report["deletes"] = self.guarded("deletes", self.deletes)
            self.save()
        for name in ("tenants", "runcost"):  # runcost: the tenants series' per-run cost alone
            if name in self.series:
                from bench import tenants

                config = tenants.sizes(self.args.quick, self.args.tenant_sizes)
                result = self.report.setdefault("tenants", {"config": config})
                measure = tenants.run if name == "tenants" else tenants.run_cost
                args = (self.sandbox, self.env, self.log_path, config, result)
                self.guarded(name, functools.partial(measure, *args))
        if "fleet" in self.series:
            from bench import fleet

            config = fleet.sizes(self.args.quick, self.args.fleet_sizes)
            result = self.report["fleet"] = {}
            args = (self.sandbox, self.env, self.log_path, config, result, self.save)
            self.guarded("fleet", lambda: fleet.run(*args))
        self.finish()

    def real_org_series(self) -> None:
        """`realistic` and `storm` (bench/realistic.py)."""
        from bench import realistic

        config, args = self.config, (self.sandbox, self.env, self.log_path)
        if "realistic" in self.series:
            self.report["realistic"] = self.guarded(
                "realistic",
                lambda: realistic.realistic_org(
                    *args, config["realistic_records"], config["realistic_naive_records"]
                ),
            )
            self.save()
            self.report["realistic_heavy"] = self.guarded(
                "realistic (heavy automation)",
                lambda: realistic.realistic_org(
                    *args, config["realistic_records"] // 4, config["realistic_naive_records"], 12
                ),
            )
            self.save()
        if "storm" in self.series:
            self.report["storm"] = self.guarded(
                "storm", lambda: realistic.trigger_storm(*args, config["storm_records"])
            )
            self.save()

    def guarded(self, name: str, measure: Any) -> Any:
        """Run one series; a failure is reported (and the rest of the report still written)."""
        try:
            return measure()
        except Exception as exc:  # noqa: BLE001 - one lost series must not lose the run
            self.report.setdefault("failed_measurements", []).append(
                {"series": name, "error": str(exc)}
            )
            print(f"{name} FAILED: {exc!r}", file=sys.stderr)
            traceback.print_exc()
            return None

    def setup(self) -> None:
        """Create the database, then the accounts and their outboxes (timed)."""
        self.database.create(self.env)
        import django

        django.setup()
        from crmsync.celery import app

        app.conf.task_default_queue = self.env["BENCH_QUEUE"]
        from bench.contenders import make_account

        self.accounts = []
        if "compare" not in self.series:
            return
        biggest = max(self.config["sizes"])
        per_account = self.config["records_per_account"]
        enqueued, seconds = 0, 0.0
        for number, records in enumerate(
            [max(biggest, per_account), *[per_account] * (max(self.config["accounts"]) - 1)],
            start=1,
        ):
            account, took = make_account(f"bench-{number}", self.sandbox, records)
            self.accounts.append(account)
            enqueued, seconds = enqueued + records, seconds + took
        self.report["enqueue"] = {
            "records": enqueued,
            "seconds": round(seconds, 2),
            "records_per_s": enqueued / seconds,
        }
        analyze()

    def one_round(self, rep: int, latency: int) -> None:
        """naive, ceiling, then the crmsync configurations (reversed on odd repetitions)."""
        from bench import contenders

        self.sandbox.set_latency(latency)
        self.record(
            rep,
            latency,
            "naive",
            contenders.naive(self.sandbox, self.config["naive_records"][latency]),
        )
        for name, ceiling in (
            ("ceiling", contenders.ceiling),
            ("ceiling-composite", contenders.ceiling_composite),
        ):
            seconds = self.config["ceiling_seconds"][latency]
            self.record(rep, latency, name, ceiling(self.sandbox, seconds))
        configs = [
            (size, 1, workers)
            for size in self.config["sizes"]
            for workers in self.config["workers"]
        ]
        configs += [(self.config["records_per_account"], n, n) for n in self.config["accounts"]]
        if rep % 2:
            configs.reverse()
        # crmsync as configured (CRMSYNC_BATCHES_PER_CALL, default 5 batches in one Composite
        # call), and once with one Collections batch per call, for comparison.
        configs = [("crmsync", *config) for config in configs]
        configs.append(("crmsync-collections", self.config["records_per_account"], 1, 1))
        for contender, records, accounts, workers in configs:
            setting = {"records_per_account": records, "accounts": accounts, "workers": workers}
            env = self.env
            if contender == "crmsync-collections":
                env = {**env, "CRMSYNC_BATCHES_PER_CALL": "1"}
            try:
                results = contenders.crmsync(
                    self.accounts[:accounts], records, workers, env, self.log_path
                )
            except Exception as exc:  # noqa: BLE001 - one lost measurement must not end the run
                self.failed(rep, latency, contender, setting, exc)
                continue
            for result in results:
                start = result.pop("start")
                self.record(rep, latency, contender, result, **setting, start=start)

    def failed(
        self, rep: int, latency: int, contender: str, setting: dict[str, Any], exc: Exception
    ) -> None:
        """Keep the failure in the report (left out of the summary) and go on."""
        entry = {"rep": rep, "latency_ms": latency, "contender": contender, **setting}
        self.report.setdefault("failed_measurements", []).append({**entry, "error": str(exc)})
        print(f"rep {rep} {latency:>3} ms {contender} {setting} FAILED: {exc}", file=sys.stderr)
        self.save()

    def record(
        self, rep: int, latency: int, contender: str, result: dict[str, Any], **config: Any
    ) -> None:
        entry = {"rep": rep, "latency_ms": latency, "contender": contender, **config, **result}
        self.report["measurements"].append(entry)
        shown = ", ".join(f"{k}={v}" for k, v in config.items())
        print(
            f"rep {rep} {latency:>3} ms {contender:<8} {shown:<60} {result['records_per_s']:>10,.0f} records/s"
            f"  {result['api_calls_per_1000']:.2f} calls/1000",
            file=sys.stderr,
            flush=True,
        )
        self.save()

    # -- pause mode and the backlog (bench/series.py) -------------------------------------------

    def pause_cost(self) -> dict[str, Any]:
        """API calls of a backlog with five rejected records, pause on and pause off."""
        from bench import series

        return series.pause_cost(
            self.sandbox, self.env, self.log_path, self.config["pause_records"]
        )

    def backlog(self) -> dict[str, Any]:
        """The backlog series; the report is written after each of its exports."""
        from bench import series

        def progress(result: dict[str, Any]) -> None:
            self.report["backlog"] = result
            self.save()

        return series.backlog(
            self.sandbox,
            self.env,
            self.log_path,
            self.config["backlog_sizes"],
            self.config["backlog_reps"],
            progress,
        )

    def deletes(self) -> dict[str, Any]:
        """The deletes series (bench/deletes.py); the report is written after each repetition."""
        from bench import deletes

        def progress(result: dict[str, Any]) -> None:
            self.report["deletes"] = result
            self.save()

        config = {
            "records": self.config["deletes_records"],
            "runs": self.config["deletes_runs"],
            "reps": self.config["reps"],
        }
        return deletes.run(self.sandbox, self.env, self.log_path, config, progress)

    # -- output --------------------------------------------------------------------------------------

    def finish(self) -> None:
        self.report["machine"]["load_after"] = _load()
        self.report["summary"] = report.summarize(self.report["measurements"])
        self.report["targets"] = report.targets(
            self.report["summary"], self.report.get("backlog"), self.report.get("pause_cost")
        ) + deletes_report.targets(self.report.get("deletes"))
        self.save()
        table = report.markdown(self.report)
        self.base.with_suffix(".md").write_text(table)
        print(table)
        print(
            f"written: {self.base.with_suffix('.json')} and {self.base.with_suffix('.md')}",
            file=sys.stderr,
        )

    def save(self) -> None:
        self.report["machine"].setdefault("load_after", None)
        self.base.with_suffix(".json").write_text(json.dumps(self.report, indent=2, default=str))

    def close(self) -> None:
        self.sandbox.stop()
        if not self.args.keep_database:
            self.database.drop()
        try:
            import redis

            client = redis.Redis.from_url(self.env["CELERY_BROKER_URL"])
            for key in client.scan_iter(f"*{self.env['BENCH_QUEUE']}*"):  # queue, bindings, stats
                client.delete(key)
        except Exception as exc:  # noqa: BLE001 - cleanup only; say so and go on
            print(f"could not delete the bench queue from Redis: {exc}", file=sys.stderr)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
