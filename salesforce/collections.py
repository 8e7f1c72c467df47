"""sObject Collections and Composite requests on the wire: the Composite body of several
Collections upserts and deletions, and the answers read back as one RecordResult per record.

Salesforce: a Composite request holds up to 25 subrequests, at most 5 of them sObject
Collections or queries; it counts as one API call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from salesforce.errors import (
    AuthError,
    GatewayError,
    RequestRejected,
    TransientError,
    error_details,
)
from salesforce.wire import (
    HALTED,
    NOT_SENT,
    PROCESSING_HALTED,
    Batch,
    RecordResult,
    classify,
    collection_body,
    is_result_list,
    results_of,
)

MAX_COLLECTION = 200  # sObject Collections limit per request
MAX_COLLECTIONS_PER_COMPOSITE = 5


def check_call(batches: Sequence[Batch]) -> None:
    """A call's batches must fit one request: at most 5 batches of at most 200 records."""
    if len(batches) > MAX_COLLECTIONS_PER_COMPOSITE:
        raise ValueError(f"{len(batches)} batches; a Composite request takes at most 5")
    for batch in batches:
        if len(batch.records) > MAX_COLLECTION:
            raise ValueError(
                f"{len(batch.records)} records; a Collections upsert takes at most 200"
            )


def composite_body(prefix: str, batches: Sequence[Batch], all_or_none: bool) -> str:
    """One Composite request of Collections subrequests (upserts by external id, deletions
    by Id), executed in order."""
    # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_allornone.htm
    flag = "true" if all_or_none else "false"
    subrequests = ",".join(
        f'{{"method":"DELETE","url":"{prefix}?{delete_query(b.records, all_or_none)}",'
        f'"referenceId":"batch{k}"}}'
        if b.delete
        else f'{{"method":"PATCH","url":"{prefix}/{b.sobject}/{b.external_id_field}",'
        f'"referenceId":"batch{k}","body":{collection_body(all_or_none, b.records)}}}'
        for k, b in enumerate(batches)
    )
    return f'{{"allOrNone":{flag},"collateSubrequests":false,"compositeRequest":[{subrequests}]}}'


def delete_query(ids: Sequence[str], all_or_none: bool) -> str:
    """The query string of a Collections delete: `ids=…&allOrNone=…` (Salesforce Ids are
    letters and digits, `is_salesforce_id`)."""
    # https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-delete.html
    return f"ids={','.join(ids)}&allOrNone={'true' if all_or_none else 'false'}"


def is_salesforce_id(value: str) -> bool:
    """A Salesforce record Id: 15 or 18 letters and digits."""
    return len(value) in (15, 18) and value.isascii() and value.isalnum()


def soql_literal(value: str) -> str:
    """A string as a SOQL literal, quoted and escaped (Salesforce's SOQL escape sequences)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"


def id_queries(sobject: str, field: str, values: Sequence[str], max_chars: int) -> list[str]:
    """SOQL queries finding the records of `values` in an external id field, each at most
    about `max_chars` long (a query travels in the URL)."""
    head = f"SELECT Id, {field} FROM {sobject} WHERE {field} IN ("
    queries: list[str] = []
    literals: list[str] = []
    for value in dict.fromkeys(values):
        literal = soql_literal(value)
        if literals and len(head) + sum(len(x) + 1 for x in literals) + len(literal) > max_chars:
            queries.append(head + ",".join(literals) + ")")
            literals = []
        literals.append(literal)
    if literals:
        queries.append(head + ",".join(literals) + ")")
    return queries


def collection_results(answer: Any, count: int) -> list[RecordResult]:
    """A Collections upsert's answer: one result per record, or an error saying why not."""
    if not isinstance(answer, list) or len(answer) != count:
        found = len(answer) if isinstance(answer, list) else "no"
        raise GatewayError(
            f"Salesforce answered a Collections upsert of {count} records with "
            f"{found} results; nothing can be concluded, report this answer.",
            "UNEXPECTED_ANSWER",
        )
    return results_of(answer)


def composite_results(answer: Any, batches: Sequence[Batch]) -> list[RecordResult]:
    """A Composite request's answer: its subrequests' results, in order."""
    items = answer.get("compositeResponse") if isinstance(answer, Mapping) else None
    if not isinstance(items, list) or len(items) != len(batches):
        raise GatewayError(
            f"Salesforce answered a Composite request of {len(batches)} subrequests "
            "without one response per subrequest; nothing can be concluded, report this "
            "answer.",
            "UNEXPECTED_ANSWER",
        )
    results: list[RecordResult] = []
    for batch, item in zip(batches, items, strict=True):
        results += subrequest_results(item, len(batch.records))
    return results


def subrequest_results(item: Any, count: int) -> list[RecordResult]:
    """The results of one Collections subrequest of a Composite request; a subrequest
    refused as a whole for a permanent reason gives every record its error, marked `whole`."""
    item = item if isinstance(item, Mapping) else {}
    status, body = item.get("httpStatusCode"), item.get("body")
    if is_result_list(body, count):  # per-record results, whatever the status says
        return results_of(body)
    if isinstance(status, int) and status < 300:
        if isinstance(body, list) and len(body) == count:
            return results_of(body)
        raise GatewayError(
            f"Salesforce answered a Collections subrequest of {count} records with "
            f"{len(body) if isinstance(body, list) else 'no'} results; nothing can be "
            "concluded, report this answer.",
            "UNEXPECTED_ANSWER",
        )
    code, message, fields = error_details(body)
    if code == PROCESSING_HALTED:
        return [HALTED] * count
    kind = classify(code, message)
    if kind == "transient" or not isinstance(status, int) or status >= 500:
        raise TransientError(
            f"Salesforce answered a Composite subrequest with HTTP {status} {code}: {message}; "
            "will retry.",
            code or f"HTTP_{status}",
        )
    if kind == "auth":
        raise AuthError(f"Salesforce refused a Composite subrequest ({code}: {message}).", code)
    refused = RequestRejected(message, code or f"HTTP_{status}", status, fields)
    return refused_alike(refused, count, all_or_none=False)


def refused_alike(exc: RequestRejected, count: int, all_or_none: bool) -> list[RecordResult]:
    """`count` records of a request refused for one reason. A 404 (unknown object or field
    in the URL) is every record's own error; any other refusal is of the request as a whole
    (`whole`: to be narrowed down). All-or-none sends none after the first."""
    refused = RecordResult(
        False, None, None, exc.code, exc.message, exc.fields, whole=exc.status != 404
    )
    if all_or_none:
        return [refused] + [NOT_SENT] * (count - 1)
    return [refused] * count
