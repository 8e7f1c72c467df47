"""Step 3 of the demo (exports/tools/demo.py): the host app's own ORM saves and deletions,
captured by crmsync's signals in their transactions, and what the org then writes."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from accounts.models import Account
from crmsync.example.models import Tenant, Touchpoint
from exports.models import ExportRecord, ExportRun
from exports.tools import demo_host as host
from exports.tools.demo_base import Demo
from exports.tools.demo_data import TOUCHPOINT

NEW_EMAIL = "ada.lovelace@example.org"
NOTE = "called on Monday"


def step_capture(demo: Demo, account: Account, tenant: Tenant) -> None:
    """An email corrected (only that field), a note added (not mapped: nothing), a person
    deleted (its touchpoint's deletion, then its own); one run writes exactly those."""
    out, plan = demo.out, demo.plan
    out("\n▶ 3. The app's own saves and deletions, captured in their transactions")
    seq = demo.last_write()
    corrected, deleted = host.person(tenant, plan.corrected), host.person(tenant, plan.deleted)
    touchpoint = str(Touchpoint.objects.get(person=deleted).uuid)

    last = _last_id(account)
    with transaction.atomic():  # the save and its record commit together
        corrected.email = NEW_EMAIL
        corrected.save()
    email_records = _records_since(account, last)
    demo.check(
        "the corrected email enqueued one record with that field only",
        email_records == [("upsert", "Contact", str(corrected.uuid), {"Email": NEW_EMAIL})],
        email_records,
    )
    last = _last_id(account)
    corrected.notes = NOTE
    corrected.save()
    demo.check("a save of an unmapped field enqueued nothing", _last_id(account) == last)
    with transaction.atomic():
        deleted.delete()
    gone = _records_since(account, last)
    demo.check(
        "the deletion enqueued its touchpoint's deletion, then its own",
        [(op, sobject, key) for op, sobject, key, _ in gone]
        == [("delete", TOUCHPOINT, touchpoint), ("delete", "Contact", str(deleted.uuid))],
        gone,
    )
    _show(demo, corrected.last_name, deleted.last_name, email_records + gone)
    run = demo.run(account, "3. Saves captured")
    _check_org(demo, run, seq, email_records + gone)


def _show(demo: Demo, corrected: str, deleted: str, records: list[tuple[Any, ...]]) -> None:
    upsert, tp, contact = records
    demo.out(
        f"  >>> person.email = {NEW_EMAIL!r}; person.save()    ({corrected}, in "
        "transaction.atomic())\n"
        f"      enqueued: upsert Contact {upsert[2]} {json.dumps(upsert[3])}\n"
        "      (only the field that changed)\n"
        f"  >>> person.notes = {NOTE!r}; person.save()\n"
        "      enqueued: nothing (notes is not mapped; crmsync keeps a digest of each field it "
        "enqueued)\n"
        f"  >>> other.delete()    ({deleted})\n"
        f"      enqueued: delete {tp[1]} {tp[2]} (its touchpoint, deleted with it)\n"
        f"                delete Contact {contact[2]}"
    )


def _check_org(demo: Demo, run: ExportRun, seq: int, records: list[tuple[Any, ...]]) -> None:
    demo.check("run 3 completes", run.outcome == ExportRun.Outcome.COMPLETED, run.outcome)
    writes = demo.writes(since=seq)
    got = [
        (w["op"], w["sobject"], w["external_id"], _sent(w) if w["op"] == "upsert" else {})
        for w in writes
    ]
    demo.check("the org wrote exactly these three, in order", got == records, got)
    demo.out(
        f"  Completed: the org's write log shows the {len(writes)} writes: the upsert with "
        "only Email, then both deletions."
    )


def _records_since(account: Account, after_id: int) -> list[tuple[Any, ...]]:
    rows = ExportRecord.objects.filter(account=account, id__gt=after_id).order_by("id")
    return [(r.operation, r.sobject, r.external_id, r.fields or {}) for r in rows]


def _last_id(account: Account) -> int:
    last = ExportRecord.objects.filter(account=account).order_by("-id").first()
    return last.id if last else 0


def _sent(write: dict[str, Any]) -> dict[str, Any]:
    """The fields of an upsert as the org got them, without the external id field."""
    return {k: v for k, v in write["fields"].items() if k != write["external_id_field"]}
