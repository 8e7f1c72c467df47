"""salesforce.isolation narrows a failure that is not about one record down to the record that
fails alone, within 2·⌈log2 n⌉ + 2 extra calls for an n-record call, in order: a table of
cases over an org stand-in that fails a whole chunk (or transaction) the way real orgs do."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from salesforce.isolation import CPU_LIMIT, halves, isolate
from salesforce.wire import NOT_SENT, Batch, RecordResult

TRIGGER = RecordResult(
    False, error_code="CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", message="ContactTrigger: boom"
)


class ChunkFailingOrg:
    """Every batch (chunk) holding a guilty record fails whole; with all-or-none a failure
    rolls back the call; a call over `cpu_limit` records fails whole with the CPU limit."""

    def __init__(self, guilty: set[str], cpu_limit: int = 10**9) -> None:
        self.guilty, self.cpu_limit = guilty, cpu_limit
        self.calls: list[list[str]] = []
        self.written: list[str] = []
        self.all_or_none = True

    def send(self, batches: Sequence[Batch]) -> list[RecordResult]:
        records = [r for b in batches for r in b.records]
        self.calls.append(records)
        if len(records) > self.cpu_limit:
            cpu = RecordResult(False, error_code=TRIGGER.error_code, message=CPU_LIMIT)
            return [cpu] * len(records)
        results: list[RecordResult] = []
        for batch in batches:
            bad = any(r in self.guilty for r in batch.records)
            results += [TRIGGER if bad else RecordResult(True)] * len(batch.records)
        if self.all_or_none and not all(r.ok for r in results):
            # The failing chunk's records keep the trigger's error; the rest is rolled back.
            return [r if not r.ok else NOT_SENT for r in results]
        self.written += [r for r, res in zip(records, results, strict=True) if res.ok]
        return results


def call_of(n: int, per_batch: int = 200) -> list[Batch]:
    names = [f"r{i}" for i in range(n)]
    return [Batch("Contact", "ExtId__c", names[k : k + per_batch]) for k in range(0, n, per_batch)]


@pytest.mark.parametrize("n", [2, 3, 7, 200, 1000])
def test_pause_on_parks_at_the_guilty_record_within_the_budget(n):
    for position in sorted({0, 1, n // 3, n // 2, n - 1}):
        org = ChunkFailingOrg({f"r{position}"})
        results = isolate(org.send, call_of(n), all_or_none=True)

        assert [r.ok for r in results[:position]] == [True] * position
        assert results[position] is TRIGGER
        assert all(r.rolled_back for r in results[position + 1 :])
        assert org.written == [f"r{i}" for i in range(position)]
        assert len(org.calls) - 1 <= 2 * math.ceil(math.log2(n)) + 2, (n, position)


@pytest.mark.parametrize("n", [2, 7, 200, 1000])
def test_pause_off_rejects_each_guilty_record_alone_and_writes_the_rest(n):
    guilty = {f"r{k}" for k in {0, n // 2, n - 1}}
    org = ChunkFailingOrg(guilty)
    org.all_or_none = False

    results = isolate(org.send, call_of(n), all_or_none=False)

    failed = {f"r{k}" for k, r in enumerate(results) if not r.ok}
    assert failed == guilty
    assert sorted(org.written) == sorted(f"r{i}" for i in range(n) if f"r{i}" not in guilty)
    assert len(org.calls) - 1 <= len(guilty) * (2 * math.ceil(math.log2(n)) + 2)


def test_the_cpu_limit_is_split_until_the_pieces_pass_with_no_rejection():
    org = ChunkFailingOrg(set(), cpu_limit=666)

    results = isolate(org.send, call_of(1000), all_or_none=True)

    assert all(r.ok for r in results)
    assert org.written == [f"r{i}" for i in range(1000)]
    assert [len(c) for c in org.calls] == [1000, 500, 500]


def test_one_validation_rule_failing_every_record_is_not_a_search():
    """Codes Salesforce decides record by record are each record's own rejection."""
    rule = RecordResult(False, error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION", message="x")
    calls = []

    def send(batches):
        calls.append(batches)
        return [rule] * sum(len(b.records) for b in batches)

    results = isolate(send, call_of(200), all_or_none=False)

    assert results == [rule] * 200 and len(calls) == 1


def test_halves_keep_each_batch_object_and_the_order():
    batches = [Batch("A", "X", ["a1", "a2", "a3"]), Batch("B", "Y", ["b1", "b2", "b3"])]

    head, tail = halves(batches)

    assert [(b.sobject, list(b.records)) for b in head] == [("A", ["a1", "a2", "a3"])]
    assert [(b.sobject, list(b.records)) for b in tail] == [("B", ["b1", "b2", "b3"])]
    head, tail = halves([Batch("A", "X", ["a1", "a2", "a3"])])
    assert ([list(b.records) for b in head], [list(b.records) for b in tail]) == (
        [["a1"]],
        [["a2", "a3"]],
    )
