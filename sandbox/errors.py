"""Salesforce's error shapes, as the sandbox answers them.

A failed REST request answers a JSON *array* of `{"message", "errorCode"}` objects
(with `fields` for record errors), e.g. 401
`[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]` —
simple-salesforce refreshes a session only on exactly that shape.
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
A record inside an sObject Collections result carries `{"statusCode", "message", "fields"}`.
"""

from __future__ import annotations

from typing import Any

# Default body code for an injected failure of a given HTTP status (faults.fail_status).
STATUS_CODES = {
    400: "INVALID_REQUEST",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "UNKNOWN_EXCEPTION",
    502: "SERVER_UNAVAILABLE",
    503: "SERVER_UNAVAILABLE",
    504: "SERVER_UNAVAILABLE",
}
SESSION_EXPIRED = "Session expired or invalid"
NOT_FOUND_MESSAGE = "The requested resource does not exist"
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using AllOrNone"
    " header"
)


class ApiError(Exception):
    """A whole request fails with `status` and Salesforce's error array."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


def record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One entry of a record result's `errors` list."""
    return {"statusCode": code, "message": message, "fields": list(fields or [])}


def injected_failure(status: int) -> ApiError:
    code = STATUS_CODES.get(status, "UNKNOWN_EXCEPTION")
    if code == "SERVER_UNAVAILABLE":
        message = "Server temporarily unavailable (sandbox fault: fail_next)"
    else:
        message = f"Injected failure HTTP {status} (sandbox fault: fail_next)"
    return ApiError(status, code, message)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def entity_is_deleted() -> ApiError:
    """A record in the recycle bin, named by Id in a URI."""
    return ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")


def no_such_column(field: str, sobject: str) -> ApiError:
    return ApiError(400, "INVALID_FIELD", f"No such column '{field}' on sobject of type {sobject}")


def concurrent_limit() -> ApiError:
    """Too many requests in flight for the org (faults.max_concurrent_requests), worded as
    Salesforce words its limit on concurrent long-running requests."""
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
