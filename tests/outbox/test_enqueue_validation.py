"""validate(): Salesforce API names, external ids, field values and size limits, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from exports.outbox import InvalidRecord, RecordInput, validate


def record(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": "person-1",
        "fields": {"LastName": "Lovelace"},
    }
    item.update(overrides)
    return item


def fields(**values: Any) -> dict[str, Any]:
    return record(fields=values)


GOOD = {
    "plain contact": (
        record(),
        RecordInput("Contact", "ExtId__c", "person-1", {"LastName": "Lovelace"}),
    ),
    "integer external id becomes a string": (
        record(external_id=42),
        RecordInput("Contact", "ExtId__c", "42", {"LastName": "Lovelace"}),
    ),
    "namespaced object with a relationship reference": (
        record(
            sobject="bizible2__Bizible_Touchpoint__c",
            external_id_field="bizible2__UniqueId__c",
            external_id="tp-1",
            fields={"bizible2__Contact__r": {"ExtId__c": "person-1"}, "Account": {"ExtId__c": 7}},
        ),
        RecordInput(
            "bizible2__Bizible_Touchpoint__c",
            "bizible2__UniqueId__c",
            "tp-1",
            {"bizible2__Contact__r": {"ExtId__c": "person-1"}, "Account": {"ExtId__c": 7}},
        ),
    ),
    "external id field repeated with the same value": (
        fields(ExtId__c="person-1", LastName="L"),
        RecordInput("Contact", "ExtId__c", "person-1", {"ExtId__c": "person-1", "LastName": "L"}),
    ),
    "SOQL-looking text is just data": (
        fields(LastName="x' OR Name LIKE '%' --"),
        RecordInput("Contact", "ExtId__c", "person-1", {"LastName": "x' OR Name LIKE '%' --"}),
    ),
    "scalars of every kind": (
        fields(A__c=None, B__c=True, C__c=3, D__c=2.5, E__c="tab\tnew\nline\r", F__c="Zoë 日本"),
        RecordInput(
            "Contact",
            "ExtId__c",
            "person-1",
            {
                "A__c": None,
                "B__c": True,
                "C__c": 3,
                "D__c": 2.5,
                "E__c": "tab\tnew\nline\r",
                "F__c": "Zoë 日本",
            },
        ),
    ),
    "longest text and most fields": (
        record(fields={f"F{i}__c": "x" for i in range(499)} | {"Long__c": "x" * 131_072}),
        None,
    ),
    "person account and geolocation suffixes": (
        record(sobject="Account", fields={"PersonEmail__pc": "a@b.c", "Loc__Latitude__s": 1.5}),
        None,
    ),
}

BAD = {
    "not an object": (["Contact"], "must be a JSON object"),
    "unknown key": (record(sobjct="Contact"), "unknown key 'sobjct'"),
    "missing external_id": (
        {k: v for k, v in record().items() if k != "external_id"},
        "external_id is missing",
    ),
    "sobject with a space": (
        record(sobject="My Object__c"),
        "'My Object__c' is not a Salesforce API name",
    ),
    "sobject starting with a digit": (record(sobject="1Contact"), "not a Salesforce API name"),
    "sobject ending in an underscore": (record(sobject="Contact_"), "not a Salesforce API name"),
    "double underscore inside the name": (
        record(sobject="My__Great__Object__c"),
        "not a Salesforce API name",
    ),
    "unknown suffix": (record(sobject="Thing__c__zz"), "not a Salesforce API name"),
    "sobject too long": (record(sobject="A" * 78 + "__c"), "at most 80"),
    "sobject not a string": (record(sobject=12), "sobject must be a string"),
    "external id field with a dot": (
        record(external_id_field="Account.ExtId__c"),
        "not a Salesforce API name",
    ),
    "empty external id": (record(external_id=""), "external_id is empty"),
    "blank external id": (record(external_id="  "), "external_id is empty"),
    "external id too long": (record(external_id="x" * 256), "at most 255"),
    "external id true": (record(external_id=True), "external_id must be a string or an integer"),
    "external id null": (record(external_id=None), "external_id must be a string or an integer"),
    "external id with a control character": (record(external_id="a\x1bb"), "U+001B"),
    "fields a list": (record(fields=[["LastName", "x"]]), "fields must be a JSON object"),
    "field name invalid": (
        fields(**{"Last Name": "x"}),
        "field name 'Last Name' is not a Salesforce API name",
    ),
    "field value a list": (fields(Tags__c=["a", "b"]), "fields.Tags__c is a list"),
    "reference with two keys": (
        fields(Account={"ExtId__c": "a", "Name": "b"}),
        "a reference to a parent has one",
    ),
    "reference key invalid": (
        fields(Account={"Ext Id": "a"}),
        "'Ext Id' is not a Salesforce API name",
    ),
    "reference value an object": (
        fields(Account={"ExtId__c": {"x": 1}}),
        "must be the parent's external id",
    ),
    "reference value null": (
        fields(Account={"ExtId__c": None}),
        "must be the parent's external id",
    ),
    "string too long": (fields(Long__c="x" * 131_073), "at most 131,072"),
    "too many fields": (record(fields={f"F{i}__c": 1 for i in range(501)}), "at most 500"),
    "external id field differs in fields": (fields(ExtId__c="person-2"), "make them equal"),
    "external id field differs in another case": (fields(extid__c="person-2"), "make them equal"),
    "same field twice in different case": (fields(LastName="a", lastname="b"), "ignore case"),
    "NUL in a value": (fields(LastName="a\x00b"), "U+0000"),
    "lone surrogate": (fields(LastName="a\ud800"), "U+D800"),
    "NaN": (fields(Score__c=float("nan")), "finite numbers only"),
    "attributes is reserved": (fields(attributes="x"), "reserved"),
    "record over 1 MiB": (
        record(fields={f"F{i}__c": "x" * 131_072 for i in range(9)}),
        "at most 1,048,576",
    ),
}


@pytest.mark.parametrize(("item", "expected"), GOOD.values(), ids=GOOD.keys())
def test_valid_record_is_accepted(item: dict[str, Any], expected: RecordInput | None) -> None:
    result = validate(item)
    if expected is not None:
        assert result == expected
    assert result.fields == {k: v for k, v in item["fields"].items()}


@pytest.mark.parametrize(("item", "message"), BAD.values(), ids=BAD.keys())
def test_invalid_record_is_rejected_with_a_reason(item: Any, message: str) -> None:
    with pytest.raises(InvalidRecord) as excinfo:
        validate(item)
    assert message in str(excinfo.value)
    assert excinfo.value.line is None
