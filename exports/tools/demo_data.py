"""The demo's numbers and the sandbox org's rules (see exports/tools/demo.py).

The demo's rows are the example host app's (crmsync/example: companies, people, one
touchpoint per person; exports/tools/demo_host.py makes them); a few people are Customers
without an email, which the org's validation rule rejects. The org checks references: a
Contact's Account and a touchpoint's Contact must exist in it.
"""

from __future__ import annotations

from dataclasses import dataclass

RULE = {
    "name": "Email_Required_For_Customers",
    "when": {"field": "Type__c", "equals": "Customer"},
    "require": "Email",
    "message": "Customers need an email",
}
TOUCHPOINT = "bizible2__Bizible_Touchpoint__c"
LOOKUPS = {
    "Contact": {"lookups": {"AccountId": "Account"}},
    TOUCHPOINT: {"lookups": {"bizible2__Contact__c": "Contact"}},
}
RULES_STRICT = {"objects": {**LOOKUPS, "Contact": {**LOOKUPS["Contact"], "validation": [RULE]}}}
RULES_FIXED = {"objects": LOOKUPS}


@dataclass(frozen=True)
class Plan:
    """How many companies and people, which people break the rule, and which two people
    the capture step corrects and deletes."""

    people: int = 2500
    bad: tuple[int, ...] = (1234, 1800, 2222)
    more_people: int = 500
    more_bad: tuple[int, ...] = (2600, 2700, 2800, 2900)
    companies: int = 50
    corrected: int = 7  # step 3: this person's email is corrected (an ORM save)
    deleted: int = 8  # step 3: this person is deleted (an ORM delete), its touchpoint with it


SMALL = Plan(people=150, bad=(40, 120), more_people=50, more_bad=(160, 170), companies=5)
