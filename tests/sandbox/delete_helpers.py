"""What the delete tests send: upserts that make records, Collections deletes, Composite
subrequests of both kinds (through simple-salesforce, as crmsync's client sends them)."""

from __future__ import annotations

from typing import Any

from sandbox.ids import make_id

API = "/services/data/v59.0"
UPSERT_URI = "composite/sobjects/{sobject}/ExtId__c"
# a well-formed Contact id that no record will have in a test
UNKNOWN_ID = make_id("Contact", 987_654_321)
HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same"
        " transaction failed.",
    }
]


def rows(*ext_ids: str, sobject: str = "Contact", **fields: Any) -> list[dict[str, Any]]:
    fields.setdefault("LastName", "Ames")
    return [{"attributes": {"type": sobject}, "ExtId__c": ext_id, **fields} for ext_id in ext_ids]


def upsert(sf, *ext_ids: str, sobject: str = "Contact", **fields: Any) -> list[str]:
    """Upsert records by ExtId__c (all must succeed); return their ids in order."""
    results = sf.restful(
        UPSERT_URI.format(sobject=sobject),
        method="PATCH",
        json={"allOrNone": True, "records": rows(*ext_ids, sobject=sobject, **fields)},
    )
    assert all(r["success"] for r in results), results
    return [r["id"] for r in results]


def delete(sf, ids: list[str], all_or_none: bool | None = None) -> list[dict[str, Any]]:
    """DELETE composite/sobjects?ids=...[&allOrNone=...]: the DeleteResults."""
    params = {"ids": ",".join(ids)}
    if all_or_none is not None:
        params["allOrNone"] = "true" if all_or_none else "false"
    return sf.restful("composite/sobjects", method="DELETE", params=params)


def delete_subrequest(reference_id: str, ids: list[str], all_or_none: bool = False) -> dict:
    flag = "true" if all_or_none else "false"
    return {
        "method": "DELETE",
        "url": f"{API}/composite/sobjects?ids={','.join(ids)}&allOrNone={flag}",
        "referenceId": reference_id,
    }


def upsert_subrequest(reference_id: str, records: list[dict[str, Any]]) -> dict:
    sobject = records[0]["attributes"]["type"]
    return {
        "method": "PATCH",
        "url": f"{API}/{UPSERT_URI.format(sobject=sobject)}",
        "referenceId": reference_id,
        "body": {"allOrNone": False, "records": records},
    }


def composite(sf, subrequests: list[dict], all_or_none: bool = False) -> list[dict[str, Any]]:
    body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
    return sf.restful("composite", method="POST", json=body)["compositeResponse"]


def ok(sf_id: str) -> dict[str, Any]:
    """A DeleteResult of a deleted record."""
    return {"id": sf_id, "success": True, "errors": []}


def failed(sf_id: str | None, code: str, message: str) -> dict[str, Any]:
    """A DeleteResult of a record that was not deleted."""
    error = {"statusCode": code, "message": message, "fields": []}
    return {"id": sf_id, "success": False, "errors": [error]}


def ext_ids(sf, sobject: str = "Contact") -> list[str]:
    """The ExtId__c of every record a query sees, sorted."""
    found = sf.query_all(f"SELECT ExtId__c FROM {sobject}")["records"]
    return sorted(r["ExtId__c"] for r in found)


def logged(sandbox) -> list[tuple[str, str]]:
    """The write log as (op, external id) pairs."""
    return [(w["op"], w["external_id"]) for w in sandbox.writes()]
