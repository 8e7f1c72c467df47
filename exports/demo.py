"""`make demo`: the whole product on one machine, no servers to install.

A sandbox org runs in this process (real HTTPS), the database is SQLite and the
broker is the embedded one, so `crm_export` style runs start a worker thread here.
Every step goes through the real tasks and chain. Each claim the demo prints is
checked; a step that did not do what it says stops the demo with exit status 1.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from accounts.models import Account, CRMSettings

from .models import ExportCursor, ExportError, ExportRun
from .outbox import enqueue_many
from .reexport import reexport_errors
from .runner import progress_bar, run_and_wait

RULE = {
    "name": "Email_Required_For_Customers",
    "when": {"field": "Type__c", "equals": "Customer"},
    "require": "Email",
    "message": "Customers need an email",
}
TOUCHPOINT = "bizible2__Bizible_Touchpoint__c"
RULES_STRICT = {
    "objects": {
        "Contact": {"validation": [RULE]},
        TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}},
    }
}
RULES_FIXED = {"objects": {TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}}}}


class DemoFailed(Exception):
    pass


@dataclass
class Demo:
    sandbox_url: str
    ca_path: Path
    out: Callable[[str], None] = print
    rows: list[tuple[str, str]] = field(default_factory=list)

    def check(self, claim: str, ok: bool) -> None:
        if not ok:
            raise DemoFailed(f"the demo expected: {claim}")

    def set_rules(self, rules: dict[str, Any]) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        request = urllib.request.Request(
            f"{self.sandbox_url}/sandbox/rules",
            data=json.dumps(rules).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            response.read()

    def run(self, account: Account, title: str) -> ExportRun:
        self.out(f"\n▶ {title}")
        run = run_and_wait(account, ExportRun.Trigger.MANUAL, timeout=300, on_progress=progress_bar)
        sys.stderr.write("\n")
        self.rows.append((title, f"{run.outcome}: {run.exported} exported, {run.failed} failed"))
        return run


def people_and_touchpoints(start: int, n: int, bad: set[int]) -> list[dict[str, Any]]:
    """n people, each followed by a touchpoint that points at its person."""
    items: list[dict[str, Any]] = []
    for i in range(start, start + n):
        ext = f"demo-person-{i}"
        items.append(
            {
                "sobject": "Contact",
                "external_id_field": "ExtId__c",
                "external_id": ext,
                "fields": {
                    "LastName": f"Person {i}",
                    "Type__c": "Customer" if i in bad else "Lead",
                    **({} if i in bad else {"Email": f"person{i}@example.com"}),
                },
            }
        )
        items.append(
            {
                "sobject": TOUCHPOINT,
                "external_id_field": "ExtId__c",
                "external_id": f"demo-touch-{i}",
                "fields": {"bizible2__Contact__r": {"ExtId__c": ext}, "Channel__c": "Web"},
            }
        )
    return items


def run_demo(demo: Demo) -> None:
    out = demo.out
    account, _ = Account.objects.get_or_create(slug="demo", defaults={"name": "Demo account"})
    CRMSettings.objects.filter(account=account).update(
        export_enabled=True,
        pause_on_export_errors=True,
        login_url=demo.sandbox_url,
        ca_bundle=str(demo.ca_path),
        client_id="sandbox",
    )
    crm = CRMSettings.objects.get(account=account)
    crm.client_secret = "sandbox"
    crm.save()
    demo.set_rules(RULES_STRICT)

    bad = {1234, 1800, 2222}
    enqueue_many(account, people_and_touchpoints(1, 2500, bad))
    out(
        "Enqueued 5,000 records (2,500 people, each followed by a touchpoint); people 1234, 1800 "
        "and 2222 are Customers without an email, which the org's validation rule rejects."
    )

    # 1. Pause on: the run stops at the first bad record.
    run = demo.run(account, "Run 1 — pause on")
    cursor = ExportCursor.objects.select_related("paused_record").get(account=account)
    paused = cursor.paused_record
    demo.check("run 1 ends paused", run.outcome == ExportRun.Outcome.PAUSED)
    demo.check(
        "paused at person 1234", paused is not None and paused.external_id == "demo-person-1234"
    )
    out(
        f"  paused at record #{paused.id} ({paused.sobject} {paused.external_id}): "
        f"{cursor.last_error_code}: {cursor.last_error_message}\n"
        f"  {run.exported} records before it were written; nothing after it was.\n"
        "  inspect: python manage.py crm_status --account demo"
    )

    # 2. The rule is fixed in Salesforce; the next run completes.
    demo.set_rules(RULES_FIXED)
    out("\n  (the validation rule is fixed in the org)")
    run = demo.run(account, "Run 2 — rule fixed")
    demo.check("run 2 completes", run.outcome == ExportRun.Outcome.COMPLETED)
    demo.check(
        "the paused record's error is resolved",
        not ExportError.objects.filter(account=account, status="open").exists(),
    )
    out(f"  completed: {run.exported} records written, the paused record's error resolved.")

    # 3. Pause off, the rule back, more bad records: logged, the run goes on.
    CRMSettings.objects.filter(account=account).update(pause_on_export_errors=False)
    demo.set_rules(RULES_STRICT)
    bad = {2600, 2700, 2800, 2900}
    enqueue_many(account, people_and_touchpoints(2501, 500, bad))
    out("\n  (pause turned off; 1,000 more records, 4 of them bad; the rule is back)")
    run = demo.run(account, "Run 3 — pause off")
    open_errors = ExportError.objects.filter(account=account, status="open").count()
    demo.check("run 3 completes", run.outcome == ExportRun.Outcome.COMPLETED)
    # Each bad person's touchpoint is rejected too: its parent is missing in the org.
    demo.check("8 errors logged", run.failed == 8 and open_errors == 8)
    out(
        f"  completed: {run.exported} written, {run.failed} rejected and logged as ExportErrors\n"
        "  (the 4 people, and their 4 touchpoints, whose person is missing in the org:\n"
        "  with pause off the CRM can be left inconsistent until the errors are fixed)."
    )

    # 4. The daily re-export after the fix.
    demo.set_rules(RULES_FIXED)
    out("\n▶ Daily re-export (CRMExport_ExportError) after the rule is fixed")
    summary = reexport_errors(account.id)
    demo.check("re-export resolves all 8", summary.resolved == 8)
    demo.check(
        "no open errors left",
        not ExportError.objects.filter(account=account, status="open").exists(),
    )
    demo.rows.append(
        ("Daily re-export", f"{summary.resolved} resolved, {summary.api_calls} API call(s)")
    )
    out(
        f"  {summary.resolved} errors resolved with {summary.api_calls} API call(s) "
        "(people first, then their touchpoints)."
    )

    _admin_user()
    width = max(len(t) for t, _ in demo.rows)
    out("\nWhat happened")
    for title, result in demo.rows:
        out(f"  {title.ljust(width)}  {result}")
    out(
        "\nOpen the admin (user demo / password demo):\n"
        "  CRMSYNC_VAR_DIR=var/demo .venv/bin/python manage.py runserver\n"
        "  then http://127.0.0.1:8000/admin/"
    )


def _admin_user() -> None:
    User = get_user_model()
    if not User.objects.filter(username="demo").exists():
        User.objects.create_superuser("demo", "demo@example.com", "demo")
