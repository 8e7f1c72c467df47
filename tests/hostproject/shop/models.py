"""The host project's own models: a shop is one of its tenants and maps onto one crmsync
Account; its customers are exported as Contacts (crm_exports.py)."""

from django.db import models


class Shop(models.Model):
    name = models.CharField(max_length=100)
    crm_account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE)
    number = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    since = models.DateField(null=True, blank=True)
    balance = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    vip = models.BooleanField(default=False)
    last_order_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.number} {self.name}"
