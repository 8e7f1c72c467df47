"""What an alert says: the event's body (the webhook's JSON) and the email made from it.

`payload(event, account)` is the body every channel starts from: the pinned keys `event`,
`account`, `at` (and for pause events `record_id`, `external_id`, `sobject`,
`error_code`, `error_message`), a one-line `summary`, a `fix_hint` for the common error
codes, and links into the admin. The webhook adds its delivery `id`; the email is
`subject(payload)` and `body(payload)`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from exports.alerts.rules import Event, iso

PAUSE_EVENTS = ("paused", "still_paused", "resumed")

# Error code → what usually fixes it (the codes Salesforce answers most).
FIX_HINTS = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (
        "A validation rule in Salesforce rejected the record. Correct the data in the "
        "application (a corrected record is exported after this one) or change the rule in "
        "Salesforce, then resume."
    ),
    "REQUIRED_FIELD_MISSING": (
        "A field Salesforce requires is empty. Send the field from the application, or make "
        "it optional in Salesforce, then resume."
    ),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (
        "The integration user may not write a field. Give its profile or permission set edit "
        "access to the field (field-level security), or stop sending it, then resume."
    ),
    "INSUFFICIENT_ACCESS_OR_READONLY": (
        "The integration user lacks access to the record or a field. Check its profile, "
        "permission sets and sharing, then resume."
    ),
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": (
        "The integration user cannot see a record this one points at (owner, parent). Check "
        "sharing for the referenced record, then resume."
    ),
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": (
        "An Apex trigger or flow failed on this record (see the message). Fix the trigger or "
        "flow in Salesforce, or the data it trips on, then resume."
    ),
    "DUPLICATE_VALUE": (
        "Another Salesforce record already has this unique value. Merge or correct the "
        "duplicate in Salesforce, or change the value in the application, then resume."
    ),
    "DUPLICATES_DETECTED": (
        "A duplicate rule in Salesforce blocked the record. Merge the duplicates or relax the "
        "rule, then resume."
    ),
}
DEFAULT_HINT = (
    "Read Salesforce's message above; fix the data in the application or the setting in "
    "Salesforce, then resume (the status page's Resume button, or crm_export)."
)


def payload(event: Event, account: str) -> dict[str, Any]:
    """The event's body, as the webhook receives it (without the delivery `id`)."""
    body: dict[str, Any] = {"event": str(event.name), "account": account, "at": iso(event.at)}
    body |= event.details
    if event.name in ("paused", "still_paused"):
        body["fix_hint"] = FIX_HINTS.get(body.get("error_code", ""), DEFAULT_HINT)
    body["summary"] = summary(body)
    body["status_url"] = _link(reverse("export-status", args=[account]))
    if body.get("error_id"):
        body["error_url"] = _link(
            reverse("admin:exports_exporterror_change", args=[body["error_id"]])
        )
    return body


def summary(body: dict[str, Any]) -> str:
    """One line saying what happened, for the subject and the log."""
    account, event = body["account"], body["event"]
    record = f"record #{body.get('record_id')} ({body.get('sobject')} {body.get('external_id')})"
    if event == "paused":
        return f"{account}: export paused at {record}: {body.get('error_code')}"
    if event == "still_paused":
        return f"{account}: export still paused at {record} after {_duration(body)}"
    if event == "resumed":
        how = "went through" if body.get("how") == "went_through" else "was logged (pause off)"
        return f"{account}: export resumed; {record} {how} after {_duration(body)} paused"
    if event == "error_spike":
        return (
            f"{account}: export error spike: {body['errors_last_hour']} new errors in the last "
            f"hour, {body['run_failed']} of {body['run_attempted']} records of the last run"
        )
    if event == "error_spike_over":
        return f"{account}: export error spike over"
    if event == "run_failing":
        return f"{account}: export failing: the last {body['failed_runs']} runs failed"
    if event == "run_recovered":
        return f"{account}: export runs recovered"
    if event == "skipped":
        return (
            f"{account}: export went on past {record}, skipped by {body.get('skipped_by')}; "
            "its error stays open for the daily re-export"
        )
    if event == "gave_up":
        codes = ", ".join(f"{code} {n}" for code, n in sorted(body.get("codes", {}).items()))
        return (
            f"{account}: the daily re-export gave up on {body.get('count')} export errors "
            f"open longer than {body.get('after_days')} days ({codes})"
        )
    if event == "api_limit_reached":
        return f"{account}: export stopped near the daily Salesforce API limit"
    return f"{account}: export calls Salesforce again (daily API limit cleared)"


SUBJECTS = {
    "paused": "export paused at record #{record_id} ({error_code})",
    "still_paused": "export still paused at record #{record_id} ({error_code})",
    "resumed": "export resumed at record #{record_id}",
}


def subject(body: dict[str, Any]) -> str:
    """Short enough not to fold: the summary, without the record's details."""
    template = SUBJECTS.get(body["event"])
    text = f"{body['account']}: {template.format(**body)}" if template else body["summary"]
    return f"[crmsync] {text}"


def body(body: dict[str, Any]) -> str:
    """The email text: the summary, the facts a person acts on, what to do, the links."""
    lines = [body["summary"] + ".", ""]
    if body["event"] in PAUSE_EVENTS:
        lines += _pause_lines(body)
    elif body["event"] == "run_failing":
        lines.append(f"Last failure: {body.get('message') or '(no message)'}")
        if body.get("circuit_open_until"):
            lines.append(
                "Logins are failing: scheduled runs wait until "
                f"{body['circuit_open_until']} so the integration user is not locked out. "
                "Fix the connection in Settings › CRM; saving it or a successful Test "
                "connection lets runs start at once."
            )
    elif body["event"] in ("error_spike", "error_spike_over"):
        lines.append(
            f"New export errors in the last hour: {body['errors_last_hour']} "
            f"(alert above {body['per_hour_limit']}); last run: {body['run_failed']} of "
            f"{body['run_attempted']} records rejected (alert above {body['percent_limit']} %)."
        )
    elif body.get("message"):
        lines.append(body["message"])
    lines += ["", f"Export status: {body['status_url']}"]
    if body.get("error_url"):
        lines.append(f"The record's error: {body['error_url']}")
    lines += ["", f"Event {body['event']} at {body['at']}."]
    return "\n".join(lines) + "\n"


def _pause_lines(body: dict[str, Any]) -> list[str]:
    error = "Was:    " if body["event"] == "resumed" else "Error:  "
    lines = [
        f"Record: #{body['record_id']} {body.get('sobject')} {body.get('external_id')}",
        f"{error}{body.get('error_code')}: {body.get('error_message')}",
    ]
    if body.get("fields"):
        lines.append(f"Fields: {', '.join(body['fields'])}")
    lines.append(f"Paused since: {body.get('paused_since')}")
    if body["event"] == "resumed":
        if body.get("how") == "went_through":
            lines.append("The record went through; the export goes on from it.")
        else:
            lines.append(
                "Pause on export errors was turned off: the record stays an open export "
                "error (re-exported daily) and the export went on past it."
            )
        return lines
    lines += [
        "",
        "Nothing after this record is exported until it goes through; every run retries it.",
        f"What to do: {body['fix_hint']}",
    ]
    return lines


def _duration(body: dict[str, Any]) -> str:
    seconds = body.get("paused_seconds")
    if seconds is None:
        return "an unknown time"
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    if hours >= 48:
        return f"{hours // 24} days"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest % 60} s" if minutes else f"{rest} s"


def _link(path: str) -> str:
    return f"{settings.CRMSYNC_BASE_URL}{path}"
