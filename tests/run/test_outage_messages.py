"""`exports.run.outage`: the words of retry notes and of a run's final reason, by a table."""

from __future__ import annotations

import pytest
from celery.exceptions import MaxRetriesExceededError, SoftTimeLimitExceeded
from django.db import OperationalError

from exports.run.outage import failure_message, reason, retry_note
from salesforce.client import TransientError

REFUSED = TransientError(
    "Could not reach the Salesforce login at https://acme.my.salesforce.com/services/oauth2/"
    "token (connection refused).",
    "CONNECTION",
)
TIMEOUT = TransientError("Salesforce at https://na1.salesforce.com did not answer within 30s.", "TIMEOUT")  # fmt: skip
UNAVAILABLE = TransientError(
    "Salesforce answered PATCH composite/sobjects/Contact/ExtId__c with HTTP 503 : down.",
    "HTTP_503",
)
LOCKED = TransientError("Salesforce answered ... UNABLE_TO_LOCK_ROW: busy.", "UNABLE_TO_LOCK_ROW")
RESUME = "nothing was skipped: the next scheduled run resumes at record #30 (or now: python manage.py crm_export --account acme)."  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (REFUSED, "connection refused"),
        (TIMEOUT, "no answer in time"),
        (UNAVAILABLE, "HTTP 503"),
        (LOCKED, "UNABLE_TO_LOCK_ROW"),
        (OperationalError("server closed the connection"), "the database is unavailable"),
        (SoftTimeLimitExceeded(), "past the soft time limit"),
        (None, "Salesforce asked to retry some records"),
    ],
)
def test_retry_note(exc, words):
    assert reason(exc) == words
    assert retry_note(3, 6, 15.2, exc) == f"retry 3/6 in 15 s: {words}"


@pytest.mark.parametrize(
    ("exc", "attempts", "seconds", "expected"),
    [
        (
            REFUSED,
            7,
            62.4,
            "The org at https://acme.my.salesforce.com refused the connection 7 times in a row "
            "over 62 s; check the login URL in the account's CRM settings and that the org is "
            f"reachable from this machine; {RESUME}",
        ),
        (
            TIMEOUT,
            7,
            None,  # the run had made calls before: when the failures began is not known
            "The org at https://na1.salesforce.com did not answer in time 7 times in a row; "
            "check that the org is reachable; a slow org may need a longer request timeout in "
            f"the account's CRM settings; {RESUME}",
        ),
        (
            UNAVAILABLE,
            1,
            3,
            "Salesforce answered HTTP 503 once; Salesforce is unavailable; "
            f"check https://status.salesforce.com; {RESUME}",
        ),
        (
            LOCKED,
            4,
            None,
            "Salesforce kept the records locked 4 times in a row; another process in "
            f"Salesforce is writing the same records; it usually passes once that is done; {RESUME}",
        ),
        (
            OperationalError("server closed the connection"),
            7,
            None,
            "The database could not be used (server closed the connection) 7 times in a row; "
            f"check that the database (DATABASE_URL) is up; {RESUME}",
        ),
        (
            MaxRetriesExceededError(),
            7,
            None,
            "Salesforce kept asking to retry some records (rows locked, limits) 7 times in a "
            f"row; check the worker's log for the details; {RESUME}",
        ),
    ],
)
def test_failure_message(exc, attempts, seconds, expected):
    message = failure_message(exc, attempts, seconds, 30, "acme")

    assert message == expected
    assert "will retry" not in message


def test_failure_message_without_a_record_to_resume_at():
    message = failure_message(REFUSED, 7, 62, None, "acme")

    assert message.endswith(
        "nothing was skipped: the next scheduled run starts where this one stopped "
        "(or now: python manage.py crm_export --account acme)."
    )
