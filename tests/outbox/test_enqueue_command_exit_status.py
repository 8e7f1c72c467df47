"""`manage.py crm_enqueue` as a process: exit 2 and the line number on stderr for a bad
line, nothing written; exit 0 and a summary on stdout for a good file on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from exports.models import ExportRecord
from tests.factories import AccountFactory
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)


def run_crm_enqueue(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "manage.py", "crm_enqueue", *args],
        input=stdin,
        capture_output=True,
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url()},
        timeout=60,
    )


def line(n: int) -> bytes:
    return json.dumps(
        {
            "sobject": "Contact",
            "external_id_field": "ExtId__c",
            "external_id": f"p-{n}",
            "fields": {},
        }
    ).encode()


def test_bad_line_exits_2_with_its_number_on_stderr_and_nothing_written(tmp_path: Path):
    account = AccountFactory(slug="acme")
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join([line(1), line(2), b"", b'{"sobject": "Contact"', line(4)]))

    result = run_crm_enqueue("--account", "acme", str(path))

    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "line 4: not valid JSON" in stderr
    assert "nothing of the file was written" in stderr
    assert "Traceback" not in stderr
    assert result.stdout == b""
    assert not ExportRecord.objects.filter(account=account).exists()


def test_unknown_account_exits_2():
    result = run_crm_enqueue("--account", "nobody", "-", stdin=line(1))

    assert result.returncode == 2
    assert "no account with slug 'nobody'" in result.stderr.decode()
    assert not ExportRecord.objects.exists()


def test_good_stdin_exits_0_and_prints_the_summary():
    account = AccountFactory(slug="acme")

    result = run_crm_enqueue("--account", "acme", "-", stdin=b"\n".join(line(n) for n in range(5)))

    assert result.returncode == 0, result.stderr.decode()
    ids = list(
        ExportRecord.objects.filter(account=account).order_by("id").values_list("id", flat=True)
    )
    assert len(ids) == 5
    assert result.stdout.decode().strip() == f"enqueued 5 records for acme (ids {ids[0]}–{ids[-1]})"
