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
from exports.keymap import KeyWrite, fold
from exports.run import decisions, field_types
from exports.run.decisions import CallDecision, CallSize
from exports.run.payload import Row, batches_of
from salesforce.client import Gateway
from salesforce.collections import is_salesforce_id
from salesforce.lookup import find_ids
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
    written: Written | None = None  # what the written records became (the key map)

    def key_writes(self) -> tuple[KeyWrite, ...]:
        """The key map's view of the written records (worked out in the link's thread)."""
        return self.written.key_writes() if self.written else ()

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

    1. Deletions the key map had no Id for are looked up in the org; a key the org does
       not have is done ("already absent") unsent. 2. A value its field's type cannot take
       is rejected unsent (`_wrong_types`). 3. Send the rest as one pass (the gateway
       narrows a group failure down to the guilty record); with pause on, resend the
       rolled-back clean prefix as another pass until it settles. 4. An answer meaning
       "done already" (`_done_anyway`) is done, not an error; with pause on what it
       rolled back goes again as another pass.
    """
    gateway.send_by = send_by
    resolved, preset = _resolve_deletions(gateway, rows)
    if resolved is not rows:  # Ids found: batched again
        rows, batches = resolved, []
    by_id = {row.key.id: row for row in rows}
    preset.update(_wrong_types(gateway, rows))
    pending = rows
    passes: list[CallDecision] = []
    final: dict[int, RecordResult] = {i: r for i, r in preset.items() if r.ok}
    anyway = False  # a record was answered "done already"
    while True:
        ids = [row.key.id for row in pending]
        if passes or preset:  # some of the rows, batched again
            batches = []
        results = _send_pass(gateway, pending, batches, preset, pause_on, size)
        done = (
            [_done_anyway(row, r, version_field) for row, r in zip(pending, results, strict=True)]
            if not all(r.ok for r in results)  # (a thousand written, usually)
            else []
        )
        if any(done):
            anyway = True
            results = [d or r for r, d in zip(results, done, strict=True)]
            rolled = [i for i, r in zip(ids, results, strict=True) if not r.ok]
            if pause_on and rolled and all(r.ok or r.rolled_back for r in results):
                final.update((i, r) for i, r in zip(ids, results, strict=True) if r.ok)
                passes.append(CallDecision(written=tuple(i for i in ids if i not in rolled)))
                pending = [by_id[i] for i in rolled]
                continue
        final.update((i, r) for i, r in zip(ids, results, strict=True) if r.ok)
        passes.append(decisions.decide(ids, results, pause_on))
        if passes[-1].retry or not passes[-1].resend:
            decision = decisions.settle([row.key.id for row in rows], passes, pause_on)
            if anyway and decision.pause_at is None and not decision.retry:
                decision = dataclasses.replace(decision, cursor_to=rows[-1].key.id)
            sensitive = _case_sensitive(gateway, [by_id[i] for i in decision.written])
            written = Written(by_id, decision.written, final, sensitive)
            return _answer(gateway, decision, written)
        pending = [by_id[i] for i in passes[-1].resend]


def _answer(gateway: Gateway, decision: CallDecision, written: Written) -> Answer:
    return Answer(
        decision,
        gateway.api_calls,
        gateway.api_usage,
        gateway.cpu_limited,
        gateway.slowest_call_s,
        written,
    )


# The org's validation rule on the account's version field refused a record: the org holds
# a newer write of it (docs/semantics.md › The version field). The record is done.
_VALIDATION = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
DONE_NEWER = RecordResult(True)
# A deletion of a record the org does not have (deleted already, or never there): the
# wanted state holds (docs/semantics.md › Deletions).
ALREADY_ABSENT = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
DONE_ABSENT = RecordResult(True)


def _done_anyway(row: Row, result: RecordResult, version_field: str) -> RecordResult | None:
    """DONE_ABSENT / DONE_NEWER when the org's refusal means the record is done, else None."""
    if result.ok or result.rolled_back:
        return None
    if row.key.delete:
        return DONE_ABSENT if result.error_code in ALREADY_ABSENT else None
    if version_field and result.error_code == _VALIDATION and version_field in result.fields:
        return DONE_NEWER
    return None


def _resolve_deletions(
    gateway: Gateway, rows: list[Row]
) -> tuple[list[Row], dict[int, RecordResult]]:
    """`rows` with the Salesforce Id of every deletion the key map did not know, looked up
    in the org; the deletions of keys the org does not have, each DONE_ABSENT."""
    missing: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if row.key.delete and not is_salesforce_id(row.payload):
            missing.setdefault((row.key.sobject, row.key.external_id_field), []).append(
                row.key.external_id
            )
    if not missing:
        return rows, {}
    found = {
        (sobject, field, ext): sf_id
        for (sobject, field), values in missing.items()
        for ext, sf_id in find_ids(gateway, sobject, field, values).items()
    }
    resolved, absent = [], {}
    for row in rows:
        if row.key.delete and not is_salesforce_id(row.payload):
            sf_id = found.get((row.key.sobject, row.key.external_id_field, row.key.external_id))
            if sf_id is None:
                absent[row.key.id] = DONE_ABSENT
            row = Row(row.key, sf_id or "")
        resolved.append(row)
    return resolved, absent


def _case_sensitive(gateway: Gateway, rows: list[Row]) -> dict[tuple[str, str], bool]:
    """Per (object, external id field) of `rows`: does the org compare its values by case?
    (From the describe the gateway holds: asked here, in the HTTP thread, which owns it.)"""
    targets = {(row.key.sobject, row.key.external_id_field) for row in rows}
    return {target: gateway.external_id_case_sensitive(*target) for target in targets}


@dataclass(frozen=True)
class Written:
    """A call's written records and their results, turned into key map writes when the
    cursor move asks: in the link's thread, while the next call is in flight, not in the
    HTTP thread between an answer and the next request."""

    by_id: dict[int, Row]
    written: tuple[int, ...]
    final: dict[int, RecordResult]
    case_sensitive: dict[tuple[str, str], bool]

    def key_writes(self) -> tuple[KeyWrite, ...]:
        """Each written key, folded as the org compares it, with its Salesforce Id (an
        upsert's answer; a deletion's Id, None when already absent). A record refused as
        older than the org's wrote nothing and is left out."""
        writes = []
        for record_id in self.written:
            result, row = self.final.get(record_id), self.by_id[record_id]
            if result is None or result is DONE_NEWER:
                continue
            key = row.key
            sensitive = self.case_sensitive[(key.sobject, key.external_id_field)]
            sf_id = (row.payload or None) if key.delete else result.sf_id
            writes.append(
                KeyWrite(
                    record_id,
                    key.sobject,
                    key.external_id_field,
                    fold(key.external_id, sensitive),
                    key.external_id,
                    sf_id,
                    None if key.delete else result.created,
                    key.delete,
                )
            )
        return tuple(writes)


def _wrong_types(gateway: Gateway, rows: list[Row]) -> dict[int, RecordResult]:
    """The records holding a value their field's type cannot take, each with the error the
    org's JSON parser would give the whole request (field types from the object's describe)."""
    checked: dict[str, dict[str, str]] = {}
    refused = {}
    for row in rows:
        if row.key.delete:
            continue
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


def _refused(preset: dict[int, RecordResult], row: Row) -> bool:
    return row.key.id in preset and not preset[row.key.id].ok


def _send_pass(
    gateway: Gateway,
    rows: list[Row],
    batches: list[Batch],
    preset: dict[int, RecordResult],
    pause_on: bool,
    size: int,
) -> list[RecordResult]:
    """Send `rows` in one pass (as `batches`, or batched here) except the `preset` ones,
    which keep their result (a refusal, or done already); with pause on nothing after the
    first preset refusal is sent."""
    if not preset:
        return gateway.upsert_batches(batches or batches_of(rows, size), all_or_none=pause_on)
    cut = len(rows)
    if pause_on:
        cut = next(
            (k for k, row in enumerate(rows) if not preset.get(row.key.id, DONE_NEWER).ok), cut
        )
    sent = [row for row in rows[:cut] if row.key.id not in preset]
    answers = iter(
        gateway.upsert_batches(batches_of(sent, size), all_or_none=pause_on) if sent else []
    )
    head = [preset.get(row.key.id) or next(answers) for row in rows[:cut]]
    if cut == len(rows):
        return head
    return [*head, preset[rows[cut].key.id], *[NOT_SENT] * (len(rows) - cut - 1)]
