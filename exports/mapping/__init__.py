"""Declare how a Django model is exported, and crmsync captures its saves and deletions in
the same transaction (docs/integration.md › Mappings).

    from exports.mapping import Export, Ref

    class PersonExport(Export):
        model = Person
        sobject = "Contact"
        external_id = ("Ext_Id__c", "uuid")
        account = "tenant.crm_account"
        fields = {"LastName": "last_name", "Account": Ref("Account", "Ext_Id__c", "company.uuid")}
"""

from __future__ import annotations

from exports.mapping.capture import export_objects, export_queryset
from exports.mapping.declare import Export, Ref, registered

__all__ = ["Export", "Ref", "export_objects", "export_queryset", "registered"]
