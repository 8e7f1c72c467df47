"""Salesforce's Composite resource, `POST /services/data/vXX.X/composite`: the checks and shapes.

Up to 25 subrequests in ONE API call ("Send Multiple Requests Using Composite",
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm).
Api.composite runs them: each through the same handler as the plain request (any data
resource: sObject Collections upserts and deletes, single upserts and deletes, query, ...;
a Collections delete is `{"method": "DELETE", "url": ".../composite/sobjects?ids=..."}`
with no body), but without latency, stalls,
injected failures, token checks or API charges, which the composite as a whole gets once
like any data request. `lock_rows_next` still applies per record. Subrequests run strictly
one after another in request order, so a later one sees what earlier ones wrote;
`collateSubrequests` is accepted and ignored (the sandbox never collates). References
between subrequests (`@{referenceId.field}`) are not resolved: such text is passed as is.

Request: {"allOrNone": false, "collateSubrequests": false, "compositeRequest": [{"method",
"url", "referenceId", "body" (optional), "httpHeaders" (optional, ignored)}, ...]}.
Everything is checked before any subrequest runs; a bad composite is a plain 400 with
Salesforce's error array:
- not JSON, not an object, a flag not a boolean, `compositeRequest` not a non-empty list of
  objects with string `method`, `url` and `referenceId`: JSON_PARSER_ERROR;
- more than 25 subrequests, or more than 5 of them sObject Collections or query requests
  (the limits in the Composite page's note): LIMIT_EXCEEDED, with Salesforce's message for
  the first ("The request can’t contain more than 25 operations.", as an org answered it in
  github.com/guardian/support-service-lambdas/pull/766, there wrapped as the only item of a
  compositeResponse; the sandbox answers a plain 400);
- a `referenceId` with anything but letters, digits and underscores ("Composite Subrequest
  Result") or used twice, a `url` not under `/services/data/vXX.X/` of the composite's own
  version, or a composite inside a composite: INVALID_API_INPUT.

Response: 200 {"compositeResponse": [{"body", "httpHeaders", "httpStatusCode",
"referenceId"}, ...]}, one item per subrequest in order, `body` being what the subrequest
answers on its own. allOrNone ("allOrNone Parameters in Composite and Collections Requests"):
- false (default): each subrequest stands alone; a Collections one follows its own allOrNone.
- true: Collections subrequests run all-or-none whatever their own flag. The first
  subrequest that fails (HTTP >= 400, or Collections results with a failed record) ends the
  composite: what earlier subrequests wrote or deleted is rolled back (Store.transaction),
  it keeps its own answer, and every other subrequest (the later ones are not run) answers
  400 PROCESSING_HALTED.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import ApiError
from sandbox.json_bodies import boolean_field, parse_json
from sandbox.transport import Request, Response, query_params

MAX_SUBREQUESTS = 25
MAX_COLLECTIONS_AND_QUERIES = 5
REFERENCE_ID = re.compile(r"[A-Za-z0-9_]+")
COLLECTION_OR_QUERY = re.compile(r"/(?:composite/sobjects|query|queryAll)(?:/|$)")
NESTED_COMPOSITE = re.compile(r"/composite/?")
HALTED_BODY = json.dumps(
    [
        {
            "errorCode": "PROCESSING_HALTED",
            "message": "The transaction was rolled back since another operation in the same"
            " transaction failed.",
        }
    ]
)


@dataclass(slots=True)
class Subrequest:
    reference_id: str
    request: Request
    rest: str  # the URL path after /services/data/vXX.X, for Api's data routes


def parse_composite(request: Request, version: str) -> tuple[bool, list[Subrequest]]:
    """Check a composite request; return (allOrNone, subrequests) or raise a 400."""
    data = parse_json(request.body)
    if not isinstance(data, dict):
        raise _parser_error("Expected a JSON object with 'compositeRequest'")
    all_or_none = boolean_field(data, "allOrNone")
    boolean_field(data, "collateSubrequests")  # accepted; subrequests always run in order
    items = data.get("compositeRequest")
    if not isinstance(items, list) or not items:
        raise _parser_error("'compositeRequest' must be a non-empty list of subrequests")
    if len(items) > MAX_SUBREQUESTS:
        raise ApiError(
            400,
            "LIMIT_EXCEEDED",
            f"The request can’t contain more than {MAX_SUBREQUESTS} operations.",
        )
    prefix = f"/services/data/v{version}/"
    seen: set[str] = set()
    subrequests = [
        _subrequest(request, item, f"compositeRequest[{position}]", prefix, seen, all_or_none)
        for position, item in enumerate(items)
    ]
    counted = sum(1 for sub in subrequests if COLLECTION_OR_QUERY.match(sub.rest))
    if counted > MAX_COLLECTIONS_AND_QUERIES:
        raise ApiError(
            400,
            "LIMIT_EXCEEDED",
            f"The request can’t contain more than {MAX_COLLECTIONS_AND_QUERIES} sObject"
            f" Collections or query operations (it has {counted}).",
        )
    return all_or_none, subrequests


def _subrequest(
    request: Request, item: Any, where: str, prefix: str, seen: set[str], all_or_none: bool
) -> Subrequest:
    """One item of `compositeRequest`, checked (`seen`: the referenceIds before it)."""
    if not isinstance(item, dict):
        raise _parser_error(f"{where} is not an object")
    for name in ("method", "url", "referenceId"):
        if not isinstance(item.get(name), str):
            raise _parser_error(f"{where}: '{name}' is required and must be a string")
    if not isinstance(item.get("httpHeaders", {}), dict):
        raise _parser_error(f"{where}: 'httpHeaders' must be an object")
    reference_id = item["referenceId"]
    if not REFERENCE_ID.fullmatch(reference_id):
        raise _input_error(
            f"{where}: referenceId {json.dumps(reference_id)} may contain only letters,"
            " digits and underscores"
        )
    if reference_id in seen:
        raise _input_error(f"{where}: duplicate referenceId {json.dumps(reference_id)}")
    seen.add(reference_id)
    url = item["url"]
    if not url.startswith(prefix):
        raise _input_error(
            f"{where}: url must start with {prefix} (the composite's API version),"
            f" got {json.dumps(url)}"
        )
    parts = urlsplit(url)
    rest = parts.path[len(prefix) - 1 :]
    if NESTED_COMPOSITE.fullmatch(rest):
        raise _input_error(f"{where}: a composite request cannot contain a composite request")
    sub_request = Request(
        item["method"],
        parts.path,
        query_params(parts.query),
        request.headers,
        request.body,  # where its `body` came from (for the positions in parser errors)
        parsed=item.get("body"),
        all_or_none=all_or_none,
    )
    return Subrequest(reference_id, sub_request, rest)


def failed(response: Response) -> bool:
    """Whether a subrequest failed, for allOrNone: an HTTP error or any failed record."""
    return response.status >= 400 or response.record_errors


def composite_response(
    subrequests: list[Subrequest], responses: list[Response], failure: int | None
) -> Response:
    """The 200 compositeResponse, built from the subrequests' encoded bodies (no re-encoding).

    `failure`: the position of the subrequest that ended an allOrNone composite; every
    other subrequest then answers PROCESSING_HALTED (`responses` may stop at `failure`).
    """
    items = []
    for position, sub in enumerate(subrequests):
        if failure is None or position == failure:
            response = responses[position]
            status, body = response.status, response.json()
            headers = json.dumps(response.headers) if response.headers else "{}"
        else:
            status, body, headers = 400, HALTED_BODY, "{}"
        items.append(
            f'{{"body":{body},"httpHeaders":{headers},"httpStatusCode":{status},'
            f'"referenceId":"{sub.reference_id}"}}'
        )
    return Response(200, raw='{"compositeResponse":[' + ",".join(items) + "]}")


def _parser_error(message: str) -> ApiError:
    return ApiError(400, "JSON_PARSER_ERROR", message)


def _input_error(message: str) -> ApiError:
    return ApiError(400, "INVALID_API_INPUT", message)
