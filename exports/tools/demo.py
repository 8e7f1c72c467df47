"""`make demo`: the whole product on one machine, no servers to install.

A sandbox org runs in this process (real HTTPS), the database is SQLite and the broker
is the embedded one, so every export run and the re-export go through the real Celery
tasks and chain, consumed by a worker thread here. The records come from the example host
app (crmsync/example: a tenant mapped onto the demo account, its companies, people and
their touchpoints, exported by declaration: crmsync/example/crm_exports.py). The story, in
order:

1. ~5,000 rows are created with `bulk_create` and enqueued by `crm_backfill`, parents
   first; the org's validation rule rejects a few people. Pause on: the run stops at the
   first of them; nothing after it is written. The record is inspected (`crm_status`) and
   replayed verbosely (`crm_replay`); the "paused" alert email is shown as the console
   email backend prints it.
2. The rule is fixed in the org: the next run resumes at that record and completes; the
   "resumed" alert email follows.
3. The app's own ORM saves are captured: a corrected email enqueues that field only, a
   save of an unmapped field nothing, a deleted person the deletions of its touchpoint and
   of itself; the org's write log shows exactly those.
4. Pause off, the rule back, more people (`bulk_create`, then `export_objects`), some bad:
   they are logged and the run goes on.
5. The rule fixed again, the daily re-export resolves the logged errors.

Every claim the demo prints is checked against the database and the org's write log
first; a step that did not do what it says raises DemoFailed (`crm_demo` exits 1).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from io import StringIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import Account, CRMSettings
from crmsync.example.models import Company, Tenant
from exports.models import ExportCursor, ExportError, ExportRecord, ExportRun, Notification
from exports.tools import demo_host as host
from exports.tools.console import HeldConsoleBackend
from exports.tools.demo_base import SLUG, Demo, DemoFailed, and_list, external_ids
from exports.tools.demo_capture import step_capture
from exports.tools.demo_data import RULE, RULES_FIXED, RULES_STRICT
from exports.tools.replay import SandboxTarget, describe_result, replay, settings_for
from exports.tools.runner import backlog, worker_if_embedded

__all__ = ["Demo", "DemoFailed", "run_demo"]

ALERT_EMAIL = "ops@example.com"
CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
# Request headers every call carries; the demo leaves them out of the replay it shows.
BORING_HEADERS = ("> User-Agent", "> Accept-Encoding", "> Accept:", "> Connection", "> X-Pretty")


@dataclass
class Rows:
    """The demo's host app: its tenant and companies."""

    tenant: Tenant
    companies: list[Company]


def run_demo(demo: Demo) -> None:
    """The five steps of the module docstring, then a table and where to look next.

    With the embedded broker one worker thread serves the whole demo (starting and
    stopping one per run costs seconds each)."""
    account = _demo_account(demo)
    if settings.EMAIL_BACKEND == CONSOLE_EMAIL:
        settings.EMAIL_BACKEND = f"{HeldConsoleBackend.__module__}.HeldConsoleBackend"
    tenant = host.fresh_tenant(account)
    rows = Rows(tenant, host.create_companies(tenant, demo.plan.companies))
    with worker_if_embedded():
        _step_pause_on(demo, account, rows)
        _step_rule_fixed(demo, account)
        step_capture(demo, account, rows.tenant)
        _step_pause_off(demo, account, rows)
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


def _step_pause_on(demo: Demo, account: Account, rows: Rows) -> None:
    plan, out = demo.plan, demo.out
    _fill_and_backfill(demo, account, rows)
    first_bad = min(plan.bad)
    out('\n▶ 1. Export with "Pause on export errors" on')
    run = demo.run(account, "1. Pause on")
    cursor = ExportCursor.objects.select_related("paused_record").get(account=account)
    paused = cursor.paused_record
    demo.check("run 1 ends paused", run.outcome == ExportRun.Outcome.PAUSED, run.outcome)
    name = host.name_of(paused.external_id) if paused is not None else ""
    demo.check(f"it pauses at person {first_bad}", name == host.person_name(first_bad), name)
    assert paused is not None
    before = external_ids(account, up_to=cursor.last_exported_id)
    written = demo.written()
    demo.check(
        "the org wrote exactly the records before it, in order",
        written == before and len(written) == run.exported,
        f"{len(written)} writes",
    )
    out(
        f"  Paused at record #{paused.id} ({paused.sobject} {paused.external_id}, {name}): "
        f"{cursor.last_error_code}: {cursor.last_error_message}\n"
        f"  The {run.exported:,} records before it are in the org, in order; nothing after it is."
    )
    _inspect(demo, account, paused.external_id)
    _replay(demo, account, cursor)
    _show_alert(demo, account, "paused")


def _fill_and_backfill(demo: Demo, account: Account, rows: Rows) -> None:
    """The host app's rows (`bulk_create`: no signals), then `crm_backfill` of each export."""
    plan, out = demo.plan, demo.out
    people, touchpoints = host.create_people(
        rows.tenant, 1, plan.people, set(plan.bad), rows.companies
    )
    out(
        f"The example host app (crmsync/example) has {plan.companies} companies, "
        f"{plan.people:,} people and their {plan.people:,} touchpoints\nfor its tenant "
        f"{host.TENANT!r} (mapped onto account {SLUG!r}), made with bulk_create: no signal, "
        "nothing enqueued yet.\ncrm_backfill enqueues each declared export's rows, parents first:"
    )
    demo.check("bulk_create enqueued nothing", backlog(account.id) == 0, backlog(account.id))
    for export, line in zip(host.EXPORTS, host.backfill(SLUG), strict=True):
        out(f"  $ {demo.cli} crm_backfill --account {SLUG} --export {export}\n    │ {line}")
    expected = plan.companies + len(people) + len(touchpoints)
    demo.check(
        f"the backfills enqueued {expected:,} records",
        backlog(account.id) == expected,
        backlog(account.id),
    )
    out(
        f"The org's validation rule {RULE['name']} rejects people {and_list(plan.bad)}\n"
        "(Customers without an email)."
    )


def _inspect(demo: Demo, account: Account, external_id: str) -> None:
    """Show what `crm_status` tells an engineer about the pause."""
    status = StringIO()
    call_command("crm_status", account=SLUG, stdout=status)
    demo.out(f"\n  Inspect it: {demo.cli} crm_status --account {SLUG}")
    for line in status.getvalue().splitlines():
        demo.out(f"    │ {line}")
    demo.check("crm_status names the paused record", f"({external_id})" in status.getvalue())


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
        demo.written() == external_ids(account),
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


def _step_pause_off(demo: Demo, account: Account, rows: Rows) -> None:
    plan = demo.plan
    CRMSettings.objects.filter(account=account).update(pause_on_export_errors=False)
    demo.set_rules(RULES_STRICT)
    start = plan.people + 1
    people, touchpoints = host.create_people(
        rows.tenant, start, plan.more_people, set(plan.more_bad), rows.companies
    )
    enqueued = host.enqueue_new(people, touchpoints)
    demo.check("export_objects enqueued them all", enqueued == 2 * plan.more_people, enqueued)
    demo.out(
        f'\n▶ 4. "Pause on export errors" off, the rule back; {plan.more_people:,} more people '
        "and their touchpoints (bulk_create,\n  then export_objects(...): "
        f"{enqueued:,} records); people {and_list(plan.more_bad)} are bad"
    )
    run = demo.run(account, "4. Pause off")
    bad = {p for p in people if p.last_name in {host.person_name(i) for i in plan.more_bad}}
    expected = {str(p.uuid) for p in bad} | {str(t.uuid) for t in touchpoints if t.person in bad}
    logged = set(
        ExportError.objects.filter(account=account).open().values_list("external_id", flat=True)
    )
    demo.check("run 4 completes", run.outcome == ExportRun.Outcome.COMPLETED, run.outcome)
    demo.check(
        "the bad people and their touchpoints are logged as open errors",
        run.failed == len(expected) and logged == expected,
        sorted(logged),
    )
    demo.check("nothing is left to export", backlog(account.id) == 0, backlog(account.id))
    demo.out(
        f"  Completed: {run.exported:,} written; {run.failed} rejected and logged as "
        f"ExportErrors: the {len(plan.more_bad)} people, and their {len(plan.more_bad)} "
        "touchpoints,\n  whose person is missing in the org. With pause off the run goes on, "
        "and the org can be\n  inconsistent until the errors are fixed."
    )


def _step_reexport(demo: Demo, account: Account) -> None:
    demo.set_rules(RULES_FIXED)
    demo.out(
        "\n▶ 5. The rule is fixed again; the daily re-export (CRMExport_ExportError, "
        "task exports.tasks.reexport_errors)"
    )
    logged = ExportError.objects.filter(account=account).open().count()
    run = demo.reexport(account, "5. Daily re-export")
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


def _admin_user() -> None:
    User = get_user_model()
    if not User.objects.filter(username="demo").exists():
        User.objects.create_superuser("demo", "demo@example.com", "demo")
