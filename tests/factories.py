"""factory-boy factories for every model."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import Account, CRMSettings
from exports.models import ExportCursor, ExportError, ExportRecord, ExportRun


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Account {n}")
    slug = factory.Sequence(lambda n: f"account-{n}")
    is_active = True


class CRMSettingsFactory(factory.django.DjangoModelFactory):
    """CRMSettings exists for every account (a signal creates it); this updates it."""

    class Meta:
        model = CRMSettings
        django_get_or_create = ("account",)

    account = factory.SubFactory(AccountFactory)
    export_enabled = True
    pause_on_export_errors = True
    client_id = "sandbox"
    client_secret = "sandbox"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        account = kwargs.pop("account")
        obj, _ = model_class.objects.get_or_create(account=account)
        for key, value in kwargs.items():
            setattr(obj, key, value)
        obj.save()
        return obj


class ExportRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExportRecord

    account = factory.SubFactory(AccountFactory)
    sobject = "Contact"
    external_id_field = "ExtId__c"
    external_id = factory.Sequence(lambda n: f"person-{n}")
    fields = factory.LazyAttribute(lambda o: {"LastName": f"Person {o.external_id}"})


class ExportCursorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExportCursor
        django_get_or_create = ("account",)

    account = factory.SubFactory(AccountFactory)


class ExportRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExportRun

    account = factory.SubFactory(AccountFactory)
    trigger = ExportRun.Trigger.SCHEDULE
    outcome = ExportRun.Outcome.COMPLETED
    finished_at = factory.LazyFunction(timezone.now)


class ExportErrorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExportError

    record = factory.SubFactory(ExportRecordFactory)
    account = factory.SelfAttribute("record.account")
    sobject = factory.SelfAttribute("record.sobject")
    external_id = factory.SelfAttribute("record.external_id")
    error_code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    message = "Customers need an email"
    fields = factory.LazyFunction(lambda: ["Email"])
