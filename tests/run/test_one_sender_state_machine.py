"""At most one link sends for an account, whatever copies of it exist: a stateful property
test over the steps of several copies of a link.

Copies of a link — requeued from Flower with the live arguments, redelivered while the
first copy still runs, retried, killed at any step and redelivered — claim, send, get
their answer and commit in any interleaving, and an org applies each request when it
arrives (in the order requests arrive, at most a request timeout after they were sent:
later, the client gave up). After every step, per key, the org never holds an older
version after a newer one was written, and with pause on nothing after the paused record
is ever written.

The copies decide with crmsync's own rules (`exports.run.claim`: who may send, where it goes
on from) and the cursor's compare-and-swaps as `exports.run.link` and `exports.run.cursor_move`
state them. The same machine run with the rule crmsync had before the claim (a link goes
on when the cursor is at its position; only the cursor move is a compare-and-swap) must
fail: that is what shows the machine can find the bug.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from exports.run import claim

KEYS = 2  # record n writes key n % KEYS with version n: keys repeat every KEYS records
RECORDS = 12
PAUSED_AT = 8  # with pause on, the org rejects this record
COPIES = 3  # messages of the run at once, at most (the live link and its copies)
CALL = 2  # records per call at most (a call never repeats a key)
TIMEOUT = 3  # a request arrives within this many seconds of being sent, or never
SAFETY = 1  # between the last moment a request may go out and its claim's end
CLAIM_S = TIMEOUT + SAFETY + 2  # the claim: request timeout plus a margin, renewed by moves
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _keys(records: tuple[int, ...]) -> set[int]:
    return {n % KEYS for n in records}


@dataclass
class Request:
    after: int  # the cursor position the call was sent from
    records: tuple[int, ...]
    sent_at: int
    arrived: bool = False
    outcome: tuple[int, ...] = ()  # the records the org wrote


@dataclass
class Copy:
    """One task message of a link being worked on by a worker."""

    link_id: str
    link_try: int
    after_id: int
    phase: str = "new"  # new → holding → in_flight → answered → (holding ...) / done
    position: int = 0
    claim_until: int = 0
    request: Request | None = None  # its call in flight or answered
    moved: bool = False  # it moved the cursor (then its time may be up: the next link)


@dataclass
class Cursor:
    position: int = 0
    paused_at: int | None = None
    link_id: str = ""
    link_try: int = 0
    claim_expires_at: int | None = None


@dataclass
class Org:
    versions: dict[int, int] = field(default_factory=dict)
    log: list[tuple[int, int]] = field(default_factory=list)  # (key, version) as written


class OneSender(RuleBasedStateMachine):
    """Copies of links of one run, one account, against one org."""

    fenced = True  # crmsync's claim; False: the rule before it
    pause_on = True

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.cursor = Cursor()
        self.org = Org()
        self.copies: list[Copy] = [Copy("link-1", 0, 0)]
        self.requests: list[Request] = []
        self.ids = itertools.count(2)
        self.violation = ""

    # -- what crmsync decides ---------------------------------------------------------

    def _at(self, seconds: int | None) -> datetime | None:
        return None if seconds is None else EPOCH + timedelta(seconds=seconds)

    def _may_start(self, copy: Copy) -> str:
        """'go', 'wait' or 'stale', as `exports.run.link._open_link` and `_claim` decide."""
        c = self.cursor
        if self.fenced:
            position = claim.position(c.position, c.link_id, copy.after_id, copy.link_id)
        else:
            position = copy.after_id if c.position == copy.after_id else None
            if position is None and c.link_id == copy.link_id:
                position = c.position
        if position is None:
            return "stale"
        copy.position = position
        if not self.fenced:
            return "go"
        held = claim.Held(c.link_id, c.link_try, self._at(c.claim_expires_at))
        verdict = claim.verdict(held, claim.Token(copy.link_id, copy.link_try), self._at(self.now))
        return {"claim": "go", "wait": "wait", "stale": "stale"}[verdict.value]

    def _claim(self, copy: Copy) -> None:
        self.cursor.link_id, self.cursor.link_try = copy.link_id, copy.link_try
        self.cursor.claim_expires_at = self.now + CLAIM_S
        copy.claim_until = self.now + CLAIM_S

    def _records_after(self, position: int) -> tuple[int, ...]:
        """The next call: records after `position`, at most CALL, no key twice."""
        records: list[int] = []
        for n in range(position + 1, RECORDS + 1):
            if len(records) == CALL or n % KEYS in {r % KEYS for r in records}:
                break
            records.append(n)
        return tuple(records)

    # -- steps ------------------------------------------------------------------------

    def _few(self) -> bool:
        """At most COPIES messages of the run at once (beside finished ones)."""
        return sum(c.phase not in ("done", "killed") for c in self.copies) < COPIES

    def _in(self, *phases: str) -> bool:
        return any(c.phase in phases for c in self.copies)

    def _active(self) -> list[Copy]:
        return [
            c
            for c in self.copies
            if c.phase in ("new", "holding", "answered")
            or (c.phase == "in_flight" and c.request is not None and self._over(c.request))
        ]

    def _over(self, request: Request) -> bool:
        """Answered, or timed out (the client gave up: the org never applies it)."""
        return request.arrived or self.now > request.sent_at + TIMEOUT

    @precondition(lambda self: bool(self._active()))
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A worker takes the next step of one copy: a new copy claims (or waits, or is
        stale); a holding copy sends its next call, hands over to the next link or fails
        transiently (its next try follows); an answer is read; an answered call is
        committed, or the next call goes out before the commit."""
        copy = data.draw(st.sampled_from(self._active()))
        if copy.phase == "new":
            self._start(copy)
        elif copy.phase == "holding":
            actions = ["send", "send", "send", "retry"] + ["next_link"] * copy.moved
            action = data.draw(st.sampled_from(actions))
            if action == "send":
                self._send(copy)
            else:
                self._hand_over(copy, retry=action == "retry")
        elif copy.phase == "in_flight" and copy.request and not copy.request.arrived:
            self._hand_over(copy, retry=True)  # a timeout: transient, retried
        elif copy.phase == "in_flight":
            copy.phase = "answered"
        elif data.draw(st.booleans()):
            self._send(copy)  # the next call first, then this one's commit
        elif self._commit(copy, copy.request):
            copy.phase = "holding" if self.cursor.paused_at is None else "done"
            if copy.phase == "done":
                self._release(copy)

    def _start(self, copy: Copy) -> None:
        verdict = self._may_start(copy)
        if verdict == "stale":
            copy.phase = "done"
        elif verdict == "go":
            if self.fenced:
                self._claim(copy)
            copy.phase = "holding"

    def _send(self, copy: Copy) -> None:
        """Send the copy's next call (a request goes out only while the claim leaves it a
        request timeout: `Call.send_by`); from `answered`, before that call's commit."""
        previous = copy.request if copy.phase == "answered" else None
        if previous and previous.outcome != previous.records:
            return  # send-before-commit only after a call that went through whole
        start = previous.records[-1] if previous else copy.position
        records = self._records_after(start)
        if not records or (previous and _keys(records) & _keys(previous.records)):
            return  # the next call goes out before the commit only if it shares no key
        if self.fenced and self.now + TIMEOUT + SAFETY > copy.claim_until:
            copy.phase = "done"  # ClaimRanOut: nothing sent, the link is retried
            self._release(copy)
            self.copies.append(Copy(copy.link_id, copy.link_try + 1, copy.position))
            return
        copy.request = Request(start, records, self.now)
        self.requests.append(copy.request)
        copy.phase = "in_flight"
        if previous and not self._commit(copy, previous):  # committed after the next is sent
            copy.phase = "done"

    def _hand_over(self, copy: Copy, retry: bool) -> None:
        """The copy's time is up (the next link follows) or it failed transiently (its
        next try follows); either way it releases the claim first."""
        copy.phase = "done"
        self._release(copy)
        if retry:
            self.copies.append(Copy(copy.link_id, copy.link_try + 1, copy.position))
        else:
            self.copies.append(Copy(f"link-{next(self.ids)}", 0, copy.position))

    @precondition(lambda self: any(not r.arrived for r in self.requests))
    @rule(data=st.data())
    def arrive(self, data: st.DataObject) -> None:
        """The org applies a request in flight (requests arrive in any order)."""
        flying = [r for r in self.requests if not r.arrived and r.sent_at + TIMEOUT >= self.now]
        if not flying:
            return
        request = data.draw(st.sampled_from(flying))
        request.arrived = True
        written = []
        for n in request.records:
            if self.pause_on and n == PAUSED_AT:
                break
            key = n % KEYS
            if self.org.versions.get(key, 0) > n and not self.violation:
                self.violation = f"key {key}: version {n} written after {self.org.versions[key]}"
            self.org.versions[key] = n
            self.org.log.append((key, n))
            written.append(n)
        request.outcome = tuple(written)

    def _commit(self, copy: Copy, request: Request | None) -> bool:
        c = self.cursor
        assert request is not None
        ok = c.position == request.after and (
            not self.fenced or (c.link_id, c.link_try) == (copy.link_id, copy.link_try)
        )
        if not ok:
            copy.phase = "done"
            return False
        if request.outcome == request.records:
            c.position = request.records[-1]
        else:  # paused at the record after the written ones
            c.position = request.outcome[-1] if request.outcome else request.after
            c.paused_at = c.position + 1
        copy.position, copy.moved = c.position, True
        if self.fenced:
            c.claim_expires_at = self.now + CLAIM_S
            copy.claim_until = self.now + CLAIM_S
        return True

    def _release(self, copy: Copy) -> None:
        c = self.cursor
        if self.fenced and (c.link_id, c.link_try) == (copy.link_id, copy.link_try):
            c.link_try, c.claim_expires_at = copy.link_try + 1, None

    @precondition(lambda self: self._few() and self._in("holding", "in_flight", "answered"))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """A copy's message comes back (the visibility timeout passed) while it goes on,
        or after its worker was killed (`kill`)."""
        running = [c for c in self.copies if c.phase in ("holding", "in_flight", "answered")]
        if running:
            copy = data.draw(st.sampled_from(running))
            self.copies.append(Copy(copy.link_id, copy.link_try, copy.after_id))

    @precondition(lambda self: self._in("holding", "in_flight", "answered"))
    @rule(data=st.data())
    def kill(self, data: st.DataObject) -> None:
        """A worker dies at any step: its request in flight may still arrive; its message
        comes back."""
        running = [c for c in self.copies if c.phase in ("holding", "in_flight", "answered")]
        if running:
            copy = data.draw(st.sampled_from(running))
            copy.phase = "killed"
            self.copies.append(Copy(copy.link_id, copy.link_try, copy.after_id))

    @precondition(lambda self: self._few())
    @rule()
    def requeue(self) -> None:
        """An engineer requeues the live link from Flower: a new task id, the cursor's
        position as its argument."""
        self.copies.append(Copy(f"flower-{next(self.ids)}", 0, self.cursor.position))

    @rule(seconds=st.sampled_from([1, 1, 2, CLAIM_S + 1]))
    def tick(self, seconds: int) -> None:
        """Time passes: a request not arrived within the timeout never will (the client
        gave up)."""
        self.now += seconds

    # -- what must hold after every step -----------------------------------------------

    @invariant()
    def never_older_after_newer(self) -> None:
        assert not self.violation, f"{self.violation}; write log {self.org.log}"

    @invariant()
    def nothing_after_the_paused_record(self) -> None:
        if self.pause_on:
            late = [(key, n) for key, n in self.org.log if n > PAUSED_AT]
            assert not late, f"written after the paused record #{PAUSED_AT}: {late}"


class PauseOff(OneSender):
    pause_on = False


class BeforeTheClaim(OneSender):
    fenced = False


DETERMINISTIC = settings(derandomize=True, database=None, deadline=None)


@pytest.mark.parametrize("machine", [OneSender, PauseOff], ids=["pause-on", "pause-off"])
def test_copies_of_a_link_never_write_older_after_newer(machine: type[OneSender]) -> None:
    run_state_machine_as_test(machine, settings=DETERMINISTIC)


def test_the_machine_finds_the_bug_of_the_rule_before_the_claim() -> None:
    # Within the default example budget; not shrunk (that only makes the example short).
    finding = settings(DETERMINISTIC, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    with pytest.raises(AssertionError, match="written after"):
        run_state_machine_as_test(BeforeTheClaim, settings=finding)
