"""PUT /sandbox/rules replaces the rules at runtime and refuses bad ones with a clear 400."""

from __future__ import annotations

import pytest


def put_rules(sandbox, rules):
    return sandbox.session.put(f"{sandbox.url}/sandbox/rules", json=rules)


def test_rules_can_be_read_back(sandbox):
    rules = {
        "auth": {"clients": {"crmsync": "s3cret"}},
        "objects": {"Contact": {"required": ["LastName"]}},
    }

    put_rules(sandbox, rules).raise_for_status()
    current = sandbox.session.get(f"{sandbox.url}/sandbox/rules").json()

    assert current["objects"] == rules["objects"]
    assert current["auth"] == rules["auth"]
    assert current["faults"]["api_daily_limit"] == 100_000


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ({"objcts": {}}, "unknown key 'objcts'"),
        (
            {"objects": {"Contact": {"requird": ["LastName"]}}},
            "objects.Contact: unknown key 'requird'",
        ),
        (
            {"objects": {"Contact": {"max_length": {"LastName": "80"}}}},
            "objects.Contact.max_length.LastName",
        ),
        (
            {"objects": {"Contact": {"required": "LastName"}}},
            "objects.Contact.required: expected a JSON list",
        ),
        (
            {"faults": {"fail_status": 200}},
            "faults.fail_status: expected an integer from 400 to 599",
        ),
        ({"auth": {"clients": {"x": ""}}}, "auth.clients.x"),
        ({"faults": {"lock_wrapped": 1}}, "faults.lock_wrapped: expected true or false, got 1"),
        (
            {"objects": {"Contact": {"cpu_ms_per_record": -1}}},
            "objects.Contact.cpu_ms_per_record: expected a number from 0 to 600000, got -1",
        ),
        ({"faults": {"cpu_limit_ms": 0}}, "faults.cpu_limit_ms: expected an integer from 1"),
        (
            {"faults": {"max_concurrent_requests": -1}},
            "faults.max_concurrent_requests: expected an integer from 0 to 1000000, got -1",
        ),
        (
            {"objects": {"Contact": {"field_types": {"Birthdate": "dat"}}}},
            "objects.Contact.field_types.Birthdate: expected a type (string, email, date,",
        ),
        (
            {"objects": {"Contact": {"field_types": {"Stage__c": "picklist"}}}},
            "objects.Contact.field_types.Stage__c: a picklist needs its values",
        ),
        (
            {"objects": {"Contact": {"external_ids": {"ExtId__c": {"case_sensitive": "no"}}}}},
            'objects.Contact.external_ids.ExtId__c.case_sensitive: expected true or false, got "no"',
        ),
        (
            {"faults": {"server_time_scale": "1"}},
            'faults.server_time_scale: expected a number from 0 to 1000, got "1"',
        ),
        (
            {"objects": {"Contact": {"trigger_fail": [{"message": "m", "scope": "batch"}]}}},
            'objects.Contact.trigger_fail[0].scope: expected one of "record", "chunk"',
        ),
        (
            {"objects": {"Contact": {"fields": ["LastName"], "required": ["Email"]}}},
            "objects.Contact.required names field 'Email', which is not in objects.Contact.fields",
        ),
    ],
)
def test_bad_rules_are_refused_with_a_message_naming_the_problem(sandbox, rules, named):
    response = put_rules(sandbox, rules)

    assert response.status_code == 400
    assert named in response.json()["message"]


def test_refused_rules_leave_the_old_ones_in_force(sandbox):
    sandbox.set_rules({"objects": {"Contact": {"required": ["LastName"]}}})

    put_rules(sandbox, {"objects": {"Contact": {"required": 7}}})

    assert sandbox.rules()["objects"] == {"Contact": {"required": ["LastName"]}}


def test_malformed_json_rules_are_refused(sandbox):
    response = sandbox.session.put(f"{sandbox.url}/sandbox/rules", data=b"{nope")

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_faults_can_be_changed_one_by_one(sandbox):
    sandbox.set_rules({"faults": {"fail_status": 500}})

    changed = sandbox.set_faults(lock_rows_next=2)

    assert changed["lock_rows_next"] == 2 and changed["fail_status"] == 500


def test_unknown_fault_is_refused(sandbox):
    response = sandbox.session.patch(f"{sandbox.url}/sandbox/faults", json={"fail_nxt": 1})

    assert response.status_code == 400
    assert "faults: unknown key 'fail_nxt'" in response.json()["message"]
