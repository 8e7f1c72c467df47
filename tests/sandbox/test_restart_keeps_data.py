"""A stopped and restarted sandbox keeps its records, write log, tokens and certificate."""

from __future__ import annotations

from simple_salesforce import Salesforce

from sandbox.server import SandboxOrg
from tests.sandbox_fixtures import SandboxHelper, sandbox_session


def test_restart_keeps_records_log_tokens_and_ca(tmp_path):
    org = SandboxOrg(tmp_path).start()
    try:
        helper = SandboxHelper(org)
        sf = helper.salesforce()
        records = [{"attributes": {"type": "Contact"}, "ExtId__c": "a", "LastName": "Ames"}]
        (first,) = sf.restful(
            "composite/sobjects/Contact/ExtId__c", method="PATCH", json={"records": records}
        )
        ca_before = org.ca_path.read_bytes()
    finally:
        org.stop()

    org = SandboxOrg(tmp_path, port=org.requested_port).start()
    try:
        assert org.ca_path.read_bytes() == ca_before
        # The same client (same token, same trusted CA) goes on working.
        sf = Salesforce(
            instance_url=org.url, session_id=sf.session_id, session=sandbox_session(org.ca_path)
        )
        (again,) = sf.restful(
            "composite/sobjects/Contact/ExtId__c", method="PATCH", json={"records": records}
        )
        assert (again["id"], again["created"]) == (first["id"], False)
        query = sf.query("SELECT Id, LastName FROM Contact")
        assert [(r["Id"], r["LastName"]) for r in query["records"]] == [(first["id"], "Ames")]
        assert [w["created"] for w in SandboxHelper(org).writes()] == [True, False]
    finally:
        org.stop()
