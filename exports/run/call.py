"""One call: a run's records sent to Salesforce in one API request, and its answer.

A call carries up to CRMSYNC_BATCHES_PER_CALL batches. `send` runs in the HTTP thread
(`exports.run.overlap`); the link reads the `Answer` and applies it (`exports.run.cursor_move`).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from dataclasses import dataclass

from django.conf import settings

from accounts.models import CRMSettings
from exports.run import decisions, field_types
from exports.run.decisions import CallDecision, CallSize
from exports.run.payload import Row, batches_of
from salesforce.client import Gateway
from salesforce.wire import NOT_SENT, Batch, RecordResult

_PARSER = "JSON_PARSER_ERROR"


@dataclass(frozen=True)
class Answer:
    """A call's answer: what it means, the API requests it took, the org's API usage after."""

    decision: CallDecision
    api_calls: int
    api_usage: tuple[int, int] | None
    cpu_limited: bool = False  # a request met the Apex CPU limit
    slowest_call_s: float = 0.0

    def near_api_limit(self, crm: CRMSettings) -> bool:
        """Is the org's API usage above the share of the daily limit a run may use?"""
        if not self.api_usage:
            return False
        return decisions.over_api_quota(
            self.api_usage[0],
            self.api_usage[1],
            crm.daily_api_limit,
            settings.CRMSYNC_API_QUOTA_SHARE,
        )


@dataclass(frozen=True)
class CallPlan:
    """A call ready to go out: its records and their batches (after record `after_id`, or
    the ones a retry names, `only`, up to `until_id`), cut for `size`; `send_by`: the last
    moment (monotonic) a request of it may go out under the link's claim to send; `last`:
    no record waited after these when they were read (the run ends with this call)."""

    crm: CRMSettings
    after_id: int
    rows: list[Row]
    batches: list[Batch]
    size: CallSize
    send_by: float
    last: bool = False
    until_id: int | None = None
    only: list[int] | None = None


@dataclass(frozen=True)
class Call:
    """A call on its way: its records (after `after_id`, or the ones a retry names up to
    `until_id`), the gateway it went out on, and its answer to come. `last`: no record
    waited after its records when they were read (the run ends with this call)."""

    crm: CRMSettings
    after_id: int
    until_id: int | None
    only: list[int] | None
    rows: list[Row]
    gateway: Gateway
    answer: Future[Answer]
    last: bool = False


def send(
    gateway: Gateway,
    rows: list[Row],
    batches: list[Batch],
    pause_on: bool,
    size: int,
    send_by: float | None = None,
    version_field: str = "",
) -> Answer:
    """Send a call's batches. Runs in the HTTP thread; the gateway's counters start at zero;
    no request goes out after `send_by` (monotonic: the link's claim to send, `claim`);
    `version_field`: the account's (CRMSettings.version_field), "" for none.

    1. Records with a value their field's type cannot take (per describe) are rejected
       without being sent (`_wrong_types`).
    2. Send the rest as one pass (narrowed down to the guilty record by the gateway when
       a failure is not about one record); with pause on, resend the rolled-back clean
       prefix as another pass until it settles.
    3. A record the org refused because it holds a newer version (the account's version
       field, `_older`) is done, not an error; with pause on the records its refusal
       rolled back go again as another pass.
    """
    gateway.send_by = send_by
    by_id = {row.key.id: row for row in rows}
    refused = _wrong_types(gateway, rows)
    pending = rows
    passes: list[CallDecision] = []
    newer = False  # a record was refused as older than the org's
    while True:
        ids = [row.key.id for row in pending]
        if passes or refused:  # some of the rows, batched again
            batches = []
        results = _upsert_typed(gateway, pending, batches, refused, pause_on, size)
        older = [_older(r, version_field) for r in results]
        if any(older):
            newer = True
            results = [DONE_NEWER if old else r for r, old in zip(results, older, strict=True)]
            rolled = [i for i, r in zip(ids, results, strict=True) if not r.ok]
            if pause_on and rolled and all(r.ok or r.rolled_back for r in results):
                passes.append(CallDecision(written=tuple(i for i in ids if i not in rolled)))
                pending = [by_id[i] for i in rolled]
                continue
        passes.append(decisions.decide(ids, results, pause_on))
        if passes[-1].retry or not passes[-1].resend:
            decision = decisions.settle([row.key.id for row in rows], passes, pause_on)
            if newer and decision.pause_at is None and not decision.retry:
                decision = dataclasses.replace(decision, cursor_to=rows[-1].key.id)
            return Answer(
                decision,
                gateway.api_calls,
                gateway.api_usage,
                gateway.cpu_limited,
                gateway.slowest_call_s,
            )
        pending = [by_id[i] for i in passes[-1].resend]


# The org's validation rule on the account's version field refused a record: the org holds
# a newer write of it (docs/semantics.md › The version field). The record is done.
_VALIDATION = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
DONE_NEWER = RecordResult(True)


def _older(result: RecordResult, version_field: str) -> bool:
    return (
        bool(version_field)
        and not result.ok
        and not result.rolled_back
        and result.error_code == _VALIDATION
        and version_field in result.fields
    )


def _wrong_types(gateway: Gateway, rows: list[Row]) -> dict[int, RecordResult]:
    """The records holding a value their field's type cannot take, each with the error the
    org's JSON parser would give the whole request (field types from the object's describe)."""
    checked: dict[str, dict[str, str]] = {}
    refused = {}
    for row in rows:
        sobject = row.key.sobject
        if sobject not in checked:
            checked[sobject] = field_types.checked_fields(gateway.field_types(sobject))
        if not checked[sobject]:
            continue
        wrong = field_types.type_error(row.payload, checked[sobject])
        if wrong is not None:
            field, message = wrong
            refused[row.key.id] = RecordResult(False, None, None, _PARSER, message, (field,))
    return refused


def _upsert_typed(
    gateway: Gateway,
    rows: list[Row],
    batches: list[Batch],
    refused: dict[int, RecordResult],
    pause_on: bool,
    size: int,
) -> list[RecordResult]:
    """Upsert `rows` in one pass (as `batches`, or batched here) except the `refused` ones,
    which keep their error; with pause on nothing after the first refused record is sent."""
    cut = (
        next((k for k, row in enumerate(rows) if row.key.id in refused), None) if refused else None
    )
    if cut is None:
        return gateway.upsert_batches(batches or batches_of(rows, size), all_or_none=pause_on)
    if pause_on:
        head = gateway.upsert_batches(batches_of(rows[:cut], size), all_or_none=True)
        return [*head, refused[rows[cut].key.id], *[NOT_SENT] * (len(rows) - cut - 1)]
    sent = [row for row in rows if row.key.id not in refused]
    answers = iter(gateway.upsert_batches(batches_of(sent, size), all_or_none=False))
    return [refused.get(row.key.id) or next(answers) for row in rows]
