"""A Django project of its own installs crmsync's apps and exports its own model through a
real worker process of its own Celery app (docs/integration.md › Installed into your
project).

The project is tests/hostproject: `shopsite` (settings with `from crmsync.defaults import *`,
a Celery app made in its package's `__init__.py`, crmsync's URLs) and `shop` (a tenant `Shop`
mapped onto a crmsync Account, and `Customer`, declared in `shop/crm_exports.py`). Every step
runs as a process of its own from that directory, as a project's commands run: `migrate`
into a fresh SQLite file, `crm_account create`, `celery -A shopsite worker` on Redis (db 13,
a queue of this test's own), saves in `manage.py shell`, and `crm_export`, which sends the
run through the project's app and waits. The sandbox org runs in this process; its write
log shows what arrived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from kombu import Connection

from tests.processes import LoggedProcess, running
from tests.services import REDIS_HOST, REDIS_PORT, require_redis

HOST = Path(__file__).resolve().parent  # the project's directory (its manage.py)
BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/13"  # no other test uses db 13
TIMEOUT_S = 120


@dataclass
class HostProject:
    env: dict[str, str]
    queue: str
    log_dir: Path

    def manage(
        self, *argv: str, settings: str = "shopsite.settings"
    ) -> subprocess.CompletedProcess[str]:
        """`python manage.py <argv>` in the project's directory."""
        return subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=HOST,
            env=self.env | {"DJANGO_SETTINGS_MODULE": settings},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )

    def ok(self, *argv: str) -> str:
        done = self.manage(*argv)
        assert done.returncode == 0, f"manage.py {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def shell(self, code: str) -> str:
        return self.ok("shell", "--no-imports", "-c", code)

    def export(self) -> dict[str, Any]:
        """`crm_export --account shop --json`: a run through the project's worker."""
        out = self.ok("crm_export", "--account", "shop", "--json", "--timeout", "60")
        return json.loads(out.strip().splitlines()[-1])


class HostWorker(LoggedProcess):
    """`celery -A shopsite worker` on the test's queue, from the project's directory."""

    def __init__(self, project: HostProject) -> None:
        super().__init__("shopsite-worker", project.env, project.log_dir)
        self.cwd = HOST
        self.queue = project.queue

    def argv(self) -> list[str]:
        return [
            *(sys.executable, "-m", "celery", "-A", "shopsite", "worker"),
            *("-Q", self.queue, "-n", f"{self.queue}@%h", "--pool", "solo", "-l", "INFO"),
        ]


def host_env(tmp_path: Path, queue: str) -> dict[str, str]:
    """The project's environment: its own keys and database, crmsync's broker and queues.
    Not a development machine (no CRMSYNC_DEV): the project gives every key itself."""
    dropped = ("CRMSYNC_DEV", "DATABASE_URL", "CELERY_BROKER_URL", "CRMSYNC_VAR_DIR")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return env | {
        "DJANGO_SETTINGS_MODULE": "shopsite.settings",
        "SHOP_SECRET_KEY": uuid.uuid4().hex * 2,
        "SHOP_DATABASE": str(tmp_path / "shop.sqlite3"),
        "SHOP_CELERY_QUEUE": queue,
        "CRMSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CRMSYNC_NOTIFICATIONS_QUEUE": f"{queue}.notifications",
        "SANDBOX_SECRET": "sandbox",
    }


@pytest.fixture
def project(tmp_path: Path) -> Iterator[HostProject]:
    queue = f"shopsite-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    yield HostProject(host_env(tmp_path, queue), queue, tmp_path / "logs")


def _delete_queues(queue: str) -> None:
    with Connection(BROKER_URL) as conn:
        for name in (queue, f"{queue}.links", f"{queue}.notifications"):
            conn.default_channel.queue_delete(name)


CREATE_CUSTOMER = """
import datetime as dt
from decimal import Decimal
from django.db import transaction
from accounts.models import Account
from shop.models import Customer, Shop

with transaction.atomic():  # the save and its record commit together
    shop = Shop.objects.create(name="Corner shop", crm_account=Account.objects.get(slug="shop"))
    Customer.objects.create(
        shop=shop, number="C-1001", name="Lovelace", email="ada@example.com",
        since=dt.date(2024, 5, 1), balance=Decimal("12.50"), vip=True,
        last_order_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    )
"""

CORRECT_EMAIL = """
from shop.models import Customer

customer = Customer.objects.get(number="C-1001")
customer.email = "ada@lovelace.example"
customer.save()
"""


@pytest.mark.integration
def test_a_saved_customer_reaches_the_org_through_the_projects_own_worker(project, sandbox):
    require_redis()
    project.ok("migrate", "-v", "0")
    project.ok(
        *("crm_account", "create", "shop", "--login-url", sandbox.url, "--client-id", "sandbox"),
        *("--client-secret-env", "SANDBOX_SECRET", "--ca-bundle", str(sandbox.ca_path)),
        "--export",
    )
    worker = HostWorker(project)
    try:
        with running(worker):
            worker.wait_for_log("ready.", timeout=60)
            project.shell(CREATE_CUSTOMER)
            first = project.export()
            project.shell(CORRECT_EMAIL)
            second = project.export()
    finally:
        _delete_queues(project.queue)

    assert (first["outcome"], first["exported"]) == ("completed", 1)
    assert (second["outcome"], second["exported"]) == ("completed", 1)
    writes = [_written(w) for w in sandbox.writes()]
    assert writes[0][:3] == ("upsert", "Contact", "C-1001")
    assert writes[0][3] == {
        "LastName": "Lovelace",
        "Email": "ada@example.com",
        "Customer_Since__c": "2024-05-01",
        "Balance__c": 12.5,
        "VIP__c": True,
        "Last_Order__c": "2026-01-02T03:04:05.000+00:00",
    }
    assert writes[1] == ("upsert", "Contact", "C-1001", {"Email": "ada@lovelace.example"})
    assert len(writes) == 2
    log = worker.log()
    assert "app:         shopsite" in log  # the project's own Celery app ran crmsync's tasks
    assert "exports.tasks.run_export" in log and "export.run account=shop" in log


def _written(write: dict[str, Any]) -> tuple[str, str, str, dict[str, Any]]:
    """A write of the org's log: the fields as they arrived, without the external id."""
    fields = {k: v for k, v in write["fields"].items() if k != write["external_id_field"]}
    return write["op"], write["sobject"], write["external_id"], fields


def test_manage_py_check_refuses_a_mistaken_mapping(project):
    good = project.manage("check")
    broken = project.manage("check", settings="shopsite.settings_broken")

    assert good.returncode == 0, good.stderr
    assert broken.returncode == 1, broken.stdout + broken.stderr
    errors = broken.stderr
    assert "(exports.E003) TypoExport: Customer has no attribute 'nmae' (in 'nmae')" in errors
    assert (
        "(exports.E004) TwiceExport: the Salesforce field EMAIL is mapped twice (Salesforce "
        "field names ignore case: Email)" in errors
    )
    assert (
        "(exports.E005) NotUniqueExport: the external id 'name' is not unique on Customer: "
        "two rows would write one Salesforce record (make the field unique)" in errors
    )
    assert "System check identified 3 issues" in errors
