"""What a benchmark run stands on: the sandbox org, a PostgreSQL database, worker processes.

- The sandbox org runs in a process of its own (as `manage.py sandbox_org` does), started
  by `bench/sandbox_ceiling.py`'s `start_process`, with that file's rules for Contact.
- The database is created for the run and dropped after it (`BenchDatabase`).
- Workers are `bench/worker.py` processes (`celery worker -P solo` with counters), started
  fresh for each configuration so their peak RSS (VmHWM) belongs to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from sandbox import control

ROOT = Path(__file__).resolve().parent.parent


# --- the sandbox org ---------------------------------------------------------------------


class Sandbox:
    """The sandbox org in its own process; faults changed over its HTTP control API."""

    def __init__(self, data_dir: Path) -> None:
        from bench.sandbox_ceiling import start_process

        self.data_dir = data_dir
        self.url, self._stop = start_process(str(data_dir))
        self.ca_path = data_dir / "ca.pem"
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would replace `verify`
        self.http.verify = str(self.ca_path)
        self.http.headers[control.HEADER] = control.read_token(data_dir)  # for /sandbox/*
        # Never the bottleneck of a benchmark: no daily API limit worth the name.
        self.set_faults(api_daily_limit=10**12)

    def crm_settings(self, **overrides: Any) -> dict[str, Any]:
        """CRMSettings values of a bench account on this sandbox: exporting, no record budget
        or API limit worth the name (each measures the export, not its limits)."""
        return {
            "export_enabled": True,
            "max_records_per_run": 10**9,
            "daily_api_limit": 10**9,
            "login_url": self.url,
            "ca_bundle": str(self.ca_path),
            "client_id": "sandbox",
            "client_secret": "sandbox",
            **overrides,
        }

    def allow_logins(self, env: dict[str, str]) -> None:
        """Let crmsync log in to this sandbox (logins go only to Salesforce's hosts and those
        in CRMSYNC_EXTRA_LOGIN_HOSTS): in `env` (the workers') and in this process."""
        host = urlsplit(self.url).netloc
        for target in (env, os.environ):
            listed = [h for h in target.get("CRMSYNC_EXTRA_LOGIN_HOSTS", "").split(",") if h]
            target["CRMSYNC_EXTRA_LOGIN_HOSTS"] = ",".join([*listed, host])

    def set_faults(self, **faults: int) -> None:
        response = self.http.patch(f"{self.url}/sandbox/faults", json=faults, timeout=30)
        response.raise_for_status()

    def set_latency(self, latency_ms: int) -> None:
        self.set_faults(latency_ms=latency_ms)

    def set_rules(self, rules: dict[str, Any], **faults: Any) -> None:
        """Replace the rules (and reset the faults to `faults`: by default latency 0, no API
        limit to speak of)."""
        body = {**rules, "faults": {"api_daily_limit": 10**12, **faults}}
        self.http.put(f"{self.url}/sandbox/rules", json=body, timeout=30).raise_for_status()

    def stats(self) -> dict[str, int]:
        """Requests in flight, their peak, logins (`GET /sandbox/stats`)."""
        response = self.http.get(f"{self.url}/sandbox/stats", timeout=30)
        response.raise_for_status()
        return response.json()

    def clear(self) -> None:
        """Empty the org: records, the write log, API usage and stats."""
        self.http.delete(f"{self.url}/sandbox/data", timeout=120).raise_for_status()

    def stop(self) -> None:
        self.http.close()
        self._stop()


# --- the database ------------------------------------------------------------------------


class BenchDatabase:
    """A PostgreSQL database of the benchmark's own: created, migrated, dropped."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.name = parts.path.lstrip("/")
        self._admin_url = urlunsplit(parts._replace(path="/postgres"))

    def create(self, env: dict[str, str]) -> None:
        """Drop a leftover database of the same name, create it, run the migrations."""
        self.drop()
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
        )

    def drop(self) -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def analyze() -> None:
    """ANALYZE, as autovacuum does after a bulk insert: planner statistics for the outbox."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- worker processes ----------------------------------------------------------------------


class Workers:
    """n `bench/worker.py` processes on the bench queue; started, measured, stopped."""

    def __init__(self, count: int, env: dict[str, str], log_path: Path) -> None:
        self.count = count
        self._log = log_path.open("ab")
        self.processes = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "worker.py")],
                cwd=ROOT,
                env=env,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            for _ in range(count)
        ]

    def wait_ready(self, app: Any, timeout: float = 60.0) -> None:
        """Poll the workers with Celery's remote-control ping until all of them answer."""
        pids = {str(p.pid) for p in self.processes}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered = {
                name.split("@")[0].removeprefix("bench")
                for reply in app.control.ping(timeout=0.5)
                for name in reply
            }
            if pids <= answered:
                return
            dead = [p.pid for p in self.processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"bench worker(s) {dead} exited; see {self._log.name}")
        raise RuntimeError(f"bench workers did not answer a ping within {timeout:.0f}s")

    def peak_rss_mb(self) -> float:
        """The largest peak resident set size (VmHWM) among the worker processes, in MB."""
        return max(_vm_hwm_kb(p.pid) for p in self.processes) / 1024

    def cpu_ms(self) -> float:
        """CPU time (user + system, all threads) the worker processes used so far, in ms:
        each worker and its pool's child processes (prefork), living or reaped."""
        return sum(tree_cpu_ms(p.pid) for p in self.processes)

    def total_rss_mb(self) -> float:
        """Resident set size (VmRSS) of every worker process now, children included, in MB."""
        pids = [pid for p in self.processes for pid in process_tree(p.pid)]
        return sum(_status_kb(pid, "VmRSS:") for pid in pids) / 1024

    def rss_mb(self) -> float:
        """The largest resident set size (VmRSS) among the worker processes now, in MB."""
        return max(_status_kb(p.pid, "VmRSS:") for p in self.processes) / 1024

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then wait; a worker that does not stop is killed."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()


def _vm_hwm_kb(pid: int) -> int:
    return _status_kb(pid, "VmHWM:")


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def process_tree(pid: int) -> list[int]:
    """This process and its descendants (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_ms(pid: int) -> float:
    """CPU ms of a process, its living descendants and its reaped children (cutime, cstime)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += process_cpu_ms(member, reaped=member == pid)
        except OSError:  # a child that just ended: its time is in its parent's cutime
            continue
    return total


def process_cpu_ms(pid: int, reaped: bool = False) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat, in ms (with
    `reaped`, plus the children it waited for)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; field 3 is fields[0]
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    if reaped:  # with its waited-for children's (16, 17)
        ticks += int(fields[13]) + int(fields[14])
    return 1000 * ticks / os.sysconf("SC_CLK_TCK")


def bench_env(database_url: str, broker_url: str, queue: str, var_dir: str) -> dict[str, str]:
    """The environment of the benchmark's own processes (driver and workers); their shared
    cache (tokens, describes, per-org slots) is the broker's Redis database, emptied of an
    earlier run's entries first (a token it kept would save this run its logins)."""
    clear_shared_cache(broker_url)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CRMSYNC_CACHE_URL=broker_url,
        BENCH_QUEUE=queue,
        BENCH_STATS_KEY=f"{queue}:stats",
        CRMSYNC_VAR_DIR=var_dir,
        DJANGO_SETTINGS_MODULE="crmsync.settings",
    )
    return env


def clear_shared_cache(redis_url: str) -> None:
    """Delete crmsync's cache entries (KEY_PREFIX `crmsync`) from this Redis database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("crmsync:*", count=1000):
        client.delete(key)


def sized(defaults: dict[str, Any], overrides: str, flag: str, list_key: str) -> dict[str, Any]:
    """`defaults` with `key=value,...` overrides (`list_key`: values joined by '+'); a
    number keeps an integer default an integer when it is whole."""
    config = dict(defaults)
    for part in filter(None, (p.strip() for p in overrides.split(","))):
        key, _, value = part.partition("=")
        try:
            if key not in config or not value:
                raise ValueError
            if key == list_key:
                config[key] = [int(v) for v in value.split("+")]
            else:
                number = float(value)
                whole = isinstance(config[key], int) and number.is_integer()
                config[key] = int(number) if whole else number
        except ValueError:
            raise SystemExit(
                f"{flag}: unknown, empty or not a number {part!r}; keys: {', '.join(config)}"
            ) from None
    return config
