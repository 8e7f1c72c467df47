"""What a call's results mean. Pure functions over plain values, no I/O.

A link (`exports.run.link`) reads a call's records, sends them through the gateway
(`exports.run.call`), asks `decide()` what each pass's answer means and `settle()` what
the call's passes mean together, and applies the decision (`exports.run.cursor_move`).
The pause semantics live here and nowhere else:

Pause on (the call was sent all-or-none):
  1. Every record written → the cursor moves to the call's end.
  2. Find the first record that is neither written nor merely rolled back.
  3. It failed transiently (row lock…) → keep what is written, retry the rest later.
  4. It was rejected → the records before it that were rolled back are sent again
     on their own (`resend`); the cursor moves to just before the rejected record,
     an ExportError is opened for it and the cursor is parked there (`pause_at`).
     Nothing after the rejected record is written.

Pause off (the call was sent with partial success):
  1. Written records are done; each rejected record gets an ExportError.
  2. Records that failed transiently are retried later, alone (`retry`);
     until they pass the cursor stays where it was.
  3. Otherwise the cursor moves to the call's end and the run goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from salesforce.wire import RecordResult


@dataclass(frozen=True)
class Rejection:
    record_id: int
    error_code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallDecision:
    written: tuple[int, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    # Pause on: the clean prefix, rolled back with the rejected record; send it again alone.
    resend: tuple[int, ...] = ()
    # Transient per-record failures: send these again later (the cursor waits for them).
    retry: tuple[int, ...] = ()
    # The new `last_exported_id`, or None to leave the cursor where it is.
    cursor_to: int | None = None
    # Pause on: park the cursor at this record and stop the run.
    pause_at: int | None = None


def _rejection(record_id: int, result: RecordResult) -> Rejection:
    return Rejection(record_id, result.error_code, result.message, tuple(result.fields))


def decide(ids: Sequence[int], results: Sequence[RecordResult], pause_on: bool) -> CallDecision:
    """Turn one pass's results (one per record, in order) into a decision."""
    if len(ids) != len(results):
        raise ValueError(f"{len(results)} results for {len(ids)} records")
    if pause_on:
        return _decide_pause_on(ids, results)
    return _decide_pause_off(ids, results)


def settle(ids: Sequence[int], passes: Sequence[CallDecision], pause_on: bool) -> CallDecision:
    """Combine the decisions of one call's passes — the first, then any resent clean
    prefix — into what happens to the cursor.

    - The last pass needs a retry → keep what is written; with pause on the cursor moves
      over the unbroken written start of the call, with pause off it waits for the
      retried records (the call's rejections are logged now).
    - A pass parked a record → the earliest parked record wins (a resend only covers
      records before it); the cursor moves over the unbroken written start.
    - Otherwise the last pass's decision stands.
    """
    written = tuple(i for d in passes for i in d.written)
    last = passes[-1]
    parked = next((d for d in reversed(passes) if d.pause_at is not None), None)
    if last.retry:
        cursor_to = _end_of_written_ids(ids, set(written)) if pause_on else None
        return CallDecision(written, last.rejected, (), last.retry, cursor_to, None)
    if parked is not None:
        cursor_to = _end_of_written_ids(ids, set(written))
        return CallDecision(written, parked.rejected, (), (), cursor_to, parked.pause_at)
    return dataclasses.replace(last, written=written)


def _end_of_written_ids(ids: Sequence[int], written: set[int]) -> int | None:
    end = None
    for record_id in ids:
        if record_id not in written:
            break
        end = record_id
    return end


def _decide_pause_on(ids: Sequence[int], results: Sequence[RecordResult]) -> CallDecision:
    if all(r.ok for r in results):  # every record written (the common case, in one pass)
        return CallDecision(written=tuple(ids), cursor_to=ids[-1] if ids else None)
    written = tuple(i for i, r in zip(ids, results, strict=True) if r.ok)
    first_bad = next((k for k, r in enumerate(results) if not r.ok and not r.rolled_back), None)
    if first_bad is None:
        if len(written) == len(ids):
            return CallDecision(written=written, cursor_to=ids[-1] if ids else None)
        # Rolled back with no record to blame: nothing we can decide on; try again.
        return CallDecision(written=written, retry=_unwritten(ids, results), cursor_to=None)

    prefix_ids, prefix = ids[:first_bad], results[:first_bad]
    cursor_to = _end_of_written_prefix(prefix_ids, prefix)
    bad = results[first_bad]
    if bad.transient:
        return CallDecision(written=written, retry=_unwritten(ids, results), cursor_to=cursor_to)
    resend = tuple(i for i, r in zip(prefix_ids, prefix, strict=True) if not r.ok)
    return CallDecision(
        written=written,
        rejected=(_rejection(ids[first_bad], bad),),
        resend=resend,
        cursor_to=cursor_to,
        pause_at=ids[first_bad],
    )


def _decide_pause_off(ids: Sequence[int], results: Sequence[RecordResult]) -> CallDecision:
    pairs = list(zip(ids, results, strict=True))
    written = tuple(i for i, r in pairs if r.ok)
    rejected = tuple(_rejection(i, r) for i, r in pairs if not r.ok and not _retryable(r))
    retry = tuple(i for i, r in pairs if not r.ok and _retryable(r))
    cursor_to = None if retry or not ids else ids[-1]
    return CallDecision(written=written, rejected=rejected, retry=retry, cursor_to=cursor_to)


def _retryable(result: RecordResult) -> bool:
    return result.transient or result.rolled_back


def _unwritten(ids: Sequence[int], results: Sequence[RecordResult]) -> tuple[int, ...]:
    return tuple(i for i, r in zip(ids, results, strict=True) if not r.ok)


def _end_of_written_prefix(ids: Sequence[int], results: Sequence[RecordResult]) -> int | None:
    """The last id of the unbroken run of written records at the start, if any."""
    return _end_of_written_ids(ids, {i for i, r in zip(ids, results, strict=True) if r.ok})


def over_api_quota(used: int, org_limit: int, configured_limit: int, share: float) -> bool:
    """Stop starting batches above `share` of the lower of the two daily limits."""
    limits = [x for x in (org_limit, configured_limit) if x > 0]
    return bool(limits) and used >= share * min(limits)


class RecordKey(NamedTuple):  # a tuple: cheap to build, a thousand per call
    id: int
    sobject: str
    external_id_field: str
    external_id: str
    delete: bool = False  # a deletion (by the Salesforce Id the key map or a query gives)

    @property
    def target(self) -> tuple[str, str, str]:
        """The Salesforce record it writes: object, external id field, external id. Case is
        folded: real orgs' external ids usually ignore case ("ABC" and "abc" are one
        record), and where one does not, treating them as one only makes a call shorter."""
        return (self.sobject, self.external_id_field, self.external_id.casefold())


class CallSize(NamedTuple):
    """How many records a call carries at most, and a batch of it."""

    records: int
    per_batch: int


def call_size(adapted: int | None, batch_size: int, batches_per_call: int) -> CallSize:
    """The call size adapted to the org (`adapted`, None before anything was learned) under
    the admin's ceiling of `batch_size` × batches."""
    ceiling = batch_size * batches_per_call
    per_call = min(adapted or ceiling, ceiling)
    return CallSize(per_call, min(batch_size, per_call))


def next_records_per_call(
    current: int,
    carried: int,
    per_transaction: int,
    ceiling: int,
    cpu_limited: bool,
    call_seconds: float,
    target_seconds: float,
) -> int:
    """Records the account's next call carries, after a call of `carried` records sent when
    the size was `current`; `per_transaction` of them shared one Apex transaction (the whole
    call when all-or-none, else one batch).

    1. The call met the Apex CPU limit → half of a transaction's records.
    2. It took longer than the target server time → what fits the target at its pace.
    3. It was full and took less than half the target → a quarter more (grows back gradually).
    Always at least 1 and at most `ceiling` (the admin's batch size × batches per call).
    """
    if cpu_limited:
        wanted = per_transaction // 2
    elif call_seconds > target_seconds:
        wanted = int(carried * target_seconds / call_seconds)
    elif call_seconds < target_seconds / 2 and carried >= current:
        wanted = current + max(1, current // 4)
    else:
        wanted = current
    return max(1, min(ceiling, wanted))


def share_records(previous: Sequence[RecordKey], following: Sequence[RecordKey]) -> bool:
    """Do two calls write a record in common (object, external id field, external id)?"""
    written = {row.target for row in previous}
    return any(row.target in written for row in following)


def may_send_before_commit(decision: CallDecision, previous_end: int, shared: bool) -> bool:
    """May the next call go out before the cursor move of the call before it (`decision`,
    ending at record `previous_end`) is committed?

    Only if that call went through whole (the cursor moves to its end; no pause, nothing
    to retry) and the two calls write no record in common (`shared`, see share_records):
    a worker lost before the commit sends both again, in order, so together they must be
    what one call may carry (see split_batches), else an older record would be written
    after a newer one.
    """
    whole = decision.pause_at is None and not decision.retry and decision.cursor_to == previous_end
    return whole and not shared


def split_batches(
    rows: Sequence[RecordKey], batch_size: int, max_batches: int
) -> list[list[RecordKey]]:
    """What one API call carries: consecutive batches from the start of `rows`, at most
    `max_batches`. A batch holds records of one (sobject, external id field) and one
    operation (upserts or deletions), at most `batch_size`. The call ends before a record key (object, field, external id) repeats:
    within a batch Salesforce would reject it, and across batches a call sent again
    (after a lost answer or a killed worker) would write the older record after the newer.
    """
    batches: list[list[RecordKey]] = []
    seen: set[tuple[str, str, str]] = set()
    for row in rows:
        key = row.target
        if key in seen:
            break
        current = batches[-1] if batches else None
        if (
            current is None
            or len(current) >= batch_size
            or (row.sobject, row.external_id_field, row.delete)
            != (current[0].sobject, current[0].external_id_field, current[0].delete)
        ):
            if len(batches) == max_batches:
                break
            batches.append([])
        batches[-1].append(row)
        seen.add(key)
    return batches
