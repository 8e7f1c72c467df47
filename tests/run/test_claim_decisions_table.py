"""Who may send for an account (`exports.run.claim`): a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exports.run import claim
from exports.run.claim import Held, Token, Verdict

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LIVE = NOW + timedelta(seconds=30)
EXPIRED = NOW - timedelta(seconds=1)

CASES = [
    # (held claim, claimant, verdict, why)
    (Held("", 0, None), Token("A", 0), Verdict.CLAIM, "never claimed"),
    (Held("A", 1, None), Token("B", 0), Verdict.CLAIM, "released: the next link"),
    (Held("A", 0, EXPIRED), Token("B", 0), Verdict.CLAIM, "expired: another link"),
    (Held("A", 0, EXPIRED), Token("A", 0), Verdict.CLAIM, "expired: the holder redelivered"),
    (Held("A", 1, None), Token("A", 1), Verdict.CLAIM, "released for the holder's retry"),
    (Held("A", 0, LIVE), Token("B", 0), Verdict.STALE, "live: a requeued copy"),
    (Held("A", 0, LIVE), Token("A", 0), Verdict.WAIT, "live: perhaps the holder's own copy"),
    (Held("A", 0, LIVE), Token("A", 1), Verdict.WAIT, "live, its retry: the release failed"),
    (Held("A", 1, None), Token("A", 0), Verdict.STALE, "a copy of a try that ended"),
    (Held("A", 2, EXPIRED), Token("A", 1), Verdict.STALE, "an earlier try, even expired"),
]


@pytest.mark.parametrize(("held", "me", "expected", "why"), CASES, ids=[c[3] for c in CASES])
def test_verdict(held: Held, me: Token, expected: Verdict, why: str) -> None:
    assert claim.verdict(held, me, NOW) is expected, why


@pytest.mark.parametrize(
    ("cursor_at", "cursor_link", "after_id", "link_id", "expected"),
    [
        (10, "A", 10, "B", 10),  # the cursor is where the link starts
        (20, "A", 10, "A", 20),  # this link moved it further before it came back
        (20, "A", 10, "B", None),  # another link moved it: stale
        (20, "", 10, "", None),  # no task id never matches
    ],
)
def test_position(cursor_at, cursor_link, after_id, link_id, expected) -> None:
    assert claim.position(cursor_at, cursor_link, after_id, link_id) == expected


def test_a_released_claim_makes_copies_of_the_try_stale() -> None:
    free = claim.released(Token("A", 0))
    assert claim.verdict(free, Token("A", 0), NOW) is Verdict.STALE
    assert claim.verdict(free, Token("A", 1), NOW) is Verdict.CLAIM
    assert claim.verdict(free, Token("B", 0), NOW) is Verdict.CLAIM


def test_only_the_holder_or_nobody_live_may_end_the_run() -> None:
    assert claim.may_end_run(Held("A", 0, LIVE), "A", NOW)
    assert not claim.may_end_run(Held("A", 0, LIVE), "B", NOW)
    assert claim.may_end_run(Held("A", 0, EXPIRED), "B", NOW)
