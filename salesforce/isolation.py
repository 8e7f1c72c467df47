"""Only the guilty record is rejected: narrow a failure that is not about one record down to
the record that fails alone (docs/architecture.md › Isolation).

Real orgs fail more than one record for one record's fault:
- an unhandled exception in an Apex trigger or flow fails every record of its 200-record
  chunk with the same CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY error;
- the Apex CPU limit (10 s a transaction) fails every record of the transaction, although
  each record alone is fine;
- a value Salesforce cannot parse (a bad date) refuses the whole request with a 400.

`isolate(send, batches, all_or_none)` sends a call and, when its answer shows such a failure,
sends smaller pieces in order until the failure is pinned to one record:

1. Send the call. No batch failed as a group → its results stand.
2. All-or-none (pause on): nothing was written. Split the call's records in two halves and
   treat each like the call (recursively), in order. A half that fails stops it: the
   records after it are not sent (they come back rolled back). When the first half went
   through and the failure does not depend on the records sent together (not the CPU
   limit), the second half holds the culprit: it is split at once instead of being sent
   whole first. At most ⌈log2 n⌉ + 1 calls for an n-record call, 2·⌈log2 n⌉ + 2 for the CPU
   limit.
3. Partial success (pause off): the other batches were written. Each batch that failed as a
   group is split in halves and each half treated like the call (a second half is split
   at once when the first went through, as above; when the first failed too, the second
   is sent: it may hold another guilty record or none).
4. One record whose own request fails is the guilty one: its result is the rejection.

A batch fails "as a group" when its records failed with the CPU limit, when its request was
refused as a whole (`RecordResult.whole`), or when more than one record failed and they all
share one code that Apex automation reports (GROUP_CODES) and one message. Codes Salesforce
decides record by record (validation rules, required fields, …) are never isolated: a batch
whose every record breaks one validation rule is that many rejections, not a search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from salesforce.wire import NOT_SENT, Batch, RecordResult

# Errors Apex triggers, flows and the platform raise for a whole chunk as readily as for a record.
GROUP_CODES = frozenset({"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "UNKNOWN_EXCEPTION"})
CPU_LIMIT = "Apex CPU time limit exceeded"

Send = Callable[[Sequence[Batch]], list[RecordResult]]


def is_cpu_limit(result: RecordResult) -> bool:
    return not result.ok and CPU_LIMIT in result.message


def isolate(send: Send, batches: Sequence[Batch], all_or_none: bool) -> list[RecordResult]:
    """Send `batches` as one call; narrow a group failure down to its record (see above)."""
    return _isolate(send, list(batches), all_or_none, known_bad=False)


def _isolate(
    send: Send, batches: list[Batch], all_or_none: bool, known_bad: bool
) -> list[RecordResult]:
    count = sum(len(b.records) for b in batches)
    if known_bad and count > 1:  # the caller proved this piece holds the culprit
        return _halves_in_order(send, batches, all_or_none, deterministic=True)
    results = send(batches)
    groups = group_failures(batches, results, all_or_none)
    if not groups or count == 1:
        return results
    deterministic = not any(is_cpu_limit(r) for r in results)
    if all_or_none or len(batches) == 1:
        return _halves_in_order(send, batches, all_or_none, deterministic)
    spans = _spans(batches)
    for k in groups:
        start, end = spans[k]
        results[start:end] = _isolate(send, [batches[k]], all_or_none, known_bad=False)
    return results


def _halves_in_order(
    send: Send, batches: list[Batch], all_or_none: bool, deterministic: bool
) -> list[RecordResult]:
    head, tail = halves(batches)
    first = _isolate(send, head, all_or_none, known_bad=False)
    tail_count = sum(len(b.records) for b in tail)
    head_ok = all(r.ok for r in first)
    if all_or_none and not head_ok:
        return first + [NOT_SENT] * tail_count
    # The head went through, so a deterministic failure is in the tail.
    return first + _isolate(send, tail, all_or_none, known_bad=head_ok and deterministic)


def group_failures(
    batches: Sequence[Batch], results: Sequence[RecordResult], all_or_none: bool
) -> list[int]:
    """Indices of the batches whose failure is not about one record. All-or-none: only the
    batch of the first failure counts (nothing after it was processed)."""
    found = []
    for k, (start, end) in enumerate(_spans(batches)):
        part = results[start:end]
        failed = [r for r in part if not r.ok and not r.rolled_back and not r.transient]
        if all_or_none and failed:
            return [k] if _is_group(part, failed) else []
        if failed and _is_group(part, failed):
            found.append(k)
    return found


def _is_group(part: Sequence[RecordResult], failed: list[RecordResult]) -> bool:
    if any(is_cpu_limit(r) for r in failed):
        return True
    if len(part) < 2:
        return False
    if any(r.whole for r in failed):
        return True
    first = failed[0]
    return (
        len(failed) == len(part)
        and first.error_code in GROUP_CODES
        and all(r.error_code == first.error_code and r.message == first.message for r in failed)
    )


def halves(batches: Sequence[Batch]) -> tuple[list[Batch], list[Batch]]:
    """Split a call's records in two halves, in order, keeping each batch's object."""
    middle = sum(len(b.records) for b in batches) // 2
    head: list[Batch] = []
    tail: list[Batch] = []
    seen = 0
    for batch in batches:
        cut = max(0, min(len(batch.records), middle - seen))
        if cut:
            head.append(replace(batch, records=batch.records[:cut]))
        if cut < len(batch.records):
            tail.append(replace(batch, records=batch.records[cut:]))
        seen += len(batch.records)
    return head, tail


def _spans(batches: Sequence[Batch]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for batch in batches:
        spans.append((start, start + len(batch.records)))
        start += len(batch.records)
    return spans
