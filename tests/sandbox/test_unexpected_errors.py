"""An unexpected failure answers 500 UNKNOWN_EXCEPTION with an error id; the trace goes to the log."""

from __future__ import annotations

import logging
import sqlite3

from sandbox.server import SandboxOrg
from tests.conftest import wait_for
from tests.sandbox_fixtures import SandboxHelper


def test_a_broken_database_answers_500_without_a_trace(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="sandbox")
    with SandboxOrg(tmp_path) as org:
        helper = SandboxHelper(org)
        token = helper.login()["access_token"]
        # Someone breaks the database under the running sandbox.
        with sqlite3.connect(tmp_path / "sandbox.sqlite3") as db:
            db.execute("DROP TABLE writes")

        def upsert() -> object:
            response = helper.session.patch(
                f"{org.url}/services/data/v59.0/composite/sobjects/Contact/ExtId__c",
                json={"records": [{"attributes": {"type": "Contact"}, "ExtId__c": "a"}]},
                headers={"Authorization": f"Bearer {token}"},
            )
            return [response] if response.status_code == 500 else []

        (response,) = wait_for(upsert, timeout=10)

    (error,) = response.json()
    assert error["errorCode"] == "UNKNOWN_EXCEPTION"
    assert "ErrorId:" in error["message"]
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    error_id = error["message"].split("ErrorId: ")[1].split()[0]
    assert any(error_id in record.getMessage() and record.exc_info for record in caplog.records)
