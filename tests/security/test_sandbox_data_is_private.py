"""The sandbox org's data directory is private to the user running it: the directory is
0700 (tightened if it existed), the control token and the SQLite files (with their WAL
and shared-memory files) 0600, so another local user reads no record, rule or token."""

from __future__ import annotations

import stat
from pathlib import Path

from sandbox.server import SandboxOrg
from tests.sandbox_fixtures import SandboxHelper


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directory_token_and_databases_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "org"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as a careless earlier version left it
    with SandboxOrg(data_dir) as org:
        helper = SandboxHelper(org)
        helper.salesforce().Contact.upsert("ExtId__c/p-1", {"LastName": "Private"})
        assert helper.writes()  # something was written (and committed)

        assert mode(data_dir) == 0o700
        assert mode(data_dir / "control-token") == 0o600
        databases = sorted(data_dir.glob("sandbox.sqlite3*"))
        assert data_dir / "sandbox.sqlite3" in databases
        assert {p.name: mode(p) for p in databases} == {p.name: 0o600 for p in databases}
