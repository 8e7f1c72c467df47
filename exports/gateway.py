"""The one door to Salesforce. Only this module imports simple-salesforce.

(Interface first; the implementation lands with issue 2.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecordResult:
    """What Salesforce said about one record of a Collections upsert."""

    ok: bool
    sf_id: str | None = None
    created: bool | None = None
    error_code: str = ""
    message: str = ""
    fields: tuple[str, ...] = field(default_factory=tuple)
    # allOrNone: this record was fine but was not applied because another failed.
    rolled_back: bool = False


class GatewayError(Exception):
    """A failure of a whole request. `permanent` tells whether retrying can help."""

    permanent = True

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientError(GatewayError):
    """Timeouts, connection errors, 5xx, UNABLE_TO_LOCK_ROW, REQUEST_LIMIT_EXCEEDED: retry."""

    permanent = False


class AuthError(GatewayError):
    """Login failed or the connection is misconfigured: the run fails, no ExportErrors."""
