"""Bad requests get Salesforce's error array (JSON), never a stack trace."""

from __future__ import annotations

import pytest

API = "/services/data/v59.0"


@pytest.fixture
def call(sandbox):
    token = sandbox.login()["access_token"]

    def send(method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        response = sandbox.session.request(
            method, f"{sandbox.url}{path}", headers=headers, **kwargs
        )
        assert response.headers["Content-Type"].startswith("application/json")
        assert "Traceback" not in response.text
        return response

    return send


def contacts(count: int) -> list[dict]:
    return [
        {"attributes": {"type": "Contact"}, "ExtId__c": f"c{i}", "LastName": "x"}
        for i in range(count)
    ]


def test_malformed_json_is_json_parser_error(call):
    response = call("PATCH", f"{API}/composite/sobjects/Contact/ExtId__c", data=b'{"records": [')

    assert response.status_code == 400
    (error,) = response.json()
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert "line:1" in error["message"]


def test_more_than_200_records_is_exceeded_id_limit(call, sandbox):
    response = call(
        "PATCH", f"{API}/composite/sobjects/Contact/ExtId__c", json={"records": contacts(201)}
    )

    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    assert sandbox.writes() == []


def test_200_records_are_accepted(call):
    response = call(
        "PATCH", f"{API}/composite/sobjects/Contact/ExtId__c", json={"records": contacts(200)}
    )

    assert response.status_code == 200
    assert len(response.json()) == 200


def test_unknown_object_in_a_uri_is_not_found(call):
    response = call("PATCH", f"{API}/composite/sobjects/Contactt/ExtId__c", json={"records": []})

    assert response.status_code == 404
    assert response.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_unknown_object_in_soql_is_invalid_type(call):
    response = call("GET", f"{API}/query", params={"q": "SELECT Id FROM Contactt"})

    assert response.status_code == 400
    (error,) = response.json()
    assert error["errorCode"] == "INVALID_TYPE"
    assert error["message"].startswith("sObject type 'Contactt' is not supported.")


def test_record_of_another_type_is_invalid_type(call):
    records = [{"attributes": {"type": "Lead"}, "ExtId__c": "a"}]

    response = call(
        "PATCH", f"{API}/composite/sobjects/Contact/ExtId__c", json={"records": records}
    )

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_TYPE"


def test_malformed_soql_is_malformed_query(call):
    response = call("GET", f"{API}/query", params={"q": "SELECT FROM WHERE"})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_unknown_resource_and_wrong_method(call):
    missing = call("GET", f"{API}/nowhere")
    wrong_method = call("DELETE", f"{API}/composite/sobjects/Contact/ExtId__c")

    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert wrong_method.status_code == 405
    assert wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_every_data_response_carries_sforce_limit_info(call):
    ok = call("GET", f"{API}/limits")
    bad = call("GET", f"{API}/query", params={"q": "nonsense"})

    for response in (ok, bad):
        assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_nan_is_refused_and_odd_strings_are_stored(call, sandbox):
    uri = f"{API}/composite/sobjects/Contact/ExtId__c"
    nan = b'{"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "a", "Score__c": NaN}]}'
    odd = b'{"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "b", "LastName": "\\ud800 \xc3\xa9"}]}'

    refused = call("PATCH", uri, data=nan)
    stored = call("PATCH", uri, data=odd)

    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert stored.status_code == 200 and stored.json()[0]["success"] is True
    assert [w["external_id"] for w in sandbox.writes()] == ["b"]
    # The sandbox still writes afterwards.
    again = call(
        "PATCH", uri, json={"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "c"}]}
    )
    assert again.json()[0]["success"] is True
    assert [w["external_id"] for w in sandbox.writes()] == ["b", "c"]
