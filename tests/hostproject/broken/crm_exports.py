"""Three mistakes `manage.py check` must catch before the first save."""

from shop.models import Customer

from exports.mapping import Export


class TypoExport(Export):  # exports.E003: no attribute "nmae"
    model = Customer
    sobject = "Contact"
    external_id = ("Customer_Number__c", "number")
    account = "shop.crm_account"
    fields = {"LastName": "nmae"}


class TwiceExport(Export):  # exports.E004: Email and EMAIL are one Salesforce field
    model = Customer
    sobject = "Contact"
    external_id = ("Customer_Number__c", "number")
    account = "shop.crm_account"
    fields = {"Email": "email", "EMAIL": "email"}


class NotUniqueExport(Export):  # exports.E005: two customers may share a name
    model = Customer
    sobject = "Contact"
    external_id = ("Name__c", "name")
    account = "shop.crm_account"
    fields = {"LastName": "name"}
