"""What a person reads when calls keep failing: the retry notes and the final reason.

Pure functions over the exception a link's task met (a transient `GatewayError`, or a
database or time-limit fault) and plain numbers, so the words are tested by tables:

- `reason(exc)`: a few words for a retry line ("connection refused", "HTTP 503").
- `retry_note(...)`: "retry 3/6 in 15 s: connection refused" (the run's message while
  it waits, `crm_export --progress`, the worker's `export.batch.retry` line).
- `failure_message(...)`: the run's final reason once the retries ran out: what
  happened, how often, what to check, and where the next run resumes. Never "will retry".

The gateway names the URL it tried in every network error message ("Could not reach
Salesforce at https://…"); `failure_message` takes the org's address from there.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from celery.exceptions import MaxRetriesExceededError, SoftTimeLimitExceeded
from django.db import DatabaseError
from django.db.utils import InterfaceError

from salesforce.client import GatewayError

_URL = re.compile(r"https?://[^\s()]+")
_LAST_PARENTHESIS = re.compile(r"\(([^()]+)\)\.?\s*$")

# What Salesforce answered, as the end of "The org at … <what> N times".
_ANSWERS = {
    "UNABLE_TO_LOCK_ROW": "kept the records locked",
    "REQUEST_LIMIT_EXCEEDED": "refused the calls over its API limit",
    "SERVER_UNAVAILABLE": "answered that it is unavailable",
}
# What to check, by the kind of fault.
_ADVICE = {
    "CONNECTION": "check the login URL in the account's CRM settings and that the org is "
    "reachable from this machine",
    "TIMEOUT": "check that the org is reachable; a slow org may need a longer request "
    "timeout in the account's CRM settings",
    "UNABLE_TO_LOCK_ROW": "another process in Salesforce is writing the same records; "
    "it usually passes once that is done",
    "REQUEST_LIMIT_EXCEEDED": "the org's daily API limit is used up; it resets over 24 hours",
}
SERVER_ADVICE = "Salesforce is unavailable; check https://status.salesforce.com"
DATABASE_ADVICE = "check that the database (DATABASE_URL) is up"


def reason(exc: BaseException | None) -> str:
    """A few words on why a call is retried."""
    if exc is None:
        return "Salesforce asked to retry some records"
    if isinstance(exc, GatewayError):
        if exc.code == "CONNECTION":
            found = _LAST_PARENTHESIS.search(exc.message)
            return found.group(1) if found else "could not connect"
        if exc.code == "TIMEOUT":
            return "no answer in time"
        if exc.code.startswith("HTTP_"):
            return f"HTTP {exc.code.removeprefix('HTTP_')}"
        return exc.code or "transient error"
    if isinstance(exc, DatabaseError | InterfaceError):
        return "the database is unavailable"
    if isinstance(exc, SoftTimeLimitExceeded):
        return "past the soft time limit"
    return type(exc).__name__


def retry_note(
    attempt: int, max_retries: int | None, countdown: float, exc: BaseException | None
) -> str:
    """ "retry 3/6 in 15 s: connection refused" (`max_retries` None: the task's is unset)."""
    return f"retry {attempt}/{max_retries} in {countdown:.0f} s: {reason(exc)}"


def failure_message(
    exc: BaseException,
    attempts: int,
    seconds: float | None,
    resume_at: int | None,
    account: str,
) -> str:
    """The run's reason once a call failed `attempts` times in a row.

    1. What happened, how often, and over how long (`seconds`: None when the run had
       done other calls before, so the start of the failures is not known).
    2. What to check, by the kind of fault.
    3. Where the next run resumes: nothing was skipped.
    """
    times = "once" if attempts == 1 else f"{attempts} times in a row"
    over = f" over {seconds:.0f} s" if seconds is not None and attempts > 1 else ""
    resume = (
        f"nothing was skipped: the next scheduled run resumes at record #{resume_at}"
        if resume_at is not None
        else "nothing was skipped: the next scheduled run starts where this one stopped"
    )
    now = f"(or now: python manage.py crm_export --account {account})"
    return f"{_what_happened(exc)} {times}{over}; {_advice(exc)}; {resume} {now}."


def _what_happened(exc: BaseException) -> str:
    if isinstance(exc, DatabaseError | InterfaceError):
        return f"The database could not be used ({exc})"
    if isinstance(exc, SoftTimeLimitExceeded):
        return "A call ran past the soft time limit (CELERY_TASK_SOFT_TIME_LIMIT)"
    if isinstance(exc, MaxRetriesExceededError):
        return "Salesforce kept asking to retry some records (rows locked, limits)"
    if not isinstance(exc, GatewayError):
        return f"A call failed ({type(exc).__name__}: {exc})"
    where = _origin(exc.message)
    org = f"The org at {where}" if where else "Salesforce"
    if exc.code == "CONNECTION":
        why = reason(exc)
        if "refused" in why.lower():
            return f"{org} refused the connection"
        return f"{org} could not be reached ({why})"
    if exc.code == "TIMEOUT":
        return f"{org} did not answer in time"
    if exc.code in _ANSWERS:
        return f"{org} {_ANSWERS[exc.code]}"
    return f"{org} answered {reason(exc)}"


def _advice(exc: BaseException) -> str:
    if isinstance(exc, DatabaseError | InterfaceError):
        return DATABASE_ADVICE
    code = exc.code if isinstance(exc, GatewayError) else ""
    if code in _ADVICE:
        return _ADVICE[code]
    if code.startswith("HTTP_5") or code == "SERVER_UNAVAILABLE":
        return SERVER_ADVICE
    return "check the worker's log for the details"


def _origin(message: str) -> str:
    """scheme://host[:port] of the first URL in `message`, or ""."""
    found = _URL.search(message)
    if not found:
        return ""
    parts = urlsplit(found.group(0))
    return f"{parts.scheme}://{parts.netloc}"
