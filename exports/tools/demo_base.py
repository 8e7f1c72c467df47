"""What the demo's steps share (exports/tools/demo.py): the sandbox org's control endpoints,
a run through Celery, the checks behind every claim, the table's rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from accounts.models import Account
from exports.models import ExportRecord, ExportRun
from exports.tasks import reexport_errors, run_export
from exports.tools.console import ProgressBar
from exports.tools.demo_data import Plan
from exports.tools.runner import backlog, wait_for_run
from sandbox import control

SLUG = "demo"
RUN_TIMEOUT_S = 300.0


class DemoFailed(Exception):
    """A step of the demo did not do what the demo says it does."""


@dataclass
class Row:
    step: str
    outcome: str
    written: int
    rejected: int
    api_calls: int


@dataclass
class Demo:
    sandbox_url: str
    ca_path: Path
    out: Callable[[str], None] = print
    plan: Plan = field(default_factory=Plan)
    show_progress: bool = True
    cli: str = "python manage.py"
    rows: list[Row] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.verify = str(self.ca_path)
        # The control endpoints need the token the org wrote next to its CA.
        self.http.headers[control.HEADER] = control.read_token(self.ca_path.parent)

    # -- the sandbox org's control endpoints ----------------------------------------------

    def set_rules(self, rules: dict[str, Any]) -> None:
        self.http.put(
            f"{self.sandbox_url}/sandbox/rules", json=rules, timeout=10
        ).raise_for_status()

    def reset_org(self) -> None:
        self.http.delete(f"{self.sandbox_url}/sandbox/data", timeout=10).raise_for_status()

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        """The org's write log after `since` (its `seq`), in the order it wrote."""
        response = self.http.get(
            f"{self.sandbox_url}/sandbox/writes", params={"since": since}, timeout=30
        )
        response.raise_for_status()
        return response.json()["writes"]

    def written(self) -> list[str]:
        """External ids the org wrote, in the order it wrote them."""
        return [w["external_id"] for w in self.writes()]

    def last_write(self) -> int:
        """The `seq` of the org's last write (0: none)."""
        writes = self.writes()
        return int(writes[-1]["seq"]) if writes else 0

    # -- steps ----------------------------------------------------------------------------

    def check(self, claim: str, ok: bool, got: Any = None) -> None:
        if not ok:
            detail = f" (got: {got})" if got is not None else ""
            raise DemoFailed(f"the demo expected that {claim}{detail}")

    def run(self, account: Account, step: str) -> ExportRun:
        """One export run through Celery (`run_export` and its chain), with a progress bar."""
        run = ExportRun.objects.create(account=account, trigger=ExportRun.Trigger.MANUAL)
        bar = ProgressBar(backlog(account.id)) if self.show_progress else None
        run_export.apply_async(args=[account.id], kwargs={"trigger": run.trigger, "run_id": run.id})  # type: ignore[arg-type]  # celery takes a list; celery-types: a tuple
        run = wait_for_run(run.id, RUN_TIMEOUT_S, bar)
        if bar:
            bar.done()
        self.rows.append(Row(step, run.outcome, run.exported, run.failed, run.api_calls))
        return run

    def reexport(self, account: Account, step: str) -> ExportRun:
        """The daily job's task (`exports.tasks.reexport_errors`) through Celery; its run row."""
        last = ExportRun.objects.filter(account=account).order_by("-id").first()
        reexport_errors.apply_async(args=[account.id])  # type: ignore[arg-type]  # as above
        run = wait_for_new_run(account, ExportRun.Trigger.REEXPORT, last.id if last else 0)
        self.rows.append(Row(step, run.outcome, run.exported, run.failed, run.api_calls))
        return run


def wait_for_new_run(account: Account, trigger: str, after_id: int) -> ExportRun:
    """The first run of `trigger` after `after_id` that ends other than skipped_locked."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = (
            ExportRun.objects.filter(account=account, trigger=trigger, id__gt=after_id)
            .exclude(outcome=ExportRun.Outcome.SKIPPED_LOCKED)
            .order_by("id")
            .first()
        )
        if run is not None:
            return wait_for_run(run.id, max(deadline - time.monotonic(), 1))
        time.sleep(0.1)
    raise DemoFailed(f"no {trigger} run of account {account.slug} within {RUN_TIMEOUT_S:.0f}s")


def external_ids(account: Account, up_to: int | None = None) -> list[str]:
    records = ExportRecord.objects.filter(account=account)
    if up_to is not None:
        records = records.filter(id__lte=up_to)
    return list(records.order_by("id").values_list("external_id", flat=True))


def and_list(numbers: tuple[int, ...]) -> str:
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
