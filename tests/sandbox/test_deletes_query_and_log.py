"""After a delete: queries never return the record, the write log holds an `op: "delete"`
entry, the stats count it, and a restart keeps the recycle bin. SOQL conditions on an
external id fold case as the field's rule says."""

from __future__ import annotations

import sqlite3

from sandbox.server import SandboxOrg
from tests.sandbox.delete_helpers import delete, ext_ids, failed, ok, upsert
from tests.sandbox_fixtures import SandboxHelper

CASE_SENSITIVE = {"objects": {"Contact": {"external_ids": {"ExtId__c": {"case_sensitive": True}}}}}


def found(sf, soql: str) -> list[str]:
    return sorted(r["ExtId__c"] for r in sf.query_all(soql)["records"])


def test_soql_in_on_an_external_id_folds_case(sandbox):
    sf = sandbox.salesforce()
    upsert(sf, "ABC", "Def", "ghi")

    assert found(sf, "SELECT Id, ExtId__c FROM Contact WHERE ExtId__c IN ('abc', 'DEF')") == [
        "ABC",
        "Def",
    ]
    assert found(sf, "SELECT ExtId__c FROM Contact WHERE ExtId__c = 'GHI'") == ["ghi"]
    assert found(sf, "SELECT ExtId__c FROM Contact WHERE LastName = 'ames'") == []


def test_soql_on_a_case_sensitive_external_id_matches_exactly(sandbox):
    sandbox.set_rules(CASE_SENSITIVE)
    sf = sandbox.salesforce()
    upsert(sf, "ABC", "Def")

    soql = "SELECT ExtId__c FROM Contact WHERE ExtId__c IN ('abc', 'Def')"
    assert found(sf, soql) == ["Def"]


def test_deleted_records_are_never_returned_by_queries(sandbox):
    sf = sandbox.salesforce()
    a, _ = upsert(sf, "a", "b")

    delete(sf, [a])

    assert ext_ids(sf) == ["b"]
    assert found(sf, "SELECT ExtId__c FROM Contact WHERE ExtId__c IN ('a', 'b')") == ["b"]
    assert sf.query(f"SELECT Id FROM Contact WHERE Id = '{a}'")["totalSize"] == 0
    assert sf.query("SELECT Id FROM Contact ORDER BY ExtId__c LIMIT 5")["totalSize"] == 1


def test_the_write_log_tells_deletes_from_upserts(sandbox):
    sf = sandbox.salesforce()
    a, b = upsert(sf, "A1", "b2")
    upsert(sf, "a1", LastName="Bell")  # the stored value is now a1

    delete(sf, [a])
    sf.Contact.delete("ExtId__c/B2")

    writes = sandbox.writes()
    assert [(w["op"], w["external_id"], w["created"]) for w in writes] == [
        ("upsert", "A1", True),
        ("upsert", "b2", True),
        ("upsert", "a1", False),
        ("delete", "a1", False),
        ("delete", "b2", False),
    ]
    deleted = writes[3]
    assert deleted["sobject"] == "Contact"
    assert deleted["external_id_field"] == "ExtId__c"
    assert deleted["sf_id"] == a
    assert deleted["fields"] == {}
    assert writes[4]["sf_id"] == b
    assert sandbox.stats()["records_deleted"] == 2


def test_failed_deletes_are_neither_logged_nor_counted(sandbox):
    sf = sandbox.salesforce()
    (a,) = upsert(sf, "a")
    delete(sf, [a])
    seq = sandbox.writes()[-1]["seq"]

    assert delete(sf, [a]) == [failed(a, "ENTITY_IS_DELETED", "entity is deleted")]
    assert sandbox.writes(since=seq) == []
    assert sandbox.stats()["records_deleted"] == 1


def test_a_restart_keeps_the_recycle_bin_and_never_reuses_an_id(tmp_path):
    org = SandboxOrg(tmp_path).start()
    try:
        sf = SandboxHelper(org).salesforce()
        a, b = upsert(sf, "a", "b")
        assert delete(sf, [b]) == [ok(b)]  # the newest record: its number must not return
    finally:
        org.stop()

    org = SandboxOrg(tmp_path, port=org.requested_port).start()
    try:
        sf = SandboxHelper(org).salesforce()
        assert delete(sf, [b]) == [failed(b, "ENTITY_IS_DELETED", "entity is deleted")]
        (again,) = upsert(sf, "b")
        assert again not in (a, b)
        assert ext_ids(sf) == ["a", "b"]
    finally:
        org.stop()


def test_a_write_log_from_before_deletes_reads_as_upserts(tmp_path):
    with sqlite3.connect(tmp_path / "sandbox.sqlite3") as db:
        db.execute(
            "CREATE TABLE writes (seq INTEGER PRIMARY KEY, sobject TEXT NOT NULL,"
            " external_id_field TEXT NOT NULL, external_id TEXT, sf_id TEXT NOT NULL,"
            " created INTEGER NOT NULL, fields TEXT NOT NULL, at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO writes (sobject, external_id_field, external_id, sf_id, created,"
            " fields, at) VALUES ('Contact', 'ExtId__c', 'old', '0035g0000000001AAA', 1, '{}',"
            " '2024-01-01T00:00:00.000000Z')"
        )
    db.close()

    org = SandboxOrg(tmp_path).start()
    try:
        helper = SandboxHelper(org)
        upsert(helper.salesforce(), "new")
        assert [(w["op"], w["external_id"]) for w in helper.writes()] == [
            ("upsert", "old"),
            ("upsert", "new"),
        ]
    finally:
        org.stop()
