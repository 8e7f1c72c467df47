"""`field_types`: a value the org's JSON parser cannot read fails the whole request (or that
Composite subrequest) with 400 JSON_PARSER_ERROR; a bad email or picklist value fails only
its record; describe reports the types."""

from __future__ import annotations

import json

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

URI = "composite/sobjects/Contact/ExtId__c"
API = "/services/data/v59.0"
TYPES = {
    "LastName": "string",
    "Email": "email",
    "Birthdate": "date",
    "Last_Seen__c": "datetime",
    "Score__c": "double",
    "Visits__c": "int",
    "Active__c": "boolean",
    "Stage__c": {"type": "picklist", "picklist_values": ["Lead", "Customer"]},
}
RULES = {"objects": {"Contact": {"field_types": TYPES}}}


def contact(ext_id: str, **fields) -> dict:
    return {"attributes": {"type": "Contact"}, "ExtId__c": ext_id, "LastName": ext_id, **fields}


def parser_error(kind: str, token: str, text: str, body: dict, raw_value: str) -> dict:
    """The error Salesforce answers; the column is just after the value in the sent JSON."""
    sent = json.dumps(body)  # as requests encodes `json=`
    column = sent.index(raw_value) + len(raw_value) + 1
    return {
        "errorCode": "JSON_PARSER_ERROR",
        "message": f"Cannot deserialize instance of {kind} from {token} value {text} or request"
        f" may be missing a required field at [line:1, column:{column}]",
    }


@pytest.fixture
def sf(sandbox):
    sandbox.set_rules(RULES)
    return sandbox.salesforce()


def test_values_of_every_type_are_written(sandbox, sf):
    good = contact(
        "a",
        Email="ann@example.com",
        Birthdate="1990-02-28",
        Last_Seen__c="2024-05-01T10:20:30.000+0000",
        Score__c="12.5",
        Visits__c=3,
        Active__c=True,
        Stage__c="Customer",
    )
    nulls = contact("b", **{name: None for name in TYPES if name != "LastName"})

    results = sf.restful(URI, method="PATCH", json={"records": [good, nulls]})

    assert [r["success"] for r in results] == [True, True]
    assert sandbox.writes()[0]["fields"]["Birthdate"] == "1990-02-28"


@pytest.mark.parametrize(
    ("fields", "kind", "token", "text", "raw_value"),
    [
        ({"Birthdate": "2024-13-45"}, "date", "VALUE_STRING", "2024-13-45", '"2024-13-45"'),
        ({"Birthdate": 20240101}, "date", "VALUE_NUMBER_INT", "20240101", "20240101"),
        (
            {"Last_Seen__c": "2017-10-17 00:00:00"},
            "datetime",
            "VALUE_STRING",
            "2017-10-17 00:00:00",
            '"2017-10-17 00:00:00"',
        ),
        ({"Score__c": "abc"}, "double", "VALUE_STRING", "abc", '"abc"'),
        ({"Visits__c": 2.5}, "int", "VALUE_NUMBER_FLOAT", "2.5", "2.5"),
        ({"Active__c": "yes"}, "boolean", "VALUE_STRING", "yes", '"yes"'),
        ({"LastName": {"first": "A"}}, "string", "START_OBJECT", "{", '{"first": "A"}'),
    ],
)
def test_a_value_the_parser_cannot_read_fails_the_whole_request(
    sandbox, sf, fields, kind, token, text, raw_value
):
    body = {"allOrNone": False, "records": [contact("a"), contact("b", **fields), contact("c")]}

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful(URI, method="PATCH", json=body)

    assert caught.value.status == 400
    assert caught.value.content == [parser_error(kind, token, text, body, raw_value)]
    assert sandbox.writes() == []


def test_a_single_record_upsert_with_a_bad_date_is_a_400(sandbox, sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.upsert("ExtId__c/a", {"LastName": "Ames", "Birthdate": "31/12/2020"})

    assert caught.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert caught.value.content[0]["message"].startswith(
        "Cannot deserialize instance of date from VALUE_STRING value 31/12/2020 or request"
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"Email": "not-an-email"},
            {
                "statusCode": "INVALID_EMAIL_ADDRESS",
                "message": "Email: invalid email address: not-an-email",
                "fields": ["Email"],
            },
        ),
        (
            {"Stage__c": "Prospect"},
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Stage__c: bad value for restricted picklist field: Prospect",
                "fields": ["Stage__c"],
            },
        ),
    ],
    ids=["email", "picklist"],
)
def test_a_bad_email_or_picklist_value_fails_only_its_record(sandbox, sf, fields, error):
    records = [contact("a", Email="ann@example.com", Stage__c="Lead"), contact("b", **fields)]

    results = sf.restful(URI, method="PATCH", json={"records": records})

    assert results[0]["success"] is True
    assert results[1]["errors"] == [error]
    assert [w["external_id"] for w in sandbox.writes()] == ["a"]


@pytest.mark.parametrize("all_or_none", [False, True])
def test_a_bad_value_fails_only_its_composite_subrequest(sandbox, sf, all_or_none):
    batches = [[contact("a")], [contact("b", Birthdate="2024-02-30")], [contact("c")]]
    subrequests = [
        {
            "method": "PATCH",
            "url": f"{API}/{URI}",
            "referenceId": f"batch{n}",
            "body": {"allOrNone": all_or_none, "records": records},
        }
        for n, records in enumerate(batches)
    ]

    items = sf.restful(
        "composite",
        method="POST",
        json={"allOrNone": all_or_none, "compositeRequest": subrequests},
    )["compositeResponse"]

    bad = items[1]
    assert bad["httpStatusCode"] == 400
    assert bad["body"][0]["errorCode"] == "JSON_PARSER_ERROR"
    assert "value 2024-02-30 or request may be missing" in bad["body"][0]["message"]
    if all_or_none:
        halted = [items[0]["body"][0]["errorCode"], items[2]["body"][0]["errorCode"]]
        assert halted == ["PROCESSING_HALTED", "PROCESSING_HALTED"]
        assert sandbox.writes() == []
    else:
        assert [w["external_id"] for w in sandbox.writes()] == ["a", "c"]


def test_describe_reports_types_and_external_ids(sandbox):
    rules = {
        "objects": {
            "Contact": {
                "field_types": TYPES,
                "external_ids": {"Email_Key__c": {"case_sensitive": True}},
            }
        }
    }
    sandbox.set_rules(rules)
    sf = sandbox.salesforce()
    sf.restful(URI, method="PATCH", json={"records": [contact("a")]})

    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}

    assert {name: fields[name]["type"] for name in TYPES} == {
        name: kind if isinstance(kind, str) else kind["type"] for name, kind in TYPES.items()
    }
    assert [v["value"] for v in fields["Stage__c"]["picklistValues"]] == ["Lead", "Customer"]
    assert fields["Stage__c"]["restrictedPicklist"] is True
    keys = ("externalId", "unique", "caseSensitive")
    # listed in external_ids (no record has it yet), and used by the upsert above
    assert {k: fields["Email_Key__c"][k] for k in keys} == dict.fromkeys(keys, True)
    assert {k: fields["ExtId__c"][k] for k in keys} == {
        "externalId": True,
        "unique": True,
        "caseSensitive": False,
    }
    assert {k: fields["LastName"][k] for k in keys} == dict.fromkeys(keys, False)
