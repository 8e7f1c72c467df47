"""`crm_enqueue` lines, fuzzed: wrong types, huge fields, control characters, non-UTF-8,
a 10 MB line, unknown or malformed object names, SOQL-looking strings. A line is either
stored exactly as given, or refused with its line number and exit status 2 — and then
nothing of the file is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exports.models import ExportRecord
from tests.factories import AccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.django_db]

GOOD = {
    "sobject": "Contact",
    "external_id_field": "ExtId__c",
    "external_id": "ok-1",
    "fields": {"LastName": "Fine"},
}
SOQL = [
    "' OR Id != null --",
    "x'; DELETE FROM Contact; --",
    "SELECT Id FROM User",
    "Contact WHERE Name LIKE '%'",
    "__c",
    "a__b__c",
    "Contact.Name",
    "../../etc/passwd",
]
api_names = st.sampled_from(
    ["Contact", "bizible2__Bizible_Touchpoint__c", "ExtId__c", *SOQL]
) | st.text(max_size=50)
values = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.sampled_from(SOQL)
nested = st.recursive(
    values,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "sobject": api_names | nested,
        "external_id_field": api_names | nested,
        "external_id": st.text() | st.integers() | nested,
        "fields": st.dictionaries(api_names, nested, max_size=5) | nested,
        "extra": nested,
    },
)


def one_line(raw: bytes) -> bytes:
    """`raw` as one line of the file: crm_enqueue reads lines up to b"\\n", so a newline
    inside would make the case two lines (numbered 2 and 3), not the one line it tests."""
    return raw.replace(b"\n", b"")


lines = (
    records.map(lambda r: json.dumps(r).encode())  # (json.dumps escapes newlines)
    | st.binary(max_size=200).map(one_line)
    | st.text().map(str.encode).map(one_line)
)


def blank(line: bytes) -> bool:
    """Blank as crm_enqueue sees it: UTF-8 of whitespace only, Unicode's included (a
    no-break space, U+2028), which bytes.strip() would keep."""
    try:
        return not line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


def enqueue_file(tmp_path: Path, second_line: bytes) -> tuple[int, str]:
    path = tmp_path / "records.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + second_line + b"\n")
    try:
        call_command("crm_enqueue", "--account", "fuzz", str(path), stdout=open("/dev/null", "w"))
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


@pytest.fixture
def account():
    return AccountFactory(slug="fuzz")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(line=lines)
@example(line=b"\xff\xfe not utf-8")
@example(line=json.dumps({**GOOD, "fields": {"LastName": "a\x00b"}}).encode())
@example(line=json.dumps({**GOOD, "sobject": "Contact WHERE 1=1"}).encode())
@example(line=json.dumps({**GOOD, "fields": {"LastName": "x" * 200_000}}).encode())
@example(line=json.dumps({**GOOD, "fields": {"LastName": "' OR 1=1 --"}}).encode())
@example(line="\u00a0\u2028\x1c".encode())  # blank to crm_enqueue, not to bytes.strip()
@example(line=b"\r")
def test_a_line_is_stored_exactly_or_refused_with_its_number(account, tmp_path, line):
    before = ExportRecord.objects.count()
    status, message = enqueue_file(tmp_path, line)
    added = ExportRecord.objects.count() - before
    if status:
        assert status == 2, message
        assert "line 2" in message and "nothing of the file was written" in message, message
        assert "\n" not in message and "Traceback" not in message
        assert added == 0
        return
    stored = list(ExportRecord.objects.order_by("-id")[:added])
    if blank(line):
        assert added == 1  # a blank line is skipped
        return
    assert added == 2
    given_record = json.loads(line)
    assert stored[0].fields == given_record["fields"]
    assert stored[0].sobject == given_record["sobject"]
    ExportRecord.objects.filter(id__in=[r.id for r in stored]).delete()


def test_a_10_mb_line_is_refused_without_reading_it_whole(account, tmp_path):
    huge = json.dumps({**GOOD, "fields": {"LastName": "x" * 10_000_000}}).encode()
    status, message = enqueue_file(tmp_path, huge)
    assert status == 2 and "line 2" in message and "longer than" in message
    assert not ExportRecord.objects.exists()
