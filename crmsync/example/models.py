"""The example host app's own models: a tenant is one customer of the host app and maps onto
one crmsync Account."""

from __future__ import annotations

import uuid

from django.db import models

from accounts.models import Account


class Tenant(models.Model):
    name = models.CharField(max_length=100)
    crm_account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    kind = models.CharField(max_length=20, default="Lead")
    is_customer = models.BooleanField(default=True)
    birthday = models.DateField(null=True, blank=True)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    notes = models.TextField(blank=True)  # not exported: a save that changes only it sends nothing

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Touchpoint(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    person = models.ForeignKey(Person, on_delete=models.CASCADE)
    channel = models.CharField(max_length=50, default="Web")
    occurred_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.channel} touchpoint of {self.person}"
