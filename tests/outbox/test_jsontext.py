"""jsontext: the hot paths' JSON text is the json module's, compact and UTF-8, for every
value the json module takes (orjson where it can, the json module where orjson refuses)."""

from __future__ import annotations

import json

import pytest

from exports import jsontext

VALUES = [
    [["Contact", "ExtId__c", "k-1", {"LastName": "Ümlaut 雪", "Score__c": 1.5}, "upsert"]],
    {"Account": {"ExtId__c": "c-1"}, "Flag__c": True, "Empty__c": None, "N__c": -3},
    [2**64, -(2**70)],  # beyond 64 bits: orjson refuses, the json module writes them
    {1: "a key that is not text"},
    'line\nbreak \u2028 and a quote "',
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_reads_back_as_the_json_module_wrote_it(value):
    text = jsontext.dumps(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert ", " not in text.replace('", "', "") and ": " not in text  # compact
    assert "\\u00dc" not in text  # non-ASCII as it is


def test_loads_reads_what_the_database_answers():
    text = '[[7, "PersonExport", "k-é", {"LastName": "0f3a"}], [9223372036854775807]]'
    assert jsontext.loads(text) == json.loads(text)
    with pytest.raises(ValueError):
        jsontext.loads("[1,")
