"""Where an account's export stands: one snapshot for the admin page and `crm_status`.

`account_status(account)` reads the cursor, the backlog, the open errors and the
last runs in a constant number of queries (five), whatever the account's size:

1. the cursor with its paused record, the account's batch size and pause setting, and
   its circuit breaker (exports.alerts.circuit) (no cursor yet → idle, nothing exported);
2. the backlog: records of the account after `last_exported_id`;
3. open errors counted by error code (their sum is `open_errors`);
4. the open error of the paused record, when paused (the admin links to it);
5. the last 20 runs, newest first; the newest of them that ended (other than
   `skipped_locked`, which says nothing about the export) is the "last run" shown with
   the state: its outcome, message and end. While it `failed`, the account is *failing*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.db.models import Count, F
from django.utils import timezone

from accounts.models import Account
from exports.models import AlertState, ExportCursor, ExportError, ExportRecord, ExportRun
from exports.run import decisions

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class _BatchSize(TypedDict):
        batch_size: int | None  # the account's CRM settings' (None: no settings)
        pause_on: bool | None  # its "Pause on export errors" (None: no settings)

    CursorWithBatchSize = WithAnnotations[ExportCursor, _BatchSize]

RECENT_RUNS = 20

# What happens to the paused record next, under the account's pause setting now
# (docs/semantics.md › Settings take effect at the next call).
PARKED_WITH_PAUSE_ON = (
    "Every run retries this record first; nothing after it is written until it goes through."
)
PARKED_WITH_PAUSE_OFF = (
    "Pause on export errors is off now: the next run logs this record as an open export "
    "error, which the daily re-export retries, and goes on after it."
)


@dataclass(frozen=True)
class AccountStatus:
    account: str
    account_id: int
    state: str
    last_exported_id: int
    paused_record_id: int | None
    paused_external_id: str | None
    paused_since: datetime | None
    error_code: str | None
    error_message: str | None
    paused_error_id: int | None
    backlog: int
    open_errors: int
    records_per_call: int | None = None  # what the next call carries (adapted to the org)
    open_errors_by_code: dict[str, int] = field(default_factory=dict)
    recent_runs: tuple[ExportRun, ...] = ()
    circuit_open_until: datetime | None = None
    circuit_reason: str | None = None
    paused_operation: str | None = None  # "delete" when the paused record is a deletion
    last_run: ExportRun | None = None
    pause_on: bool = True  # the account's "Pause on export errors" now (parked_outlook)

    @property
    def is_paused(self) -> bool:
        return self.state == ExportCursor.State.PAUSED

    @property
    def parked_outlook(self) -> str:
        """What the next run does with the paused record, under the pause setting now."""
        return PARKED_WITH_PAUSE_ON if self.pause_on else PARKED_WITH_PAUSE_OFF

    @property
    def is_failing(self) -> bool:
        """The last run failed (login refused, the org unreachable, ...), and no run is on."""
        return (
            self.last_run is not None
            and self.last_run.outcome == ExportRun.Outcome.FAILED
            and self.state != ExportCursor.State.RUNNING
        )

    def as_json(self) -> dict[str, Any]:
        """The `crm_status --json` object (docs/commands.md) plus the errors by code and pause time."""
        return {
            "account": self.account,
            "account_id": self.account_id,
            "state": self.state,
            "last_exported_id": self.last_exported_id,
            "paused_record_id": self.paused_record_id,
            "paused_external_id": self.paused_external_id,
            "paused_operation": self.paused_operation,
            "paused_since": _iso(self.paused_since),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "paused_error_id": self.paused_error_id,
            "backlog": self.backlog,
            "open_errors": self.open_errors,
            "open_errors_by_code": dict(self.open_errors_by_code),
            "last_run_id": self.last_run.id if self.last_run else None,
            "last_run_outcome": self.last_run.outcome if self.last_run else None,
            "last_run_message": (self.last_run.message or None) if self.last_run else None,
            "last_run_finished_at": _iso(self.last_run.finished_at if self.last_run else None),
            "failing": self.is_failing,
            "records_per_call": self.records_per_call,
            "circuit_open_until": (
                self.circuit_open_until.isoformat() if self.circuit_open_until else None
            ),
            "circuit_reason": self.circuit_reason,
        }


def account_status(account: Account) -> AccountStatus:
    """Snapshot the export of `account` (see the module docstring for the five queries)."""
    cursor = (
        ExportCursor.objects.select_related("paused_record", "account__alert_state")
        .annotate(  # no secret decrypted
            batch_size=F("account__crm_settings__batch_size"),
            pause_on=F("account__crm_settings__pause_on_export_errors"),
        )
        .filter(account=account)
        .first()
    )
    last_exported_id = cursor.last_exported_id if cursor else 0
    state = cursor.state if cursor else ExportCursor.State.IDLE
    paused_cursor = cursor if cursor is not None and state == ExportCursor.State.PAUSED else None
    paused_record = paused_cursor.paused_record if paused_cursor else None

    backlog = ExportRecord.objects.filter(account=account, id__gt=last_exported_id).count()
    by_code = _open_errors_by_code(account)
    recent_runs = tuple(ExportRun.objects.filter(account=account).order_by("-id")[:RECENT_RUNS])
    breaker = _open_circuit(cursor)

    return AccountStatus(
        account=account.slug,
        account_id=account.id,
        state=str(state),
        last_exported_id=last_exported_id,
        paused_record_id=paused_record.id if paused_record else None,
        paused_external_id=paused_record.external_id if paused_record else None,
        paused_operation=paused_record.operation if paused_record else None,
        paused_since=paused_cursor.paused_since if paused_cursor else None,
        error_code=(cursor.last_error_code or None) if cursor else None,
        error_message=(cursor.last_error_message or None) if cursor else None,
        paused_error_id=_open_error_id(paused_record),
        backlog=backlog,
        open_errors=sum(by_code.values()),
        open_errors_by_code=by_code,
        records_per_call=_records_per_call(cursor),
        recent_runs=recent_runs,
        circuit_open_until=breaker[0] if breaker else None,
        circuit_reason=breaker[1] if breaker else None,
        last_run=last_ended_run(recent_runs),
        pause_on=_pause_on(cursor),
    )


def last_ended_run(runs_newest_first: tuple[ExportRun, ...]) -> ExportRun | None:
    """The newest run that ended, skipping runs that found another run holding the lease."""
    for run in runs_newest_first:
        if run.outcome and run.outcome != ExportRun.Outcome.SKIPPED_LOCKED:
            return run
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _records_per_call(cursor: CursorWithBatchSize | None) -> int | None:
    """What the account's next call carries; None without a cursor or CRM settings."""
    if cursor is None or cursor.batch_size is None:
        return None
    adapted = cursor.records_per_call if settings.CRMSYNC_ADAPTIVE_CALLS else None
    return decisions.call_size(
        adapted, cursor.batch_size, settings.CRMSYNC_BATCHES_PER_CALL
    ).records


def _pause_on(cursor: CursorWithBatchSize | None) -> bool:
    """The account's pause setting, read with its cursor (an account without a cursor is
    never paused: the default does)."""
    return True if cursor is None or cursor.pause_on is None else cursor.pause_on


def _open_circuit(cursor: ExportCursor | None) -> tuple[datetime, str] | None:
    """(until, why) while the account's circuit breaker holds its scheduled runs."""
    try:
        state = cursor.account.alert_state if cursor else None
    except AlertState.DoesNotExist:
        return None
    if state is None or not state.circuit_open_until or state.circuit_open_until <= timezone.now():
        return None
    return state.circuit_open_until, state.circuit_reason


def _open_errors_by_code(account: Account) -> dict[str, int]:
    rows = (
        ExportError.objects.filter(account=account)
        .open()
        .values("error_code")
        .annotate(count=Count("id"))
        .order_by("-count", "error_code")
    )
    return {row["error_code"]: row["count"] for row in rows}


def _open_error_id(record: ExportRecord | None) -> int | None:
    if record is None:
        return None
    return ExportError.objects.filter(record=record).open().values_list("id", flat=True).first()
