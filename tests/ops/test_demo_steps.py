"""`make demo`'s steps do what the demo says they do.

The command runs as `make demo` runs it: a process of its own on a fresh SQLite database
and the embedded broker (no DATABASE_URL, no CELERY_BROKER_URL), only smaller
(`--small`). Each claim it prints is checked against the database it leaves behind and
against `crm_status --json`. A step that does not do what it says fails the demo.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from exports.tools.demo import Demo, DemoFailed, run_demo
from exports.tools.demo_data import SMALL, Plan
from tests.processes import REPO

DEMO_TIMEOUT_S = 120


def manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["CRMSYNC_VAR_DIR"] = str(var_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run the small demo once; (its var dir, its stdout)."""
    var_dir = tmp_path_factory.mktemp("demo") / "var"
    migrated = manage(var_dir, "migrate", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    demo = manage(var_dir, "crm_demo", "--small", "--no-progress")
    assert demo.returncode == 0, f"stdout:\n{demo.stdout}\nstderr:\n{demo.stderr}"
    return var_dir, demo.stdout


def runs(var_dir: Path) -> list[tuple[str, str, int, int, int, int | None]]:
    with sqlite3.connect(var_dir / "crmsync.sqlite3") as db:
        return db.execute(
            "SELECT trigger, outcome, exported, failed, api_calls, first_record_id "
            "FROM exports_exportrun ORDER BY id"
        ).fetchall()


def test_the_demo_says_in_order_what_happened(demo_run):
    _, out = demo_run
    headings = re.findall(r"^▶ (\d)\.", out, flags=re.MULTILINE)

    assert headings == ["1", "2", "3", "4"]
    assert out.index("Paused at record #") < out.index("▶ 2.")
    assert out.index("Inspect it:") < out.index("Reproduce it:") < out.index("▶ 2.")
    assert out.rstrip().endswith("Demo OK: every step did what it says.")
    assert "http://127.0.0.1:8000/admin/" in out


def test_run_1_pauses_at_the_first_bad_person_and_writes_nothing_after_it(demo_run):
    var_dir, out = demo_run
    first_bad = min(SMALL.bad)
    paused = re.search(r"Paused at record #(\d+) \(Contact demo-person-(\d+)\): (\w+): (.+)", out)
    written_before = re.search(r"The ([\d,]+) records before it are in the org", out)

    assert paused and written_before
    assert int(paused.group(2)) == first_bad
    assert paused.group(3, 4) == ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Customers need an email")
    # Blocks of people then their touchpoints: every block before the bad person's, and
    # the people of its block before them.
    blocks_before = (first_bad - 1) // SMALL.block
    expected = blocks_before * 2 * SMALL.block + (first_bad - 1) % SMALL.block
    assert int(written_before.group(1).replace(",", "")) == expected
    trigger, outcome, exported, failed, _, _ = runs(var_dir)[0]
    assert (trigger, outcome, exported, failed) == ("manual", "paused", expected, 1)
    assert int(paused.group(1)) == expected + 1  # the record right after the written ones


def test_the_inspection_and_the_replay_show_the_paused_record(demo_run):
    _, out = demo_run
    first_bad = min(SMALL.bad)

    assert "crm_status --account demo" in out
    assert "│ paused at record #" in out and f"(demo-person-{first_bad})" in out
    assert "crm_replay --account demo --sandbox https://127.0.0.1:" in out
    assert "│ > PATCH https://127.0.0.1:" in out
    assert f"/sobjects/Contact/ExtId__c/demo-person-{first_bad}" in out
    assert "│ < HTTP 400 Bad Request" in out
    assert "Salesforce rejected the record: FIELD_CUSTOM_VALIDATION_EXCEPTION" in out
    assert "Bearer [redacted]" in out


def test_the_table_matches_the_runs_in_the_database(demo_run):
    var_dir, out = demo_run
    table = re.findall(
        r"^  (\d\. [^\n]+?)\s{2,}(\w+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$", out, re.MULTILINE
    )
    rows = [
        (step, outcome, *(int(n.replace(",", "")) for n in nums)) for step, outcome, *nums in table
    ]
    in_db = [r for r in runs(var_dir) if r[0] in ("manual", "reexport")]

    assert [r[0] for r in rows] == [
        "1. Pause on",
        "2. Rule fixed",
        "3. Pause off",
        "4. Daily re-export",
    ]
    assert [r[1:] for r in rows] == [(o, e, f, a) for _, o, e, f, a, _ in in_db]
    assert [t for t, *_ in in_db] == ["manual", "manual", "manual", "reexport"]
    bad_later = len(SMALL.more_bad)
    assert rows[2][1:4] == ("completed", 2 * SMALL.more_people - 2 * bad_later, 2 * bad_later)
    assert rows[3][1:3] == ("completed", 2 * bad_later)
    first_total = 2 * SMALL.people
    assert rows[0][2] + rows[1][2] == first_total  # run 2 wrote the rest, the parked one too


def test_the_demo_leaves_the_account_idle_with_nothing_open(demo_run):
    var_dir, _ = demo_run
    status = manage(var_dir, "crm_status", "--account", "demo", "--json")

    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert (data["state"], data["backlog"], data["open_errors"]) == ("idle", 0, 0)
    log = (var_dir / "crmsync.log").read_text()
    assert len(re.findall(r"export\.run account=demo run=\d+ trigger=manual", log)) == 3
    assert len(re.findall(r"export\.run account=demo run=\d+ trigger=reexport", log)) == 1
    assert "export.batch account=demo" in log


@pytest.mark.integration
def test_a_step_that_does_not_do_what_it_says_fails_the_demo(sandbox, celery_worker):
    lines: list[str] = []
    no_bad_person = Plan(people=20, bad=(500,), more_people=5, more_bad=(), block=10)
    demo = Demo(sandbox.url, sandbox.ca_path, out=lines.append, plan=no_bad_person)

    with pytest.raises(DemoFailed, match="the demo expected that run 1 ends paused"):
        run_demo(demo)
    assert not any("Paused at record" in line for line in lines)
