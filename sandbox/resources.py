"""Salesforce REST resources the sandbox serves (after auth, faults and API counting).

An sObject the org does not have (not in the rules, not a standard object, not a
custom `__c` object) answers 404 NOT_FOUND "The requested resource does not exist" in a
URI, as Salesforce does for an unknown resource, and 400 INVALID_TYPE in SOQL
("sObject type 'X' is not supported...").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sandbox import errors
from sandbox.apex import CpuMeter
from sandbox.delete import MAX_IDS, well_formed_id
from sandbox.errors import ApiError
from sandbox.ids import STANDARD_OBJECTS, is_known_object, key_prefix
from sandbox.json_bodies import collection_body, parse_json
from sandbox.org import Org
from sandbox.paging import batch_size
from sandbox.query import parse_query
from sandbox.rules import ObjectRules, relationship_name
from sandbox.transport import NOT_PARSED, Request, Response
from sandbox.types import TEXT_TYPES, check_request_types
from sandbox.upsert import check_external_id_field, check_field_names, full_id

API_VERSIONS = ("55.0", "56.0", "57.0", "58.0", "59.0", "60.0", "61.0", "62.0")


def versions() -> list[dict[str, str]]:
    return [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in API_VERSIONS]


def limits(org: Org, request: Request, version: str) -> Response:
    used, limit = org.faults.api_usage()
    return Response(200, {"DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)}})


def upsert_collection(
    org: Org, request: Request, version: str, sobject: str, field: str
) -> Response:
    """PATCH composite/sobjects/{S}/{F}: 200 with one UpsertResult per record, in order.

    Inside an allOrNone composite (`request.all_or_none`) it runs all-or-none whatever its
    own `allOrNone` says.
    """
    rules = _object_rules(org, sobject)
    check_external_id_field(rules, field)
    all_or_none, records = collection_body(_json_body(request), sobject)
    check_field_names(rules, sobject, records)
    if rules.field_types:
        check_request_types(rules, records, request.body)
    cpu = request.cpu or CpuMeter(org.faults.cpu_limit_ms())
    outcomes = org.upserter.upsert(
        rules, sobject, field, records, all_or_none or request.all_or_none, cpu
    )
    return Response(
        200,
        raw="[" + ",".join(outcome.as_json() for outcome in outcomes) + "]",
        record_errors=not all(outcome.ok for outcome in outcomes),
        server_ms=cpu.spent_ms,
    )


def upsert_one(
    org: Org, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
    """PATCH sobjects/{S}/{F}/{v}: 201 created / 200 updated, or 400 with the record's error."""
    rules = _object_rules(org, sobject)
    check_external_id_field(rules, field)
    body = _json_body(request, or_if_empty={})
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object with the record's fields")
    record = {**body, field: value}
    check_field_names(rules, sobject, [record])
    if rules.field_types:
        check_request_types(rules, [record], request.body)
    cpu = request.cpu or CpuMeter(org.faults.cpu_limit_ms())
    (outcome,) = org.upserter.upsert(rules, sobject, field, [record], True, cpu)
    if not outcome.ok:
        error = outcome.errors[0]
        body = ApiError(400, error["statusCode"], error["message"], error["fields"]).body()
        return Response(400, body, server_ms=cpu.spent_ms)
    status = 201 if outcome.created else 200
    return Response(status, outcome.as_result(), server_ms=cpu.spent_ms)


def delete_collection(org: Org, request: Request, version: str) -> Response:
    """DELETE composite/sobjects?ids=ID1,ID2&allOrNone=false: 200 with one DeleteResult per
    id, in order (delete.py).

    Inside an allOrNone composite (`request.all_or_none`) it runs all-or-none whatever its
    own `allOrNone` says.
    """
    ids = [value.strip() for value in request.query.get("ids", "").split(",")]
    if ids == [""]:
        raise ApiError(400, "MISSING_ARGUMENT", "ids not specified")
    if len(ids) > MAX_IDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_IDS} records into this call",
        )
    all_or_none = _boolean_param(request, "allOrNone")
    cpu = request.cpu or CpuMeter(org.faults.cpu_limit_ms())
    outcomes = org.deleter.delete(ids, all_or_none or request.all_or_none, cpu)
    return Response(
        200,
        raw="[" + ",".join(outcome.as_json() for outcome in outcomes) + "]",
        record_errors=not all(outcome.ok for outcome in outcomes),
        server_ms=cpu.spent_ms,
    )


def delete_one(org: Org, request: Request, version: str, sobject: str, sf_id: str) -> Response:
    """DELETE sobjects/{S}/{Id}: 204; 404 when S has no such record (ENTITY_IS_DELETED when
    it is in the recycle bin, else NOT_FOUND); 400 with the record's error if refused."""
    _object_rules(org, sobject)
    full = well_formed_id(sf_id)
    with org.store.lock:
        if full is not None and org.store.deleted_sobject_of(full) == sobject:
            raise errors.entity_is_deleted()
        if full is None or org.store.sobject_of(full) != sobject:
            raise errors.not_found()
        return _delete_single(org, request, full)


def delete_by_external_id(
    org: Org, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
    """DELETE sobjects/{S}/{F}/{v}: as `delete_one`, the record found by its external id
    (folding case unless the field is case-sensitive); none: 404 NOT_FOUND."""
    rules = _object_rules(org, sobject)
    check_external_id_field(rules, field)
    with org.store.lock:
        found = org.store.ids_by_external_id(
            sobject, field, [value], not rules.case_sensitive(field)
        )
        sf_id = next(iter(found.values()), None)
        if sf_id is None:
            raise errors.not_found()
        return _delete_single(org, request, sf_id)


def _delete_single(org: Org, request: Request, sf_id: str) -> Response:
    """Delete one live record: 204 with no body, or 400 with its error as an error array."""
    cpu = request.cpu or CpuMeter(org.faults.cpu_limit_ms())
    (outcome,) = org.deleter.delete([sf_id], True, cpu)
    if not outcome.ok:
        error = outcome.errors[0]
        body = ApiError(400, error["statusCode"], error["message"], error["fields"]).body()
        return Response(400, body, server_ms=cpu.spent_ms)
    return Response(204, server_ms=cpu.spent_ms)


def query(org: Org, request: Request, version: str) -> Response:
    """GET query?q=SOQL: {"totalSize", "done", "records": [...]}, paged (paging.py).

    Deleted records are never returned; a condition on a case-insensitive external id field
    (listed in `external_ids`, or written by upserts) compares folded to lower case.
    """
    soql = request.query.get("q", "")
    parsed = parse_query(soql)
    if not is_known_object(parsed.sobject, set(org.rules.objects)):
        raise ApiError(
            400,
            "INVALID_TYPE",
            f"sObject type '{parsed.sobject}' is not supported. If you are attempting to use a"
            " custom object, be sure to append the '__c' after the entity name. Please reference"
            " your WSDL or the describe call for the appropriate names.",
        )
    _check_query_fields(org, parsed.sobject, parsed.named_fields())
    rules = org.rules.for_object(parsed.sobject)
    with org.store.lock:
        external_ids = set(rules.external_ids) | org.store.upsert_fields(parsed.sobject)
        conditions = [
            replace(c, fold=c.field in external_ids and not rules.case_sensitive(c.field))
            for c in parsed.conditions
        ]
        rows = org.store.query(parsed.sobject, conditions, parsed.order_by, parsed.limit)
    records = [
        _query_record(parsed.sobject, version, sf_id, fields, parsed.fields)
        for sf_id, fields in rows
    ]
    return Response(
        200, org.query_locators.first_page(records, batch_size(request.headers), version)
    )


def query_more(org: Org, request: Request, version: str, locator: str) -> Response:
    """GET query/<locator>-<offset>: the next page of a query's result."""
    return Response(200, org.query_locators.next_page(locator))


def get_by_id(org: Org, request: Request, version: str, sobject: str, sf_id: str) -> Response:
    """GET sobjects/{S}/{Id}: the record; 404 ENTITY_IS_DELETED (in the recycle bin) or
    NOT_FOUND."""
    _object_rules(org, sobject)
    sf_id = full_id(sf_id)
    with org.store.lock:
        fields = org.store.get(sobject, sf_id)
        deleted = fields is None and org.store.deleted_sobject_of(sf_id) == sobject
    if deleted:
        raise errors.entity_is_deleted()
    if fields is None:
        raise errors.not_found()
    return Response(200, _full_record(sobject, version, sf_id, fields))


def get_by_external_id(
    org: Org, request: Request, version: str, sobject: str, field: str, value: str
) -> Response:
    rules = _object_rules(org, sobject)
    check_external_id_field(rules, field)
    with org.store.lock:
        found = org.store.ids_by_external_id(
            sobject, field, [value], not rules.case_sensitive(field)
        )
        sf_id = next(iter(found.values()), None)
        fields = org.store.get(sobject, sf_id) if sf_id else None
    if sf_id is None or fields is None:
        raise errors.not_found()
    return Response(200, _full_record(sobject, version, sf_id, fields))


def describe_global(org: Org, request: Request, version: str) -> Response:
    names = sorted(set(org.rules.objects) | STANDARD_OBJECTS)
    return Response(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [_object_summary(name, version) for name in names],
        },
    )


def describe(org: Org, request: Request, version: str, sobject: str) -> Response:
    """GET sobjects/{S}/describe: the object and its fields, from the rules or the data.

    External id fields are those of `external_ids` and every field upserts have used as
    the external id; they report `externalId`, `unique` and `caseSensitive` (every other
    field: false, as orgs report them).
    """
    rules = _object_rules(org, sobject)
    with org.store.lock:
        external_ids = set(rules.external_ids) | org.store.upsert_fields(sobject)
        if rules.fields is not None:
            names = sorted(rules.fields)
        else:
            data = org.store.field_names(sobject)
            names = sorted({*data, *rules.field_types, *external_ids} - {"Id"})
    fields = [
        {
            "name": "Id",
            "type": "id",
            "length": 18,
            "nillable": False,
            "createable": False,
            "updateable": False,
            "externalId": False,
            "idLookup": True,
            "unique": False,
            "caseSensitive": False,
            "referenceTo": [],
            "relationshipName": None,
            "picklistValues": [],
            "restrictedPicklist": False,
        }
    ]
    fields.extend(
        _describe_field(rules, name, name in external_ids) for name in names if name != "Id"
    )
    return Response(200, {**_object_summary(sobject, version), "fields": fields})


def _describe_field(rules: ObjectRules, name: str, external_id: bool) -> dict[str, Any]:
    parent = rules.lookups.get(name)
    field_type = rules.field_types.get(name)
    kind = "reference" if parent else field_type.kind if field_type else "string"
    values = field_type.picklist_values if field_type else ()
    return {
        "name": name,
        "type": kind,
        "length": rules.max_length.get(name, 255) if kind in TEXT_TYPES else 18 if parent else 0,
        "nillable": name not in rules.required,
        "createable": name not in rules.readonly,
        "updateable": name not in rules.readonly,
        "externalId": external_id,
        "idLookup": external_id,
        "unique": external_id,
        "caseSensitive": external_id and rules.case_sensitive(name),
        "referenceTo": [parent] if parent else [],
        "relationshipName": relationship_name(name) if parent else None,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "value": v, "validFor": None}
            for v in values
        ],
        "restrictedPicklist": bool(values),
    }


def _json_body(request: Request, or_if_empty: Any = NOT_PARSED) -> Any:
    """The decoded body: a composite subrequest's as given, else parsed now (a 400 if bad).

    `or_if_empty`, when given, stands for a missing body (none sent, or blank).
    """
    if request.parsed is not NOT_PARSED:
        body = request.parsed
        return or_if_empty if body is None and or_if_empty is not NOT_PARSED else body
    if or_if_empty is not NOT_PARSED and not request.body.strip():
        return or_if_empty
    return parse_json(request.body)


def _boolean_param(request: Request, name: str) -> bool:
    """A URL parameter `true` or `false` (any case; absent: false), else a 400."""
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ApiError(
            400, "INVALID_QUERY_PARAMETER", f"{name} must be true or false, got {value!r}"
        )
    return value == "true"


def _object_rules(org: Org, sobject: str) -> Any:
    if not is_known_object(sobject, set(org.rules.objects)):
        raise errors.not_found()
    return org.rules.for_object(sobject)


def _check_query_fields(org: Org, sobject: str, names: set[str]) -> None:
    listed = org.rules.for_object(sobject).fields
    if listed is None:
        return
    for name in sorted(names - listed - {"Id"}):
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a"
            " custom field, be sure to append the '__c' after the custom field name. Please"
            " reference your WSDL or the describe call for the appropriate names.",
        )


def _query_record(
    sobject: str, version: str, sf_id: str, fields: dict[str, Any], selected: tuple[str, ...]
) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": _attributes(sobject, version, sf_id)}
    for name in selected:
        record[name] = sf_id if name == "Id" else fields.get(name)
    return record


def _full_record(sobject: str, version: str, sf_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"attributes": _attributes(sobject, version, sf_id), "Id": sf_id, **fields}


def _attributes(sobject: str, version: str, sf_id: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{sf_id}"}


def _object_summary(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name.removesuffix("__c").replace("_", " "),
        "keyPrefix": key_prefix(name),
        "custom": name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "queryable": True,
        "urls": {"sobject": f"/services/data/v{version}/sobjects/{name}"},
    }
