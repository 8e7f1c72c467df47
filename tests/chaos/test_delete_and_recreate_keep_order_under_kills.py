"""Keys upserted, deleted and re-created several times, exported by workers killed with
kill -9 in the middle of calls again and again: per key, the org applies the outbox's
operations in the outbox's order, never going back, and ends as the key's last record says.

The stream: 500 keys in 20 groups of 25; each key is upserted (v1), deleted, upserted (v2),
deleted, upserted (v3), and every third key deleted once more. The stream takes one group's
next step at a time (its 25 keys, shuffled), groups picked at random: a call carries a few
groups' steps (upserts and deletions side by side), and consecutive calls often write the
same keys (the next call after a call cut by a repeated key always does). About 2,700 records.

The org answers every data request after 150 ms and each call's answer 2 ms per record after
it applied the call: a kill lands before the org applies the call or after it did, while the
answer is on its way (alternately). One worker at a time: each kill takes down the worker
sending the call, a new worker starts, and the killed link comes back by redelivery after the
visibility timeout (tests/chaos/conftest.py).

From the sandbox's write log, per key: an upsert names its record (`Seq__c` = "slug:position",
`Version__c`), a delete the Salesforce Id it deleted, which is the record the upsert before it
wrote: the delete after that version. A re-sent upsert (the same record again, right after
itself: at-least-once redelivery) is counted once. What the org applied must then be exactly
the key's operations in the outbox's order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from exports.models import ExportRun
from tests.chaos.checks import count_overlaps, export_done, lease_holding_runs
from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

KEYS, GROUP = 500, 25
STEPS = ("v1", "del1", "v2", "del2", "v3")
KILLS = 5
RULES = {
    "objects": {"Contact": {"cpu_ms_per_record": 2}},
    "faults": {"latency_ms": 150, "server_time_scale": 1.0},
}


@dataclass(frozen=True)
class Op:
    """One outbox record of the stream: `step` is its place among its key's operations."""

    position: int
    key: str
    step: int
    name: str  # "v1", "del1", "v2", ...

    @property
    def delete(self) -> bool:
        return self.name.startswith("del")


def steps_of(n: int) -> tuple[str, ...]:
    """Key n's operations: every third key ends deleted."""
    return (*STEPS, "del3") if n % 3 == 0 else STEPS


def stream(slug: str, seed: int) -> list[Op]:
    """Every key's steps in order, the keys interleaved group by group (module docstring)."""
    rng = random.Random(seed)
    groups = [list(range(g, g + GROUP)) for g in range(0, KEYS, GROUP)]
    lengths = [max(len(steps_of(n)) for n in group) for group in groups]
    done = [0] * len(groups)
    ops: list[Op] = []
    while left := [g for g in range(len(groups)) if done[g] < lengths[g]]:
        g = rng.choice(left)
        step = done[g]
        done[g] += 1
        keys = [n for n in groups[g] if step < len(steps_of(n))]
        rng.shuffle(keys)
        for n in keys:
            ops.append(Op(len(ops), f"{slug}-k{n}", step, steps_of(n)[step]))
    return ops


def as_item(slug: str, op: Op) -> dict[str, Any]:
    item = {"sobject": "Contact", "external_id_field": "ExtId__c", "external_id": op.key}
    if op.delete:
        return {**item, "operation": "delete"}
    return {**item, "fields": fields_of(slug, op)}


def fields_of(slug: str, op: Op) -> dict[str, Any]:
    return {
        "LastName": f"{op.key} {op.name}",
        "Version__c": int(op.name.removeprefix("v")),
        "Seq__c": f"{slug}:{op.position}",
    }


# -- the kills -------------------------------------------------------------------------------


class WriteLog:
    """The sandbox's write log, read on from where it was last read."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.entries: list[dict[str, Any]] = []

    def count(self) -> int:
        since = self.entries[-1]["seq"] if self.entries else 0
        self.entries += self.sandbox.writes(since)
        return len(self.entries)


def in_flight(sandbox: Any) -> bool:
    return sandbox.stats()["requests_in_flight"] > 0


def kill_mid_call(chaos: Any, sandbox: Any, log: WriteLog, worker: Any, applied: bool) -> Any:
    """Wait for a call at the org, kill -9 `worker` (the only one, so the one sending it)
    and start another: at once (`applied` False: before the org applies it), or once the org
    has applied writes while a request is still in flight (its answer on its way)."""
    wait_for(lambda: in_flight(sandbox), 60, 0.005, "a call in flight")
    if applied:
        before = log.count()
        wait_for(
            lambda: log.count() > before and in_flight(sandbox),
            60,
            0.005,
            "writes applied while a call is in flight",
        )
    worker.kill_hard()
    return chaos.worker()


def export_with_kills(chaos: Any, sandbox: Any, account: Any, seed: int) -> int:
    """Run the account's export, killing its worker mid-call KILLS times, each after the
    org applied some hundred more writes (so each redelivery was taken up and went on);
    wait for the export's end. Returns the kills done before the export ended."""
    rng = random.Random(seed)
    log = WriteLog(sandbox)
    worker = chaos.worker()
    chaos.send("exports.tasks.run_export", account.id, "api")
    kills = 0
    for kill in range(KILLS):
        target = log.count() + rng.randint(100, 350)
        wait_for(
            lambda t=target: log.count() >= t or export_done(account),
            120,
            0.1,
            f"{target} writes before kill {kill + 1}",
        )
        if export_done(account):
            break
        worker = kill_mid_call(chaos, sandbox, log, worker, applied=kill % 2 == 1)
        kills += 1
    wait_for(lambda: export_done(account), 120, 0.3, "the export's end")
    return kills


# -- the check -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """One write of a key in the log: the step it applied (None: a delete of a record no
    upsert of this stream wrote), its seq, whether it created the record."""

    step: int | None
    seq: int
    created: bool
    upsert: bool

    def text(self, names: tuple[str, ...]) -> str:
        name = "del?" if self.step is None else names[self.step]
        return f"{name}@w{self.seq}{'+' if self.created else ''}"


def applied_by_key(writes: list[dict[str, Any]], slug: str, ops: list[Op]) -> dict[str, Any]:
    """Per key, the steps the org applied, in the log's order (module docstring)."""
    step_of_record: dict[str, int] = {}  # Salesforce Id -> step of the last upsert to it
    history: dict[str, list[Applied]] = defaultdict(list)
    for write in sorted(writes, key=lambda w: w["seq"]):
        if write["op"] == "upsert":
            token = (write["fields"] or {}).get("Seq__c")
            if not isinstance(token, str) or not token.startswith(f"{slug}:"):
                continue
            op = ops[int(token.removeprefix(f"{slug}:"))]
            assert write["external_id"].casefold() == op.key.casefold(), (write, op)
            step_of_record[write["sf_id"]] = op.step
            history[op.key].append(Applied(op.step, write["seq"], write["created"], True))
        elif write["external_id"].startswith(f"{slug}-"):
            held = step_of_record.get(write["sf_id"])
            step = None if held is None else held + 1  # the delete after the version it held
            history[write["external_id"]].append(Applied(step, write["seq"], False, False))
    return history


def resent(history: list[Applied], index: int) -> bool:
    """Is write `index` an upsert re-sent right after itself (at-least-once redelivery)?"""
    write, previous = history[index], history[index - 1] if index else None
    return (
        write.upsert
        and previous is not None
        and previous.upsert
        and previous.step == write.step
        and not write.created
    )


def key_problem(names: tuple[str, ...], history: list[Applied]) -> str | None:
    """What is wrong with one key's applied writes, or None: they must be its steps in
    order, each once (an upsert re-sent right after itself counts once)."""
    steps = [w.step for i, w in enumerate(history) if not resent(history, i)]
    newest = -1
    for step in steps:
        if step is None:
            return "deleted a record no upsert of the key wrote"
        if step < newest:
            return f"went backwards: {names[step]} applied after {names[newest]}"
        if step == newest:
            return f"{names[step]} applied twice"
        newest = step
    if steps != list(range(len(names))):
        missing = [names[s] for s in range(len(names)) if s not in steps]
        return f"never applied: {', '.join(missing)}"
    upserts = [w for w in history if w.upsert]
    firsts = [w for i, w in enumerate(upserts) if not i or upserts[i - 1].step != w.step]
    if not all(w.created for w in firsts):
        return "an upsert after a delete did not create a new record"
    return None


def order_problems(slug: str, ops: list[Op], writes: list[dict[str, Any]]) -> list[str]:
    """Per key, what went wrong in the order the org applied its writes (`key_problem`),
    with the key's writes as applied: `v2@w1097+` is v2 at write log seq 1097, creating."""
    history = applied_by_key(writes, slug, ops)
    problems = []
    for key in dict.fromkeys(op.key for op in ops):
        names = steps_of(int(key.rsplit("-k", 1)[1]))
        problem = key_problem(names, history.get(key, []))
        if problem:
            shown = " ".join(w.text(names) for w in history.get(key, []))
            problems.append(f"{key}: {problem}; applied: {shown}")
    return problems


def resent_upserts(slug: str, ops: list[Op], writes: list[dict[str, Any]]) -> int:
    return sum(
        resent(history, i)
        for history in applied_by_key(writes, slug, ops).values()
        for i in range(len(history))
    )


def state_problems(slug: str, ops: list[Op], org: list[dict[str, Any]]) -> list[str]:
    """The org's Contacts of this stream against each key's last record."""
    last = {op.key: op for op in ops}
    present = {r["ExtId__c"]: r for r in org if str(r["ExtId__c"]).startswith(f"{slug}-")}
    problems = []
    for key, op in last.items():
        record = present.get(key)
        if op.delete and record is not None:
            problems.append(f"{key}: ends deleted in the outbox, present in the org: {record}")
        elif not op.delete:
            wanted = fields_of(slug, op)
            got = None if record is None else {k: record.get(k) for k in wanted}
            if got != wanted:
                problems.append(f"{key}: the org holds {got}, the last record says {wanted}")
    problems += [f"{key}: in the org, never in the outbox" for key in present.keys() - last.keys()]
    return problems


@pytest.mark.parametrize("pause", [True, False], ids=["pause-on", "pause-off"])
def test_delete_and_recreate_keep_order_under_kills(chaos, chaos_account, sandbox, pause):
    slug = f"recreate-{'on' if pause else 'off'}"
    seed = 7 if pause else 11
    ops = stream(slug, seed)
    sandbox.set_rules(RULES)
    account = chaos_account(slug, [as_item(slug, op) for op in ops], pause=pause, batch_size=25)

    kills = export_with_kills(chaos, sandbox, account, seed)

    assert kills == KILLS, f"the export ended after {kills} kills of {KILLS}\n{chaos.logs()}"
    runs = lease_holding_runs(account)
    assert not count_overlaps(runs), runs
    assert runs[-1].outcome == ExportRun.Outcome.COMPLETED, runs[-1].message
    writes = sandbox.writes()
    problems = order_problems(slug, ops, writes)
    fields = ["ExtId__c", "LastName", "Version__c", "Seq__c"]
    problems += state_problems(slug, ops, sandbox.records("Contact", fields))
    assert not problems, (
        f"{len(problems)} problems over {KEYS} keys, {len(ops)} records, {len(writes)} writes, "
        f"{kills} kills:\n" + "\n".join(problems[:15])
    )
    # The kills landed mid-call: the org applied calls whose answers the killed workers never
    # got, and redelivery sent their upserts again.
    assert resent_upserts(slug, ops, writes) > 0, chaos.logs()
