"""What travels to and from Salesforce: a batch of encoded records, one record's result, and
what an error code means (`classify`). Pure values and parsing; no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

PROCESSING_HALTED = "PROCESSING_HALTED"
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
# Apex wraps a row lock met inside a trigger or flow in this code; the lock is still transient.
WRAPPED = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_LIMIT_EXCEEDED",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
    }
)
AUTH_CODES = frozenset(
    {
        "INVALID_SESSION_ID",
        "INVALID_AUTH_HEADER",
        "API_DISABLED_FOR_ORG",
        "API_CURRENTLY_DISABLED",
        "INVALID_LOGIN",
        "LOGIN_MUST_USE_SECURITY_TOKEN",
        "INVALID_OPERATION_WITH_EXPIRED_PASSWORD",
        "PASSWORD_LOCKOUT",
        # OAuth token endpoint errors (RFC 6749 §5.2, as Salesforce spells them)
        "invalid_client",
        "invalid_client_id",
        "invalid_grant",
        "invalid_request",
        "unauthorized_client",
        "unsupported_grant_type",
        "inactive_user",
        "inactive_org",
    }
)

Classification = Literal["transient", "rejected", "rolled_back", "auth"]


@dataclass(slots=True)  # not frozen: a frozen dataclass takes 4x as long to build (hot path)
class RecordResult:
    """What Salesforce said about one record of a Collections upsert (treat as read-only)."""

    ok: bool
    sf_id: str | None = None
    created: bool | None = None
    error_code: str = ""
    message: str = ""
    fields: tuple[str, ...] = ()
    # allOrNone: this record was fine but was not applied because another failed (or not sent).
    rolled_back: bool = False
    # A per-record transient code (UNABLE_TO_LOCK_ROW, ...): retry, never an ExportError.
    transient: bool = False
    # The whole request was refused (e.g. a 400 JSON_PARSER_ERROR): not judged on this record.
    whole: bool = False


@dataclass(frozen=True)
class Batch:
    """Records of one (sObject, external id field) for one Collections request (≤200):
    an upsert's records each encoded as the JSON object Salesforce takes (`encode_record`),
    or, `delete`, the Salesforce Ids of the records to delete."""

    sobject: str
    external_id_field: str
    records: Sequence[str]
    delete: bool = False


def encode_record(sobject: str, fields: Mapping[str, Any]) -> str:
    """One record of a Collections upsert as JSON text: its fields and `attributes.type`."""
    return json.dumps({**fields, "attributes": {"type": sobject}}, allow_nan=False)


NOT_SENT = RecordResult(
    ok=False,
    error_code=ROLLED_BACK,
    message="Not sent: an earlier record of this all-or-none batch was rejected.",
    rolled_back=True,
)
HALTED = RecordResult(
    ok=False,
    error_code=PROCESSING_HALTED,
    message="Rolled back: another subrequest of this all-or-none Composite request failed.",
    rolled_back=True,
)


def classify(error_code: str, message: str = "") -> Classification:
    """What a Salesforce errorCode/statusCode (or OAuth `error`) means for the export.

    transient: retry later (also a row lock that Apex wrapped in
    CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY); auth: the connection or login is wrong, the run
    fails; rolled_back: fine, but not applied because another record of an all-or-none
    request failed; rejected: everything else, Salesforce refuses this data.
    """
    if error_code in TRANSIENT_CODES:
        return "transient"
    if error_code == WRAPPED and "UNABLE_TO_LOCK_ROW" in message:
        return "transient"
    if error_code == ROLLED_BACK:
        return "rolled_back"
    if error_code in AUTH_CODES:
        return "auth"
    return "rejected"


def results_of(body: list[Any]) -> list[RecordResult]:
    """`record_result` of each entry of a result list (a thousand a call: a success is
    built here without a call of its own)."""
    return [
        RecordResult(True, entry.get("id"), entry.get("created"))
        if type(entry) is dict and entry.get("success")
        else record_result(entry)
        for entry in body
    ]


def record_result(item: Any) -> RecordResult:
    """One UpsertResult ({id, success, created, errors: [{statusCode, message, fields}]})
    or DeleteResult (the same without `created`)."""
    if type(item) is dict and item.get("success"):  # the common case first
        return RecordResult(True, item.get("id"), item.get("created"))
    if not isinstance(item, Mapping):
        return RecordResult(False, None, None, "UNEXPECTED_ANSWER", f"Not a result: {item!r}")
    if item.get("success"):
        return RecordResult(ok=True, sf_id=item.get("id"), created=item.get("created"))
    errors = [e for e in item.get("errors") or [] if isinstance(e, Mapping)]
    own = [e for e in errors if e.get("statusCode") != ROLLED_BACK] or errors
    code = str(own[0].get("statusCode", "")) if own else "UNKNOWN_EXCEPTION"
    message = "; ".join(str(e.get("message", "")) for e in own)
    kind = classify(code, message)
    return RecordResult(
        ok=False,
        sf_id=item.get("id"),
        error_code=code,
        message=message,
        fields=tuple(dict.fromkeys(str(f) for e in own for f in e.get("fields") or ())),
        rolled_back=kind == "rolled_back",
        transient=kind == "transient",
    )


def collection_body(all_or_none: bool, records: Sequence[str]) -> str:
    """The JSON body of a Collections upsert from records encoded one by one."""
    flag = "true" if all_or_none else "false"
    return f'{{"allOrNone":{flag},"records":[{",".join(records)}]}}'


def is_result_list(body: Any, count: int) -> bool:
    if not isinstance(body, list) or len(body) != count:
        return False
    # `type(...) is dict` first: a Mapping check per record costs ~10x as much.
    return all(
        "success" in entry
        if type(entry) is dict
        else isinstance(entry, Mapping) and "success" in entry
        for entry in body
    )
