"""Which alerts a change in an account's export produces: pure functions, no database.

`decide(told, facts, now)` compares what the alerts last said (`Told`, the AlertState
row) with how the export stands (`Facts`) and returns the row's changes and the events
to send. Each event belongs to one change of state, so deciding again on the same facts
gives nothing new: the caller claims the change with a compare-and-swap UPDATE and only
the worker that wins sends the events (exports.alerts.evaluate).

1. Pause: not told and paused → `paused`; told at record A, now not paused → `resumed`;
   told A, now paused at B → `resumed` (A) and `paused` (B); still paused at A →
   `still_paused` after the account's delay, then once a day.
2. Circuit (a finished run, counted once by its id): it failed to log in → one more
   failed login; from CRMSYNC_CIRCUIT_AUTH_FAILURES on the circuit opens for 10 min,
   doubling per further failure, capped; a run that logged in closes it.
3. Runs failing: the last N runs (completed / paused / failed) all failed →
   `run_failing`; told and the newest of them did not fail → `run_recovered`.
4. Error spike (pause off): more new errors in the last hour than the account allows, or
   a run of at least SPIKE_MIN_RECORDS records with more than its share rejected →
   `error_spike`; told and neither holds → `error_spike_over`.
5. API limit: a run stopped near the daily limit → `api_limit_reached`; told and a run
   made calls without stopping there → `api_limit_cleared`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from exports.models import AlertEvent
from salesforce.wire import AUTH_CODES

# The code `finish_run` gets for a run stopped near the daily API limit.
API_LIMIT = "API_LIMIT"
SPIKE_MIN_RECORDS = 20
REMINDER_EVERY = timedelta(days=1)
CIRCUIT_FIRST_WAIT_S = 600
ENDED = ("completed", "paused", "failed")  # outcomes of runs that tried to export


@dataclass(frozen=True)
class Told:
    """What the alerts last said (the AlertState row)."""

    paused_record_id: int | None = None
    paused_since: datetime | None = None
    still_paused_sent: int = 0
    failing: bool = False
    spiking: bool = False
    api_limited: bool = False
    last_run_id: int | None = None
    auth_failures: int = 0
    circuit_open_until: datetime | None = None
    circuit_reason: str = ""


@dataclass(frozen=True)
class Pause:
    """The record an export is parked at (or was: `error_status` says how it ended)."""

    record_id: int
    external_id: str
    sobject: str
    error_code: str
    error_message: str
    since: datetime | None
    fields: tuple[str, ...] = ()
    error_id: int | None = None
    error_status: str = "open"


@dataclass(frozen=True)
class RunEnd:
    """The run whose end is being evaluated."""

    run_id: int
    outcome: str
    code: str = ""
    message: str = ""
    attempted: int = 0
    failed: int = 0
    api_calls: int = 0


@dataclass(frozen=True)
class Limits:
    still_paused_after: timedelta = timedelta(hours=24)
    spike_per_hour: int = 100
    spike_percent: int = 10
    failed_runs: int = 3
    circuit_failures: int = 3
    circuit_max_wait_s: int = 3600


@dataclass(frozen=True)
class Facts:
    pause: Pause | None = None  # where the export is paused now
    told_pause: Pause | None = None  # the record `Told.paused_record_id`, as it is now
    failed_in_a_row: int = 0  # newest runs that tried to export and failed, counted
    latest_ok: bool = False  # the newest of those runs completed or paused
    last_failure: str = ""
    pause_off: bool = False
    errors_last_hour: int = 0
    latest_run_counts: tuple[int, int] | None = None  # (failed, attempted) of the newest run
    run: RunEnd | None = None
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Event:
    name: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    changes: dict[str, Any]
    events: tuple[Event, ...]


def decide(told: Told, facts: Facts, now: datetime) -> Decision:
    """The AlertState changes and the events of `facts` (see the module docstring)."""
    changes: dict[str, Any] = {}
    events: list[Event] = []
    for rule in (_pause, _circuit, _failing, _spike, _api_limit):
        rule_changes, rule_events = rule(told, facts, now, changes)
        changes.update(rule_changes)
        events += rule_events
    if changes and facts.run is not None:
        changes["last_run_id"] = facts.run.run_id
    return Decision(changes, tuple(events))


Rule = tuple[dict[str, Any], list[Event]]


def _pause(told: Told, facts: Facts, now: datetime, _: dict[str, Any]) -> Rule:
    now_at = facts.pause
    changes: dict[str, Any] = {}
    events: list[Event] = []
    if told.paused_record_id is not None and (
        now_at is None or now_at.record_id != told.paused_record_id
    ):
        events.append(Event(AlertEvent.RESUMED, now, _resumed(told, facts.told_pause, now)))
        changes |= {"paused_record_id": None, "paused_since": None, "still_paused_sent": 0}
    if now_at is None:
        return changes, events
    if changes or told.paused_record_id is None:
        events.append(Event(AlertEvent.PAUSED, now, pause_details(now_at)))
        since = now_at.since or now
        return changes | {
            "paused_record_id": now_at.record_id,
            "paused_since": since,
            "still_paused_sent": 0,
        }, events
    since = told.paused_since or now_at.since or now
    due = since + facts.limits.still_paused_after + told.still_paused_sent * REMINDER_EVERY
    if now < due:
        return {}, []
    details = pause_details(now_at) | {"paused_seconds": _seconds(now - since)}
    events.append(Event(AlertEvent.STILL_PAUSED, now, details))
    return {"still_paused_sent": told.still_paused_sent + 1}, events


def pause_details(pause: Pause) -> dict[str, Any]:
    return {
        "record_id": pause.record_id,
        "external_id": pause.external_id,
        "sobject": pause.sobject,
        "error_code": pause.error_code,
        "error_message": pause.error_message,
        "fields": list(pause.fields),
        "paused_since": iso(pause.since),
        "error_id": pause.error_id,
    }


def _resumed(told: Told, record: Pause | None, now: datetime) -> dict[str, Any]:
    paused_for = _seconds(now - told.paused_since) if told.paused_since else None
    if record is None:  # the record is gone (its account's outbox was cleared)
        record = Pause(told.paused_record_id or 0, "", "", "", "", told.paused_since)
    went_through = record.error_status in ("resolved", "superseded")
    return pause_details(record) | {
        "paused_since": iso(told.paused_since),
        "paused_seconds": paused_for,
        "how": "went_through" if went_through else "skipped",
    }


def _circuit(told: Told, facts: Facts, now: datetime, _: dict[str, Any]) -> Rule:
    run, limits = facts.run, facts.limits
    if run is None or run.run_id == told.last_run_id:
        return {}, []
    if run.outcome == "failed" and run.code in AUTH_CODES:
        failures = told.auth_failures + 1
        changes: dict[str, Any] = {"auth_failures": failures}
        if failures >= limits.circuit_failures:
            changes["circuit_open_until"] = now + timedelta(seconds=circuit_wait(failures, limits))
            changes["circuit_reason"] = (
                f"{failures} runs in a row failed to log in to Salesforce ({run.code}): "
                f"{run.message}"
            )
        return changes, []
    if run.outcome in ("completed", "paused") and (told.auth_failures or told.circuit_open_until):
        return {"auth_failures": 0, "circuit_open_until": None, "circuit_reason": ""}, []
    return {}, []


def circuit_wait(failures: int, limits: Limits) -> int:
    """Seconds scheduled runs wait after the `failures`-th failed login in a row."""
    doublings = max(failures - limits.circuit_failures, 0)
    return min(CIRCUIT_FIRST_WAIT_S * 2 ** min(doublings, 20), limits.circuit_max_wait_s)


def _failing(told: Told, facts: Facts, now: datetime, so_far: dict[str, Any]) -> Rule:
    if not told.failing and facts.failed_in_a_row >= facts.limits.failed_runs:
        open_until = so_far.get("circuit_open_until", told.circuit_open_until)
        details = {
            "failed_runs": facts.failed_in_a_row,
            "message": facts.last_failure,
            "circuit_open_until": iso(open_until) if open_until and open_until > now else None,
        }
        return {"failing": True}, [Event(AlertEvent.RUN_FAILING, now, details)]
    if told.failing and facts.latest_ok:
        return {"failing": False}, [Event(AlertEvent.RUN_RECOVERED, now, {})]
    return {}, []


def _spike(told: Told, facts: Facts, now: datetime, _: dict[str, Any]) -> Rule:
    limits = facts.limits
    failed, attempted = facts.latest_run_counts or (0, 0)
    by_hour = facts.errors_last_hour > limits.spike_per_hour
    by_run = attempted >= SPIKE_MIN_RECORDS and failed * 100 > limits.spike_percent * attempted
    spiking = facts.pause_off and (by_hour or by_run)
    details = {
        "errors_last_hour": facts.errors_last_hour,
        "per_hour_limit": limits.spike_per_hour,
        "run_failed": failed,
        "run_attempted": attempted,
        "percent_limit": limits.spike_percent,
    }
    if spiking and not told.spiking:
        return {"spiking": True}, [Event(AlertEvent.ERROR_SPIKE, now, details)]
    if told.spiking and not spiking:
        return {"spiking": False}, [Event(AlertEvent.ERROR_SPIKE_OVER, now, details)]
    return {}, []


def _api_limit(told: Told, facts: Facts, now: datetime, _: dict[str, Any]) -> Rule:
    run = facts.run
    if run is None:
        return {}, []
    if run.code == API_LIMIT and not told.api_limited:
        details = {"message": run.message}
        return {"api_limited": True}, [Event(AlertEvent.API_LIMIT_REACHED, now, details)]
    if told.api_limited and run.code != API_LIMIT and run.api_calls and run.outcome in ENDED[:2]:
        return {"api_limited": False}, [Event(AlertEvent.API_LIMIT_CLEARED, now, {})]
    return {}, []


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC to the second, e.g. 2026-11-30T16:56:29Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _seconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds()), 0)
