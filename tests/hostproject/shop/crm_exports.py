"""How the shop's customers are exported (found by crmsync at start-up)."""

from shop.models import Customer

from exports.mapping import Export


class CustomerExport(Export):
    model = Customer
    sobject = "Contact"
    external_id = ("Customer_Number__c", "number")
    account = "shop.crm_account"
    fields = {
        "LastName": "name",
        "Email": "email",
        "Customer_Since__c": "since",
        "Balance__c": "balance",
        "VIP__c": "vip",
        "Last_Order__c": "last_order_at",
    }
