"""Find the Salesforce Ids of records by external id: for a deletion of a key nobody wrote
through crmsync (the record existed before it), one SOQL query per batch."""

from __future__ import annotations

from collections.abc import Sequence

from salesforce.client import Gateway
from salesforce.collections import id_queries, is_salesforce_id

# A query travels in the URL of a GET; Salesforce takes URLs of about 16,000 characters.
MAX_QUERY_CHARS = 12_000


def find_ids(gateway: Gateway, sobject: str, field: str, values: Sequence[str]) -> dict[str, str]:
    """{value: Salesforce Id} of the `values` the org has in the external id `field` of
    `sobject`, matched as the org compares them (case folded where its describe says the
    field ignores case); a value with no record is left out."""
    if not values:
        return {}
    sensitive = gateway.external_id_case_sensitive(sobject, field)

    def folded(value: str) -> str:
        return value if sensitive else value.casefold()

    found: dict[str, str] = {}
    for soql in id_queries(sobject, field, values, MAX_QUERY_CHARS):
        for record in gateway.query(soql):
            sf_id, value = record.get("Id"), record.get(field)
            if isinstance(sf_id, str) and is_salesforce_id(sf_id) and value is not None:
                found[folded(str(value))] = sf_id
    return {v: found[folded(v)] for v in values if folded(v) in found}
