"""The demo's data: people and touchpoints, and the sandbox org's rules (see exports/tools/demo.py).

People come in blocks, each followed by the touchpoints that point at them (people
before their touchpoints, as a host app enqueues them); a few people are Customers
without an email, which the org's validation rule rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RULE = {
    "name": "Email_Required_For_Customers",
    "when": {"field": "Type__c", "equals": "Customer"},
    "require": "Email",
    "message": "Customers need an email",
}
TOUCHPOINT = "bizible2__Bizible_Touchpoint__c"
LOOKUPS = {TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}}}
RULES_STRICT = {"objects": {"Contact": {"validation": [RULE]}, **LOOKUPS}}
RULES_FIXED = {"objects": LOOKUPS}


@dataclass(frozen=True)
class Plan:
    """How many people, which of them break the rule, and in which blocks they come."""

    people: int = 2500
    bad: tuple[int, ...] = (1234, 1800, 2222)
    more_people: int = 500
    more_bad: tuple[int, ...] = (2600, 2700, 2800, 2900)
    block: int = 200


SMALL = Plan(people=150, bad=(40, 120), more_people=50, more_bad=(160, 170), block=50)


def people_and_touchpoints(start: int, n: int, bad: set[int], block: int) -> list[dict[str, Any]]:
    """n people in blocks: `block` people, then the `block` touchpoints pointing at them
    (people before their touchpoints, as a host app enqueues them)."""
    items: list[dict[str, Any]] = []
    for first in range(start, start + n, block):
        numbers = range(first, min(first + block, start + n))
        items += [_person(i, i in bad) for i in numbers]
        items += [_touchpoint(i) for i in numbers]
    return items


def _person(i: int, bad: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"LastName": f"Person {i}", "Type__c": "Customer" if bad else "Lead"}
    if not bad:
        fields["Email"] = f"person{i}@example.com"
    return {
        "sobject": "Contact",
        "external_id_field": "ExtId__c",
        "external_id": f"demo-person-{i}",
        "fields": fields,
    }


def _touchpoint(i: int) -> dict[str, Any]:
    return {
        "sobject": TOUCHPOINT,
        "external_id_field": "ExtId__c",
        "external_id": f"demo-touch-{i}",
        "fields": {"bizible2__Contact__r": {"ExtId__c": f"demo-person-{i}"}, "Channel__c": "Web"},
    }
