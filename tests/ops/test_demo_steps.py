"""`make demo`'s steps do what the demo says they do.

The command runs as `make demo` runs it: a process of its own on a fresh SQLite database
and the embedded broker (no DATABASE_URL, no CELERY_BROKER_URL), only smaller
(`--small`). Its records are the example host app's rows, enqueued by `crm_backfill`,
`export_objects` and captured ORM saves. Each claim it prints is checked against the
database it leaves behind and against `crm_status --json`. A step that does not do what it
says fails the demo.
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
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


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

    assert headings == ["1", "2", "3", "4", "5"]
    assert out.index("crm_backfill --account demo --export CompanyExport") < out.index("▶ 1.")
    assert out.index("Paused at record #") < out.index("▶ 2.")
    assert out.index("Inspect it:") < out.index("Reproduce it:") < out.index("▶ 2.")
    assert out.rstrip().endswith("Demo OK: every step did what it says.")
    assert "http://127.0.0.1:8000/admin/" in out


def test_crm_backfill_enqueues_the_example_apps_rows_parents_first(demo_run):
    var_dir, out = demo_run
    lines = re.findall(
        r"│ backfilled (\w+) for demo: ([\d,]+) rows read, ([\d,]+) records enqueued "
        r"\([\d,]+ rows/s this time\)",
        out,
    )

    assert lines == [
        ("CompanyExport", str(SMALL.companies), str(SMALL.companies)),
        ("PersonExport", str(SMALL.people), str(SMALL.people)),
        ("TouchpointExport", str(SMALL.people), str(SMALL.people)),
    ]
    with sqlite3.connect(var_dir / "crmsync.sqlite3") as db:
        first = db.execute(
            "SELECT sobject FROM exports_exportrecord ORDER BY id LIMIT ?",
            (SMALL.companies + 2 * SMALL.people,),
        ).fetchall()
    expected = ["Account"] * SMALL.companies + ["Contact"] * SMALL.people
    assert [s for (s,) in first] == expected + ["bizible2__Bizible_Touchpoint__c"] * SMALL.people


def test_run_1_pauses_at_the_first_bad_person_and_writes_nothing_after_it(demo_run):
    var_dir, out = demo_run
    first_bad = min(SMALL.bad)
    paused = re.search(
        rf"Paused at record #(\d+) \(Contact ({UUID}), Person (\d+)\): (\w+): (.+)", out
    )
    written_before = re.search(r"The ([\d,]+) records before it are in the org", out)

    assert paused and written_before
    assert int(paused.group(3)) == first_bad
    assert paused.group(4, 5) == ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Customers need an email")
    # The companies, then the people in primary-key order up to the bad one.
    expected = SMALL.companies + first_bad - 1
    assert int(written_before.group(1).replace(",", "")) == expected
    trigger, outcome, exported, failed, _, _ = runs(var_dir)[0]
    assert (trigger, outcome, exported, failed) == ("manual", "paused", expected, 1)
    assert int(paused.group(1)) == expected + 1  # the record right after the written ones


def test_the_inspection_and_the_replay_show_the_paused_record(demo_run):
    _, out = demo_run
    paused = re.search(rf"Paused at record #\d+ \(Contact ({UUID}),", out)

    assert paused
    person = paused.group(1)
    assert "crm_status --account demo" in out
    assert "│ paused at record #" in out and f"({person})" in out
    assert "crm_replay --account demo --sandbox https://127.0.0.1:" in out
    assert "│ > PATCH https://127.0.0.1:" in out
    assert f"/sobjects/Contact/ExtId__c/{person}" in out
    assert f'"LastName": "Person {min(SMALL.bad)}"' in out and '"Type__c": "Customer"' in out
    assert "│ < HTTP 400 Bad Request" in out
    assert "Salesforce rejected the record: FIELD_CUSTOM_VALIDATION_EXCEPTION" in out
    assert "Bearer [redacted]" in out


def test_orm_saves_and_deletions_are_captured_changed_fields_only(demo_run):
    var_dir, out = demo_run
    shown = re.search(
        rf"enqueued: upsert Contact ({UUID}) (\{{.*\}})\n.*\n.*person.notes = .*\n"
        rf"      enqueued: nothing .*\n.*other.delete\(\).*\n"
        rf"      enqueued: delete bizible2__Bizible_Touchpoint__c ({UUID}) .*\n"
        rf" +delete Contact ({UUID})\n",
        out,
    )
    with sqlite3.connect(var_dir / "crmsync.sqlite3") as db:
        ids = [r for (r,) in db.execute("SELECT id FROM exports_exportrun ORDER BY id")]
        step3 = db.execute(
            "SELECT operation, sobject, external_id, fields FROM exports_exportrecord "
            "WHERE id BETWEEN (SELECT first_record_id FROM exports_exportrun WHERE id = ?) "
            "AND (SELECT last_record_id FROM exports_exportrun WHERE id = ?) ORDER BY id",
            (ids[2], ids[2]),
        ).fetchall()

    assert shown, out
    email = json.loads(shown.group(2))
    assert email == {"Email": "ada.lovelace@example.org"}
    assert [(op, sobject, key) for op, sobject, key, _ in step3] == [
        ("upsert", "Contact", shown.group(1)),
        ("delete", "bizible2__Bizible_Touchpoint__c", shown.group(3)),
        ("delete", "Contact", shown.group(4)),
    ]
    assert json.loads(step3[0][3]) == email
    assert "the org's write log shows the 3 writes" in out


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
        "3. Saves captured",
        "4. Pause off",
        "5. Daily re-export",
    ]
    assert [r[1:] for r in rows] == [(o, e, f, a) for _, o, e, f, a, _ in in_db]
    assert [t for t, *_ in in_db] == ["manual", "manual", "manual", "manual", "reexport"]
    assert rows[2][1:4] == ("completed", 3, 0)  # an upsert and two deletions
    bad_later = len(SMALL.more_bad)
    assert rows[3][1:4] == ("completed", 2 * SMALL.more_people - 2 * bad_later, 2 * bad_later)
    assert rows[4][1:3] == ("completed", 2 * bad_later)
    first_total = SMALL.companies + 2 * SMALL.people
    assert rows[0][2] + rows[1][2] == first_total  # run 2 wrote the rest, the parked one too


def test_the_demo_leaves_the_account_idle_with_nothing_open(demo_run):
    var_dir, _ = demo_run
    status = manage(var_dir, "crm_status", "--account", "demo", "--json")

    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert (data["state"], data["backlog"], data["open_errors"]) == ("idle", 0, 0)
    log = (var_dir / "crmsync.log").read_text()
    assert len(re.findall(r"export\.run account=demo run=\d+ trigger=manual", log)) == 4
    assert len(re.findall(r"export\.run account=demo run=\d+ trigger=reexport", log)) == 1
    assert "export.batch account=demo" in log


@pytest.mark.integration
def test_a_step_that_does_not_do_what_it_says_fails_the_demo(sandbox, celery_worker):
    lines: list[str] = []
    no_bad_person = Plan(people=20, bad=(500,), more_people=5, more_bad=(), companies=2)
    demo = Demo(sandbox.url, sandbox.ca_path, out=lines.append, plan=no_bad_person)

    with pytest.raises(DemoFailed, match="the demo expected that run 1 ends paused"):
        run_demo(demo)
    assert not any("Paused at record" in line for line in lines)
