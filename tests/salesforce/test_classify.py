"""Every Salesforce error code lands in exactly one class: the table is the contract."""

from __future__ import annotations

import pytest

from salesforce.client import classify


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("UNABLE_TO_LOCK_ROW", "transient"),
        ("SERVER_UNAVAILABLE", "transient"),
        ("REQUEST_LIMIT_EXCEEDED", "transient"),
        ("ALL_OR_NONE_OPERATION_ROLLED_BACK", "rolled_back"),
        ("INVALID_SESSION_ID", "auth"),
        ("API_DISABLED_FOR_ORG", "auth"),
        ("invalid_client", "auth"),
        ("invalid_grant", "auth"),
        ("REQUIRED_FIELD_MISSING", "rejected"),
        ("STRING_TOO_LONG", "rejected"),
        ("INVALID_FIELD_FOR_INSERT_UPDATE", "rejected"),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "rejected"),
        ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "rejected"),
        ("INVALID_CROSS_REFERENCE_KEY", "rejected"),
        ("DUPLICATE_VALUE", "rejected"),
        ("INVALID_FIELD", "rejected"),
        ("NOT_FOUND", "rejected"),
        ("SOMETHING_NEW_FROM_SALESFORCE", "rejected"),
        ("", "rejected"),
    ],
)
def test_error_code_class(code: str, expected: str) -> None:
    assert classify(code) == expected
