"""How the example app's models are exported: found by crmsync at start-up (each installed
app's `crm_exports` module is imported), checked by `manage.py check`."""

from __future__ import annotations

from typing import Any

from crmsync.example.models import Company, Person, Touchpoint
from exports.mapping import Export, Ref

TOUCHPOINT = "bizible2__Bizible_Touchpoint__c"


class CompanyExport(Export):
    model = Company
    sobject = "Account"
    external_id = ("ExtId__c", "uuid")
    account = "tenant.crm_account"
    fields = {"Name": "name"}


class PersonExport(Export):
    model = Person
    sobject = "Contact"
    external_id = ("ExtId__c", "uuid")
    account = "tenant.crm_account"
    fields = {
        "FirstName": "first_name",
        "LastName": "last_name",
        "Email": "email",
        "Type__c": "kind",
        "Birthdate": "birthday",
        "Score__c": "score",
        "Account": Ref("Account", "ExtId__c", "company.uuid"),
    }

    def include(self, person: Any) -> bool:
        return bool(person.is_customer)


class TouchpointExport(Export):
    model = Touchpoint
    sobject = TOUCHPOINT
    external_id = ("ExtId__c", "uuid")
    account = "tenant.crm_account"
    fields = {
        "Channel__c": "channel",
        "bizible2__Touchpoint_Date__c": "occurred_at",
        "bizible2__Contact__r": Ref("Contact", "ExtId__c", "person.uuid"),
    }
