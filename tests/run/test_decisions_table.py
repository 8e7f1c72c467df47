"""The pause semantics as a table: a batch's results → what happens to the cursor."""

from __future__ import annotations

import pytest

from exports.run.decisions import (
    CallDecision,
    RecordKey,
    Rejection,
    decide,
    may_send_before_commit,
    over_api_quota,
    settle,
    share_records,
    split_batches,
)
from salesforce.client import RecordResult

OK = RecordResult(ok=True, sf_id="003", created=True)
ROLLED = RecordResult(ok=False, error_code="ALL_OR_NONE_OPERATION_ROLLED_BACK", rolled_back=True)
BAD = RecordResult(
    ok=False,
    error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
    message="Need email",
    fields=("Email",),
)
LOCK = RecordResult(ok=False, error_code="UNABLE_TO_LOCK_ROW", transient=True)
BAD_REJ = lambda i: Rejection(i, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Need email", ("Email",))  # noqa: E731

CASES = [
    # (name, pause_on, results for ids 1..n, expected decision)
    ("pause on, all written", True, [OK, OK, OK], CallDecision(written=(1, 2, 3), cursor_to=3)),
    (
        "pause on, third rejected, prefix rolled back → resend prefix, park at 3",
        True,
        [ROLLED, ROLLED, BAD, ROLLED],
        CallDecision(rejected=(BAD_REJ(3),), resend=(1, 2), pause_at=3),
    ),
    (
        "pause on, first rejected → nothing to resend, park at 1",
        True,
        [BAD, ROLLED, ROLLED],
        CallDecision(rejected=(BAD_REJ(1),), pause_at=1),
    ),
    (
        "pause on, prefix already written (split) → no resend, cursor before the bad one",
        True,
        [OK, OK, BAD, ROLLED],
        CallDecision(written=(1, 2), rejected=(BAD_REJ(3),), cursor_to=2, pause_at=3),
    ),
    (
        "pause on, row lock → retry everything unwritten, no error",
        True,
        [ROLLED, LOCK, ROLLED],
        CallDecision(retry=(1, 2, 3)),
    ),
    (
        "pause on, rolled back with nothing to blame → retry",
        True,
        [ROLLED, ROLLED],
        CallDecision(retry=(1, 2)),
    ),
    ("pause off, all written", False, [OK, OK], CallDecision(written=(1, 2), cursor_to=2)),
    (
        "pause off, rejections logged, cursor to the end",
        False,
        [OK, BAD, OK, BAD],
        CallDecision(written=(1, 3), rejected=(BAD_REJ(2), BAD_REJ(4)), cursor_to=4),
    ),
    (
        "pause off, row lock → only the locked record retried, cursor waits",
        False,
        [OK, LOCK, BAD],
        CallDecision(written=(1,), rejected=(BAD_REJ(3),), retry=(2,)),
    ),
]


@pytest.mark.parametrize(
    ("pause_on", "results", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide(pause_on, results, expected):
    ids = list(range(1, len(results) + 1))
    assert decide(ids, results, pause_on) == expected


def test_decide_refuses_mismatched_results():
    with pytest.raises(ValueError, match="2 results for 3 records"):
        decide([1, 2, 3], [OK, OK], True)


def key(i, ext, sobject="Contact", field="ExtId__c"):
    return RecordKey(i, sobject, field, ext)


@pytest.mark.parametrize(
    ("rows", "size", "expected_ids"),
    [
        ([key(1, "a"), key(2, "b"), key(3, "c")], 200, [1, 2, 3]),
        ([key(1, "a"), key(2, "b"), key(3, "c")], 2, [1, 2]),
        ([key(1, "a"), key(2, "b"), key(3, "a")], 200, [1, 2]),  # repeated external id
        ([key(1, "a"), key(2, "t", "Touchpoint__c"), key(3, "b")], 200, [1]),  # object changes
        ([key(1, "a"), key(2, "b", field="Email")], 200, [1]),  # external id field changes
        ([], 200, []),
    ],
)
def test_a_call_of_one_batch_is_the_first_batch(rows, size, expected_ids):
    """The first batch: consecutive records of one (sobject, external id field), at most
    `size`, ending before an external id repeats."""
    batches = split_batches(rows, size, 1)
    assert [r.id for r in (batches[0] if batches else [])] == expected_ids


PERSON_TOUCHPOINT = [
    key(1, "p1"),
    key(2, "t1", "Touchpoint__c"),
    key(3, "p2"),
    key(4, "t2", "Touchpoint__c"),
    key(5, "p3"),
    key(6, "t3", "Touchpoint__c"),
]


@pytest.mark.parametrize(
    ("rows", "size", "most", "expected_ids"),
    [
        # Batches of 2, at most 5 of them in one call.
        ([key(i, f"e{i}") for i in range(1, 14)], 2, 5, [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]),
        # A call of one batch.
        ([key(i, f"e{i}") for i in range(1, 6)], 2, 1, [[1, 2]]),
        # Alternating objects: one-record batches, five of them fill the call.
        (PERSON_TOUCHPOINT, 200, 5, [[1], [2], [3], [4], [5]]),
        # A repeated external id ends the call (sent again, it would write #1 after #3).
        ([key(1, "a"), key(2, "b"), key(3, "a"), key(4, "c")], 200, 5, [[1, 2]]),
        ([key(1, "a"), key(2, "a", "Lead"), key(3, "a")], 200, 5, [[1], [2]]),
        ([], 200, 5, []),
    ],
)
def test_split_batches(rows, size, most, expected_ids):
    assert [[r.id for r in b] for b in split_batches(rows, size, most)] == expected_ids


@pytest.mark.parametrize(
    ("previous", "following", "shared"),
    [
        ([key(1, "a"), key(2, "b")], [key(3, "c")], False),
        # The next call writes record "a" again.
        ([key(1, "a"), key(2, "b")], [key(3, "c"), key(4, "a")], True),
        # The same external id on another object, or by another field, is another record.
        ([key(1, "a")], [key(2, "a", "Touchpoint__c")], False),
        ([key(1, "a")], [key(2, "a", field="Email")], False),
        ([key(1, "a")], [], False),
    ],
)
def test_share_records(previous, following, shared):
    assert share_records(previous, following) is shared


@pytest.mark.parametrize(
    ("sent", "shared", "may"),
    [
        # Went through whole, no record in common: the next call may go first.
        (CallDecision(written=(1, 2), cursor_to=2), False, True),
        # Pause off: rejected records are logged and the cursor moves to the end all the same.
        (CallDecision(written=(1,), rejected=(BAD_REJ(2),), cursor_to=2), False, True),
        # A record in common: sent twice after a crash, the older would land after the newer.
        (CallDecision(written=(1, 2), cursor_to=2), True, False),
        # Paused, retrying, or stopped short of the end: the link waits for the commit.
        (
            CallDecision(written=(1,), rejected=(BAD_REJ(2),), cursor_to=1, pause_at=2),
            False,
            False,
        ),
        (CallDecision(written=(1,), retry=(2,)), False, False),
        (CallDecision(written=(1,), cursor_to=1), False, False),
    ],
)
def test_may_send_before_commit(sent, shared, may):
    assert may_send_before_commit(sent, 2, shared) is may


@pytest.mark.parametrize(
    ("used", "org", "configured", "stop"),
    [
        (89_999, 100_000, 100_000, False),
        (90_000, 100_000, 100_000, True),
        (4_500, 5_000, 100_000, True),  # the org's own limit is lower
        (45_000, 1_000_000, 50_000, True),  # the configured limit is lower
        (10, 0, 0, False),  # no limit known
    ],
)
def test_over_api_quota(used, org, configured, stop):
    assert over_api_quota(used, org, configured, 0.9) is stop


def d(**kw):
    return CallDecision(**kw)


SETTLE = [
    (
        "pause on, one clean pass",
        True,
        [d(written=(1, 2, 3), cursor_to=3)],
        d(written=(1, 2, 3), cursor_to=3),
    ),
    (
        "pause on, rejection then clean resend of the prefix → cursor before it, parked",
        True,
        [d(rejected=(BAD_REJ(3),), resend=(1, 2), pause_at=3), d(written=(1, 2), cursor_to=2)],
        d(written=(1, 2), rejected=(BAD_REJ(3),), cursor_to=2, pause_at=3),
    ),
    (
        "pause on, the resend hits an earlier rejection → park there instead",
        True,
        [
            d(rejected=(BAD_REJ(3),), resend=(1, 2), pause_at=3),
            d(rejected=(BAD_REJ(2),), resend=(1,), pause_at=2),
            d(written=(1,), cursor_to=1),
        ],
        d(written=(1,), rejected=(BAD_REJ(2),), cursor_to=1, pause_at=2),
    ),
    (
        "pause on, the resend fails transiently → nothing parked, retry from the cursor",
        True,
        [d(rejected=(BAD_REJ(3),), resend=(1, 2), pause_at=3), d(retry=(1, 2))],
        d(retry=(1, 2)),
    ),
    (
        "pause off, a locked record mid-batch → the cursor waits, rejections logged now",
        False,
        [d(written=(1, 3), rejected=(BAD_REJ(4),), retry=(2,))],
        d(written=(1, 3), rejected=(BAD_REJ(4),), retry=(2,)),
    ),
]


@pytest.mark.parametrize(
    ("pause_on", "passes", "expected"), [c[1:] for c in SETTLE], ids=[c[0] for c in SETTLE]
)
def test_settle(pause_on, passes, expected):
    assert settle([1, 2, 3, 4], passes, pause_on) == expected
