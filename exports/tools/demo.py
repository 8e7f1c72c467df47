"""`make demo`: the whole product on one machine, no servers to install.

A sandbox org runs in this process (real HTTPS), the database is SQLite and the broker
is the embedded one, so every export run and the re-export go through the real Celery
tasks and chain, consumed by a worker thread here. The story, in order:

1. ~5,000 people and touchpoints are enqueued; the org's validation rule rejects a few
   people. Pause on: the run stops at the first of them; nothing after it is written.
   The record is inspected (`crm_status`) and replayed verbosely (`crm_replay`); the
   "paused" alert email is shown as the console email backend prints it.
2. The rule is fixed in the org: the next run resumes at that record and completes; the
   "resumed" alert email follows.
3. Pause off, the rule back, more bad records: they are logged and the run goes on.
4. The rule fixed again, the daily re-export resolves the logged errors.

Every claim the demo prints is checked against the database and the org's write log
first; a step that did not do what it says raises DemoFailed (`crm_demo` exits 1).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import Account, CRMSettings
from exports.models import ExportCursor, ExportError, ExportRecord, ExportRun, Notification
from exports.outbox import enqueue_many
from exports.tasks import reexport_errors, run_export
from exports.tools.console import HeldConsoleBackend, ProgressBar
from exports.tools.demo_data import (
    RULE,
    RULES_FIXED,
    RULES_STRICT,
    TOUCHPOINT,
    Plan,
    people_and_touchpoints,
)
from exports.tools.replay import SandboxTarget, describe_result, replay, settings_for
from exports.tools.runner import backlog, wait_for_run, worker_if_embedded
from sandbox import control

SLUG = "demo"
ALERT_EMAIL = "ops@example.com"
CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
RUN_TIMEOUT_S = 300.0
SLUG_PERSON = "demo-person-"
# Request headers every call carries; the demo leaves them out of the replay it shows.
BORING_HEADERS = ("> User-Agent", "> Accept-Encoding", "> Accept:", "> Connection", "> X-Pretty")


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

    def written(self) -> list[str]:
        """External ids the org wrote, in the order it wrote them."""
        response = self.http.get(f"{self.sandbox_url}/sandbox/writes", timeout=30)
        response.raise_for_status()
        return [w["external_id"] for w in response.json()["writes"]]

    # -- steps ----------------------------------------------------------------------------

    def check(self, claim: str, ok: bool, got: Any = None) -> None:
        if not ok:
            detail = f" (got: {got})" if got is not None else ""
            raise DemoFailed(f"the demo expected that {claim}{detail}")

    def run(self, account: Account, step: str) -> ExportRun:
        """One export run through Celery (`run_export` and its chain), with a progress bar."""
        run = ExportRun.objects.create(account=account, trigger=ExportRun.Trigger.MANUAL)
        bar = ProgressBar(_backlog(account)) if self.show_progress else None
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
        run = _wait_for_new_run(account, ExportRun.Trigger.REEXPORT, last.id if last else 0)
        self.rows.append(Row(step, run.outcome, run.exported, run.failed, run.api_calls))
        return run


def run_demo(demo: Demo) -> None:
    """The four steps of the module docstring, then a table and where to look next.

    With the embedded broker one worker thread serves the whole demo (starting and
    stopping one per run costs seconds each)."""
    account = _demo_account(demo)
    if settings.EMAIL_BACKEND == CONSOLE_EMAIL:
        settings.EMAIL_BACKEND = f"{HeldConsoleBackend.__module__}.HeldConsoleBackend"
    with worker_if_embedded():
        _step_pause_on(demo, account)
        _step_rule_fixed(demo, account)
        _step_pause_off(demo, account)
        _step_reexport(demo, account)
    _summary(demo)


def _demo_account(demo: Demo) -> Account:
    """A fresh `demo` account pointed at the sandbox org, and an empty org."""
    Account.objects.filter(slug=SLUG).delete()
    account = Account.objects.create(slug=SLUG, name="Demo account")
    crm, _ = CRMSettings.objects.get_or_create(account=account)
    crm.export_enabled = True
    crm.pause_on_export_errors = True
    crm.login_url = demo.sandbox_url
    crm.ca_bundle = str(demo.ca_path)
    crm.client_id = crm.client_secret = "sandbox"
    crm.alert_emails = ALERT_EMAIL
    crm.save()
    demo.reset_org()
    demo.set_rules(RULES_STRICT)
    _admin_user()
    return account


def _step_pause_on(demo: Demo, account: Account) -> None:
    plan, out = demo.plan, demo.out
    enqueue_many(account, people_and_touchpoints(1, plan.people, set(plan.bad), plan.block))
    first_bad = min(plan.bad)
    out(
        f"Enqueued {2 * plan.people:,} records for account {SLUG!r}: {plan.people:,} people "
        f"(Contact), each with a touchpoint\n({TOUCHPOINT}), in blocks of {plan.block} people "
        f"followed by their {plan.block} touchpoints.\nThe org's validation rule "
        f"{RULE['name']} rejects people {_and(plan.bad)}\n(Customers without an email)."
    )
    out('\n▶ 1. Export with "Pause on export errors" on')
    run = demo.run(account, "1. Pause on")
    cursor = ExportCursor.objects.select_related("paused_record").get(account=account)
    paused = cursor.paused_record
    demo.check("run 1 ends paused", run.outcome == ExportRun.Outcome.PAUSED, run.outcome)
    demo.check(
        f"it pauses at person {first_bad}",
        paused is not None and paused.external_id == f"demo-person-{first_bad}",
        paused and paused.external_id,
    )
    assert paused is not None
    before = _external_ids(account, up_to=cursor.last_exported_id)
    written = demo.written()
    demo.check(
        "the org wrote exactly the records before it, in order",
        written == before and len(written) == run.exported,
        f"{len(written)} writes",
    )
    out(
        f"  Paused at record #{paused.id} ({paused.sobject} {paused.external_id}): "
        f"{cursor.last_error_code}: {cursor.last_error_message}\n"
        f"  The {run.exported:,} records before it are in the org, in order; nothing after it is."
    )
    _inspect(demo, account)
    _replay(demo, account, cursor)
    _show_alert(demo, account, "paused")


def _inspect(demo: Demo, account: Account) -> None:
    """Show what `crm_status` tells an engineer about the pause."""
    status = StringIO()
    call_command("crm_status", account=SLUG, stdout=status)
    demo.out(f"\n  Inspect it: {demo.cli} crm_status --account {SLUG}")
    for line in status.getvalue().splitlines():
        demo.out(f"    │ {line}")
    demo.check("crm_status names the paused record", f"({SLUG_PERSON}" in status.getvalue())


def _replay(demo: Demo, account: Account, cursor: ExportCursor) -> None:
    """Replay the paused record verbosely against the org, as `crm_replay` does."""
    out = demo.out
    out(
        f"\n  Reproduce it: {demo.cli} crm_replay --account {SLUG} "
        f"--sandbox {demo.sandbox_url} --ca {demo.ca_path}\n"
        "  sends that one record and shows the request and the answer (some headers left out "
        "here):"
    )
    record = cursor.paused_record
    assert record is not None
    crm = settings_for(account, SandboxTarget(demo.sandbox_url, demo.ca_path))
    lines: list[str] = []
    result = replay(record, crm, lines.append, configured_org=False)
    for line in "\n".join(lines).splitlines():
        if not line.startswith(BORING_HEADERS):
            out(f"    │ {line}")
    out(f"  {describe_result(result)}")
    after = ExportCursor.objects.get(account=account)
    demo.check(
        "the replay shows the same rejection",
        not result.ok and result.error_code == cursor.last_error_code,
        result.error_code,
    )
    demo.check(
        "the replay leaves the cursor where it was",
        (after.last_exported_id, after.paused_record_id)
        == (cursor.last_exported_id, cursor.paused_record_id),
    )


def _step_rule_fixed(demo: Demo, account: Account) -> None:
    demo.set_rules(RULES_FIXED)
    demo.out("\n▶ 2. The validation rule is fixed in the org; the next run")
    paused_id = ExportCursor.objects.get(account=account).paused_record_id
    run = demo.run(account, "2. Rule fixed")
    demo.check("run 2 completes", run.outcome == ExportRun.Outcome.COMPLETED, run.outcome)
    demo.check("it resumes at the paused record", run.first_record_id == paused_id)
    cursor = ExportCursor.objects.get(account=account)
    demo.check("the cursor is no longer paused", cursor.paused_record_id is None)
    demo.check(
        "the paused record's error is resolved",
        ExportError.objects.get(record_id=paused_id).status == ExportError.Status.RESOLVED,
    )
    demo.check(
        "every record is now in the org, in order",
        demo.written() == _external_ids(account),
    )
    demo.out(
        f"  Completed: it resumed at the paused record and wrote the remaining {run.exported:,}; "
        "the record's error\n  is resolved; all "
        f"{ExportRecord.objects.filter(account=account).count():,} records are in the org, in order."
    )
    _show_alert(demo, account, "resumed")


def _show_alert(demo: Demo, account: Account, event: str) -> None:
    """Wait for the account's `event` alert email to be sent, and show it."""
    deadline = time.monotonic() + 30
    while not Notification.objects.filter(
        account=account, event=event, channel=Notification.Channel.EMAIL, status="sent"
    ).exists():
        if time.monotonic() > deadline:
            raise DemoFailed(f"the demo expected a {event!r} alert email to {ALERT_EMAIL}")
        time.sleep(0.05)
    demo.out(f"\n  The {event!r} alert, emailed to {ALERT_EMAIL} (the console email backend):")
    held = (
        HeldConsoleBackend.take() if settings.EMAIL_BACKEND.endswith("HeldConsoleBackend") else ""
    )
    headers, _, text = held.rstrip("-\n").partition("\n\n")
    unfolded = re.sub(r"\n[ \t]+", " ", headers).splitlines()
    kept = [h for h in unfolded if h.startswith(("Subject:", "From:", "To:"))]
    for line in [*kept, "", *text.splitlines()]:
        demo.out(f"    │ {line}".rstrip())


def _step_pause_off(demo: Demo, account: Account) -> None:
    plan = demo.plan
    CRMSettings.objects.filter(account=account).update(pause_on_export_errors=False)
    demo.set_rules(RULES_STRICT)
    start = plan.people + 1
    enqueue_many(
        account, people_and_touchpoints(start, plan.more_people, set(plan.more_bad), plan.block)
    )
    demo.out(
        f'\n▶ 3. "Pause on export errors" off, the rule back, {2 * plan.more_people:,} more '
        f"records; people {_and(plan.more_bad)} are bad"
    )
    run = demo.run(account, "3. Pause off")
    expected = {f"demo-person-{i}" for i in plan.more_bad} | {
        f"demo-touch-{i}" for i in plan.more_bad
    }
    logged = set(
        ExportError.objects.filter(account=account).open().values_list("external_id", flat=True)
    )
    demo.check("run 3 completes", run.outcome == ExportRun.Outcome.COMPLETED, run.outcome)
    demo.check(
        "the bad people and their touchpoints are logged as open errors",
        run.failed == len(expected) and logged == expected,
        sorted(logged),
    )
    demo.check("nothing is left to export", _backlog(account) == 0, _backlog(account))
    demo.out(
        f"  Completed: {run.exported:,} written; {run.failed} rejected and logged as "
        f"ExportErrors: the {len(plan.more_bad)} people, and their {len(plan.more_bad)} "
        "touchpoints,\n  whose person is missing in the org. With pause off the run goes on, "
        "and the org can be\n  inconsistent until the errors are fixed."
    )


def _step_reexport(demo: Demo, account: Account) -> None:
    demo.set_rules(RULES_FIXED)
    demo.out(
        "\n▶ 4. The rule is fixed again; the daily re-export (CRMExport_ExportError, "
        "task exports.tasks.reexport_errors)"
    )
    logged = ExportError.objects.filter(account=account).open().count()
    run = demo.reexport(account, "4. Daily re-export")
    demo.check("the re-export completes", run.outcome == ExportRun.Outcome.COMPLETED, run.outcome)
    demo.check(f"it resolves all {logged}", run.exported == logged, run.exported)
    demo.check(
        "no open errors are left",
        not ExportError.objects.filter(account=account).open().exists(),
    )
    demo.out(
        f"  Completed: {run.exported} errors resolved with {run.api_calls} API calls "
        "(people first, then their touchpoints)."
    )


def _summary(demo: Demo) -> None:
    out = demo.out
    width = max(len(row.step) for row in demo.rows)
    out("\nWhat happened")
    out(
        f"  {'step'.ljust(width)}  {'outcome':<10} {'written':>8} {'rejected':>9} {'API calls':>10}"
    )
    for row in demo.rows:
        out(
            f"  {row.step.ljust(width)}  {row.outcome:<10} {row.written:>8,} "
            f"{row.rejected:>9,} {row.api_calls:>10,}"
        )
    out(
        "\nLook around (the demo's database stays until the next make demo):\n"
        f"  {demo.cli} crm_status --account {SLUG}\n"
        f"  DJANGO_DEBUG=1 {demo.cli} runserver   → http://127.0.0.1:8000/admin/ "
        "(user demo, password demo)"
    )


# -- helpers ---------------------------------------------------------------------------------


def _wait_for_new_run(account: Account, trigger: str, after_id: int) -> ExportRun:
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


def _external_ids(account: Account, up_to: int | None = None) -> list[str]:
    records = ExportRecord.objects.filter(account=account)
    if up_to is not None:
        records = records.filter(id__lte=up_to)
    return list(records.order_by("id").values_list("external_id", flat=True))


def _backlog(account: Account) -> int:
    return backlog(account.id)


def _and(numbers: tuple[int, ...]) -> str:
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _admin_user() -> None:
    User = get_user_model()
    if not User.objects.filter(username="demo").exists():
        User.objects.create_superuser("demo", "demo@example.com", "demo")
