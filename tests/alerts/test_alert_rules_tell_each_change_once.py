"""`alert_rules.decide`: which events a change produces, by tables of cases (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exports.alerts.rules import API_LIMIT, Facts, Limits, Pause, RunEnd, Told, decide

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
A = Pause(11, "person-11", "Contact", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Need email", NOW - HOUR)
B = Pause(12, "person-12", "Contact", "REQUIRED_FIELD_MISSING", "LastName", NOW)


def told_paused_at(pause: Pause, reminders: int = 0) -> Told:
    return Told(
        paused_record_id=pause.record_id, paused_since=pause.since, still_paused_sent=reminders
    )


def names(told: Told, facts: Facts, now: datetime = NOW) -> list[str]:
    return [str(e.name) for e in decide(told, facts, now).events]


@pytest.mark.parametrize(
    ("told", "facts", "now", "expected"),
    [
        (Told(), Facts(pause=A), NOW, ["paused"]),
        (told_paused_at(A), Facts(pause=A), NOW, []),
        (told_paused_at(A), Facts(pause=A), A.since + 24 * HOUR, ["still_paused"]),
        (told_paused_at(A, 1), Facts(pause=A), A.since + 47 * HOUR, []),
        (told_paused_at(A, 1), Facts(pause=A), A.since + 48 * HOUR, ["still_paused"]),
        (
            told_paused_at(A),
            Facts(told_pause=replace(A, error_status="resolved")),
            NOW,
            ["resumed"],
        ),
        (told_paused_at(A), Facts(pause=B, told_pause=A), NOW, ["resumed", "paused"]),
        (Told(), Facts(), NOW, []),
    ],
    ids=[
        "pauses",
        "still paused, before the delay",
        "still paused after 24 h",
        "the next reminder waits a day",
        "a day later, again",
        "resumes",
        "moves on to another record",
        "nothing happens",
    ],
)
def test_pause_events(told, facts, now, expected):
    assert names(told, facts, now) == expected


def test_resumed_says_how_long_and_whether_the_record_went_through():
    told = told_paused_at(A)

    through = decide(told, Facts(told_pause=replace(A, error_status="resolved")), NOW).events[0]
    skipped = decide(told, Facts(told_pause=replace(A, error_status="open")), NOW).events[0]

    assert through.details["paused_seconds"] == 3600 and through.details["how"] == "went_through"
    assert skipped.details["how"] == "skipped"  # pause was turned off: logged, not written
    assert through.details["record_id"] == 11 and through.details["external_id"] == "person-11"


def test_a_paused_event_carries_the_pinned_keys():
    details = decide(Told(), Facts(pause=A), NOW).events[0].details

    assert {"record_id", "external_id", "sobject", "error_code", "error_message"} <= details.keys()
    assert decide(Told(), Facts(pause=A), NOW).changes["paused_record_id"] == 11


@pytest.mark.parametrize(
    ("told", "facts", "expected"),
    [
        (Told(), Facts(failed_in_a_row=2), []),
        (Told(), Facts(failed_in_a_row=3, last_failure="invalid_client"), ["run_failing"]),
        (Told(failing=True), Facts(failed_in_a_row=3), []),
        (Told(failing=True), Facts(failed_in_a_row=0, latest_ok=True), ["run_recovered"]),
        (Told(failing=True), Facts(failed_in_a_row=0, latest_ok=False), []),
    ],
)
def test_runs_failing_and_recovering(told, facts, expected):
    assert names(told, facts) == expected


def auth_failure(run_id: int) -> RunEnd:
    return RunEnd(run_id, "failed", "invalid_client", "Salesforce login failed")


@pytest.mark.parametrize(
    ("failures_before", "opens_for_s"),
    [(0, None), (1, None), (2, 600), (3, 1200), (4, 2400), (5, 3600), (30, 3600)],
)
def test_the_circuit_opens_at_the_third_failed_login_and_waits_longer_each_time(
    failures_before, opens_for_s
):
    changes = decide(Told(auth_failures=failures_before), Facts(run=auth_failure(7)), NOW).changes

    assert changes["auth_failures"] == failures_before + 1
    if opens_for_s is None:
        assert "circuit_open_until" not in changes
    else:
        assert changes["circuit_open_until"] == NOW + timedelta(seconds=opens_for_s)
        assert "invalid_client" in changes["circuit_reason"]


def test_a_run_is_counted_once_and_a_run_that_logs_in_closes_the_circuit():
    told = Told(auth_failures=3, circuit_open_until=NOW + HOUR, last_run_id=7)

    again = decide(told, Facts(run=auth_failure(7)), NOW)
    closed = decide(told, Facts(run=RunEnd(8, "completed", api_calls=1), latest_ok=True), NOW)
    other_failure = decide(told, Facts(run=RunEnd(9, "failed", "TIMEOUT")), NOW)

    assert again.changes == {}
    assert closed.changes == {
        "auth_failures": 0,
        "circuit_open_until": None,
        "circuit_reason": "",
        "last_run_id": 8,
    }
    assert "auth_failures" not in other_failure.changes  # not a login: neither counts nor closes


def test_run_failing_tells_when_the_circuit_lets_runs_start_again():
    told = Told(auth_failures=2)
    facts = Facts(run=auth_failure(5), failed_in_a_row=3, last_failure="invalid_client")

    event = decide(told, facts, NOW).events[0]

    assert event.name == "run_failing"
    assert event.details["circuit_open_until"] == "2026-12-01T12:10:00Z"


LIMITS = Limits(spike_per_hour=100, spike_percent=10)


@pytest.mark.parametrize(
    ("told", "facts", "expected"),
    [
        (Told(), Facts(pause_off=True, errors_last_hour=101, limits=LIMITS), ["error_spike"]),
        (Told(), Facts(pause_off=True, errors_last_hour=100, limits=LIMITS), []),
        (Told(), Facts(pause_off=True, latest_run_counts=(3, 20), limits=LIMITS), ["error_spike"]),
        (Told(), Facts(pause_off=True, latest_run_counts=(3, 19), limits=LIMITS), []),
        (Told(), Facts(pause_off=True, latest_run_counts=(2, 20), limits=LIMITS), []),
        (Told(), Facts(pause_off=False, errors_last_hour=500, limits=LIMITS), []),
        (Told(spiking=True), Facts(pause_off=True, errors_last_hour=101, limits=LIMITS), []),
        (
            Told(spiking=True),
            Facts(pause_off=True, errors_last_hour=4, latest_run_counts=(0, 50), limits=LIMITS),
            ["error_spike_over"],
        ),
    ],
)
def test_error_spike_and_its_end(told, facts, expected):
    assert names(told, facts) == expected


@pytest.mark.parametrize(
    ("told", "run", "expected"),
    [
        (
            Told(),
            RunEnd(1, "completed", API_LIMIT, "Stopped near the limit", 5, 0, 1),
            ["api_limit_reached"],
        ),
        (Told(api_limited=True), RunEnd(2, "completed", API_LIMIT, "", 5, 0, 1), []),
        (Told(api_limited=True), RunEnd(3, "completed", "", "", 5, 0, 2), ["api_limit_cleared"]),
        (Told(api_limited=True), RunEnd(4, "nothing_to_do"), []),
    ],
)
def test_api_limit_reached_and_cleared(told, run, expected):
    assert names(told, Facts(run=run)) == expected


def test_deciding_again_on_the_new_state_tells_nothing():
    facts = Facts(pause=A, failed_in_a_row=3, run=auth_failure(3))
    first = decide(Told(auth_failures=2), facts, NOW)
    told = replace(Told(auth_failures=2), **first.changes)

    assert [e.name for e in first.events] == ["paused", "run_failing"]
    assert decide(told, facts, NOW).events == ()
