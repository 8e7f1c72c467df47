"""Sandbox rules documents, fuzzed (over `PUT /sandbox/rules` and as rules files): a
document is applied, or refused with a message naming the key path — never a 500 — and
a refused document leaves the rules in force unchanged."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.rules import FAULT_KEYS, RulesError, load_rules_file

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=10,
)
keys = st.sampled_from(
    [
        "auth",
        "objects",
        "faults",
        "clients",
        "token_ttl_s",
        "Contact",
        "fields",
        "required",
        "max_length",
        "validation",
        "when",
        "field",
        "equals",
        "require",
        "message",
        "lookups",
        "trigger_fail",
        "scope",
        "field_types",
        "type",
        "picklist_values",
        "external_ids",
        "case_sensitive",
        "cpu_ms_per_record",
        *sorted(FAULT_KEYS),
    ]
) | st.text(max_size=8)
documents = st.recursive(
    scalars,
    lambda inner: st.dictionaries(keys, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=15,
)
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(document=documents | anything)
def test_put_rules_applies_or_refuses_with_a_message(sandbox, document):
    sandbox.set_rules({"faults": {"latency_ms": 7}})
    before = sandbox.rules()
    response = sandbox.session.put(f"{sandbox.url}/sandbox/rules", json=document, timeout=15)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        body = response.json()
        # {"error": "invalid_rules", "message": "objects.Contact.fields: expected ..."}, or
        # Salesforce's [{"errorCode", "message"}] for a body that is not a JSON object
        problem = body if isinstance(body, dict) else body[0]
        assert problem["message"] and "\n" not in problem["message"], body
        assert sandbox.rules() == before


@FUZZ
@given(
    content=st.text(max_size=300).map(str.encode) | documents.map(lambda d: json.dumps(d).encode())
)
def test_a_rules_file_loads_or_raises_rules_error(tmp_path, content):
    path = tmp_path / "rules.json"
    path.write_bytes(content)
    try:
        load_rules_file(path)
    except RulesError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


def test_a_rules_file_that_is_not_utf8_is_a_rules_error(tmp_path):
    path = tmp_path / "rules.json"
    path.write_bytes(b'{"faults": {"latency_ms": 1}} \x80')
    with pytest.raises(RulesError, match="rules.json"):
        load_rules_file(path)
