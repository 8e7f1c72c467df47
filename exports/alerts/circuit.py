"""The circuit breaker on failed logins (what no retry fixes).

After CRMSYNC_CIRCUIT_AUTH_FAILURES runs in a row fail to log in (wrong secret, revoked
app, expired password), the schedule stops starting the account's runs until
`circuit_open_until`: 10 minutes, doubling with each further failed login, at most
CRMSYNC_CIRCUIT_MAX_WAIT_S. A wrong password then costs a few logins an hour instead of
one every 5 minutes, and never locks the integration user out. `alert_rules._circuit`
decides when it opens and closes after a run; here are the rest:

- `closed(settings)`: the schedule's accounts without those waiting on an open circuit;
- `close(account_id)`: saving the CRM settings or a successful Test connection closes it;
- `open_until(account_id)`: for the status page and `crm_status`.

A run started by hand ("Run export now", `crm_export`, the API) still runs: it is one
login attempt that someone asked for, and it closes the circuit when it logs in.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import CRMSettings
from exports.models import AlertState


def closed(crm_settings: QuerySet[CRMSettings]) -> QuerySet[CRMSettings]:
    """`crm_settings` without the accounts whose circuit is open now (no extra query)."""
    return crm_settings.exclude(account__alert_state__circuit_open_until__gt=timezone.now())


def close(account_id: int) -> bool:
    """Close the account's circuit and forget its failed logins; True if there were any."""
    return bool(
        AlertState.objects.filter(account_id=account_id, auth_failures__gt=0).update(
            auth_failures=0, circuit_open_until=None, circuit_reason="", updated_at=timezone.now()
        )
    )


def open_until(account_id: int) -> tuple[datetime, str] | None:
    """(until when, why) while the account's circuit is open; None when closed."""
    state = (
        AlertState.objects.filter(account_id=account_id, circuit_open_until__gt=timezone.now())
        .values_list("circuit_open_until", "circuit_reason")
        .first()
    )
    if state is None or state[0] is None:  # (never None past the filter: typed nullable)
        return None
    return state[0], state[1]
