"""The chaos rig: real worker and beat processes on a private Redis and the test database.

Timings are scaled to seconds and kept in one consistent order:
request timeout (3 s) < soft time limit (5 s) < hard time limit (7 s) < visibility
timeout (8 s) < run lease (12 s); the longest retry countdown (3 s) < visibility timeout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection

from accounts.models import Account
from exports.outbox import enqueue_many
from tests.chaos.checks import RULES, check_export
from tests.chaos.processes import CeleryProcess, PostgresServer, RedisServer, Supervisor
from tests.conftest import wait_for
from tests.factories import AccountFactory, CRMSettingsFactory

CHAOS_ENV = {
    "CRMSYNC_VISIBILITY_TIMEOUT_S": "8",
    "CRMSYNC_RUN_LEASE_S": "12",
    # A link's claim to send: the request timeout (3 s) + 1 + 2 s, shorter than the
    # visibility timeout, so a link redelivered after its worker was killed takes over.
    "CRMSYNC_CLAIM_MARGIN_S": "2",
    "CRMSYNC_UNACKED_RESTORE_INTERVAL_S": "1",
    "CRMSYNC_RETRY_BACKOFF_S": "1",
    "CRMSYNC_RETRY_BACKOFF_MAX_S": "3",
    "CRMSYNC_MAX_RETRIES": "12",
    "CELERY_TASK_SOFT_TIME_LIMIT": "5",
    "CELERY_TASK_TIME_LIMIT": "7",
    "CRMSYNC_LOG_LEVEL": "INFO",
}
REQUEST_TIMEOUT_S = 3.0
QUEUE = "celery"


@pytest.fixture(scope="session")
def chaos_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("chaos-redis")).start()
    yield server
    server.stop()


class ChaosRig:
    """Starts and ends the scenario's processes and injects the faults."""

    def __init__(self, redis: RedisServer, sandbox: Any, log_dir: Path, database: str) -> None:
        self.redis = redis
        self.sandbox = sandbox
        self.log_dir = log_dir
        db = settings.DATABASES["default"]
        credentials = quote(db["USER"]) + (
            f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
        )
        self.env = {
            **os.environ,
            **CHAOS_ENV,
            "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{database}",
            "CELERY_BROKER_URL": redis.url,
            "CRMSYNC_VAR_DIR": str(log_dir / "var"),
        }
        self.processes: list[CeleryProcess] = []
        self.supervisor = Supervisor(self.processes).start()

    def use(self, **env: str) -> None:
        """Change settings (environment variables) for the processes started after this."""
        self.env.update(env)

    def worker(self, loglevel: str = "INFO", **env: str) -> CeleryProcess:
        """Start a prefork worker (concurrency 1) and wait until it consumes."""
        name = f"worker{len(self.processes) + 1}"
        args = [
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--loglevel",
            loglevel,
            "-n",
            f"{name}@chaos",
            "-Q",
            QUEUE,
            "--without-mingle",
            "--without-gossip",
        ]
        process = CeleryProcess(name, args, {**self.env, **env}, self.log_dir).start()
        self.processes.append(process)
        process.wait_for_log(" ready.")
        return process

    def beat(self) -> CeleryProcess:
        """Start a beat process on the DatabaseScheduler (CRMExport as set in the database)."""
        name = f"beat{len(self.processes) + 1}"
        args = [
            "beat",
            "--loglevel",
            "INFO",
            "--max-interval",
            "1",
            "-S",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile",
            str(self.log_dir / f"{name}.pid"),
            "-s",
            str(self.log_dir / f"{name}-schedule"),
        ]
        process = CeleryProcess(name, args, self.env, self.log_dir).start()
        self.processes.append(process)
        process.wait_for_log("beat: Starting")
        return process

    def schedule_export(self, every_s: int) -> None:
        """Beat `CRMExport` every `every_s` seconds (the daily re-export off), as an admin
        would edit it; the DatabaseScheduler notices through PeriodicTasks."""
        from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

        every, _ = IntervalSchedule.objects.get_or_create(
            every=every_s, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.update_or_create(
            name="CRMExport",
            defaults={
                "task": "exports.tasks.export_due_accounts",
                "interval": every,
                "crontab": None,
                "enabled": True,
            },
        )
        PeriodicTask.objects.filter(name="CRMExport_ExportError").update(enabled=False)
        PeriodicTasks.update_changed()

    def send(self, task: str, *args: Any, **kwargs: Any) -> None:
        """Send a task as Flower or beat would: by name, JSON arguments, on the chaos broker.

        With no time limits in the message, so the worker's own apply (CHAOS_ENV): Celery
        stamps the sender's CELERY_TASK_(SOFT_)TIME_LIMIT into every message of a task its
        app has loaded, and a worker obeys a message's limits over its own. This process has
        production's (600 / 660 s) and loads the tasks as soon as a test runs one in it
        (task.apply): a task sent after that was never cut by the rig's soft limit."""
        from crmsync.celery import app

        with app.connection_for_write(self.redis.url) as conn:
            app.send_task(
                task,
                args=list(args),
                kwargs=kwargs,
                connection=conn,
                queue=QUEUE,
                time_limit=None,  # (an explicit None: none of this process's)
                soft_time_limit=None,
            )

    def restart_redis(self, down_s: float) -> None:
        """Stop Redis (everything queued is lost), keep it down `down_s`, start it again."""
        try:
            self.redis.stop()
            poll_for(down_s)
        finally:
            self.redis.start()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} (restarted {p.crashes}x; full log {p.log_path})\n{p.tail(25)}"
            for p in self.processes
        )

    @property
    def crashes(self) -> int:
        """How often the supervisor restarted a process that exited on its own."""
        return sum(process.crashes for process in self.processes)

    def assert_export_clean(
        self,
        scenario: str,
        account: Account,
        rejected_tokens: set[str],
        pause_at_token: str | None = None,
    ) -> None:
        """The scenario's closing check (`checks.check_export`) over the sandbox's write log,
        with the process restarts seen; the report is saved, then asserted clean."""
        writes = self.sandbox.writes()
        report = check_export(scenario, writes, account, rejected_tokens, pause_at_token)
        report.process_restarts = self.crashes
        report.assert_clean()

    def stop_all(self) -> None:
        self.supervisor.stop()
        for process in self.processes:
            process.kill_hard()
        self.redis.flush()


def poll_for(seconds: float) -> None:
    """Let `seconds` pass (a fault's duration, not synchronisation)."""
    deadline = time.monotonic() + seconds
    wait_for(lambda: time.monotonic() >= deadline, seconds + 5, what="time to pass")


@pytest.fixture
def chaos_database(transactional_db: None) -> None:
    """The database the scenario and its processes share: the test database. A scenario
    that restarts PostgreSQL overrides this fixture with a server of its own
    (`default_database_on`)."""


@contextmanager
def default_database_on(server: PostgresServer) -> Iterator[None]:
    """Point Django's default database at `server` (migrated) for this process and the
    processes the rig starts after this; back to the test database on the way out."""
    db = connection.settings_dict  # the same dict as settings.DATABASES["default"]
    saved = {key: db[key] for key in ("HOST", "PORT", "NAME", "USER", "PASSWORD")}
    connection.close()
    db.update(HOST="127.0.0.1", PORT=str(server.port), NAME=server.database, USER=server.user)
    db["PASSWORD"] = ""
    ContentType.objects.clear_cache()
    try:
        call_command("migrate", verbosity=0)
        yield
    finally:
        connection.close()
        db.update(saved)
        ContentType.objects.clear_cache()


@pytest.fixture
def chaos(
    chaos_redis: RedisServer, chaos_database: None, sandbox: Any, tmp_path: Path
) -> Iterator[ChaosRig]:
    sandbox.set_rules(RULES)
    rig = ChaosRig(chaos_redis, sandbox, tmp_path, connection.settings_dict["NAME"])
    chaos_redis.flush()
    try:
        yield rig
    finally:
        print(rig.logs())  # shown by pytest when the test failed
        rig.stop_all()
        connection.close()


@pytest.fixture
def chaos_account(sandbox: Any) -> Callable[..., Account]:
    """An account wired to the sandbox with chaos timings; `items` are enqueued at once."""

    def make(slug: str, items: list[dict[str, Any]], pause: bool = True, **crm: Any) -> Account:
        account = AccountFactory(slug=slug, name=slug.title())
        CRMSettingsFactory(
            account=account,
            export_enabled=True,
            pause_on_export_errors=pause,
            login_url=sandbox.url,
            ca_bundle=str(sandbox.ca_path),
            client_id=crm.pop("client_id", sandbox.client_id),
            client_secret=crm.pop("client_secret", sandbox.client_secret),
            timeout_seconds=crm.pop("timeout_seconds", REQUEST_TIMEOUT_S),
            **crm,
        )
        enqueue_many(account, items)
        return account

    return make
