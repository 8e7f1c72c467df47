from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, router, transaction

from accounts.fields import EncryptedTextField, StoredSecret, UnreadableSecret
from accounts.validators import (
    email_list,
    validate_email_list,
    validate_finite,
    validate_webhook_url,
)
from salesforce import login_hosts

# The secrets a login sends, and where and how they are sent: changing any of TARGET_FIELDS
# forgets the stored CONNECTION_SECRETS (CRMSettings.save).
CONNECTION_SECRETS = ("client_secret", "private_key", "password")
TARGET_FIELDS = ("login_url", "auth_flow", "ca_bundle")
# Every secret, with the fields that say where it goes and what a person is told when a
# change of them forgets it: the webhook signing secret signs for its URL only.
SECRET_TARGETS: dict[str, tuple[tuple[str, ...], str]] = {
    **dict.fromkeys(
        CONNECTION_SECRETS, (TARGET_FIELDS, "the login URL, auth flow or CA bundle changed")
    ),
    "alert_webhook_secret": (("alert_webhook_url",), "the webhook URL changed"),
}
# The Salesforce request timeout, seconds: other expiries follow from it (the login lock,
# the org slots and the send claim in the shared cache), so it is bounded.
TIMEOUT_MIN_S = 0.1
TIMEOUT_MAX_S = 120

# Salesforce retires the OAuth 2.0 username-password flow on this date, with no extension;
# orgs created since Summer '26 refuse it already.
PASSWORD_FLOW_RETIRED_ON = "February 20, 2027"
PASSWORD_FLOW_WARNING = (
    f"The username-password flow is deprecated: Salesforce retires it on "
    f"{PASSWORD_FLOW_RETIRED_ON} (orgs created since Summer '26 refuse it already). Switch "
    "this account to client credentials or JWT bearer, with an External Client App."
)


class AccountQuerySet(models.QuerySet["Account"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the accounts with their rows, after locking them (`lock_to_delete`)."""
        with transaction.atomic(using=self.db):
            lock_to_delete(self.db, list(self.values_list("pk", flat=True)))
            return super().delete()


class Account(models.Model):
    name = models.CharField("name", max_length=200)
    slug = models.SlugField("slug", max_length=100, unique=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        verbose_name = "account"

    def __str__(self) -> str:
        return self.name or self.slug

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        """Delete the account with its rows, after locking it (`lock_to_delete`)."""
        db = using or router.db_for_write(Account, instance=self)
        with transaction.atomic(using=db):
            lock_to_delete(db, [self.pk])
            return super().delete(using=db, keep_parents=keep_parents)


def lock_to_delete(db: str, pks: list[int]) -> None:
    """Lock accounts about to be deleted (FOR UPDATE) before their rows are collected. The
    records' and captured keys' account has no foreign key constraint in the database:
    an enqueue holds its account's row (FOR NO KEY UPDATE) until it commits, so one in
    flight commits first and its records are deleted with the account, and one after
    waits, then finds no account and writes nothing."""
    list(Account._base_manager.using(db).select_for_update().filter(pk__in=pks).values_list("pk"))


class IntakeToken(models.Model):
    """An account's token for the HTTP intake (exports.intake): only its SHA-256 is kept
    (accounts.intake_tokens makes, finds and revokes tokens). One per account: a new one
    replaces it."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="intake_token", verbose_name="account"
    )
    digest = models.CharField("SHA-256 of the token", max_length=64, unique=True)
    created_at = models.DateTimeField("created", auto_now_add=True)
    created_by = models.CharField("created by", max_length=200, blank=True)

    class Meta:
        verbose_name = "intake token"

    def __str__(self) -> str:
        return f"intake token of {self.account}"


class CRMSettingsQuerySet(models.QuerySet):
    def exporting(self) -> CRMSettingsQuerySet:
        """The accounts whose records are exported: Export to CRM on, account active."""
        return self.filter(export_enabled=True, account__is_active=True)


class CRMSettings(models.Model):
    class AuthFlow(models.TextChoices):
        CLIENT_CREDENTIALS = "client_credentials", "OAuth client credentials (recommended)"
        JWT_BEARER = "jwt_bearer", "OAuth JWT bearer"
        PASSWORD = (
            "password",
            f"Username and password (deprecated, retired {PASSWORD_FLOW_RETIRED_ON})",
        )

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="crm_settings", verbose_name="account"
    )
    export_enabled = models.BooleanField(
        "Export to CRM", default=False, help_text="Export this account's records to Salesforce."
    )
    pause_on_export_errors = models.BooleanField(
        "Pause on export errors",
        default=True,
        help_text=(
            "Stop the export at the first record Salesforce rejects and retry it on every run "
            "until it goes through. When off, rejected records are logged and the export goes on."
        ),
    )
    batch_size = models.PositiveSmallIntegerField(
        "batch size",
        default=200,
        validators=[MinValueValidator(1), MaxValueValidator(200)],
        help_text="Records per Salesforce call (1–200).",
    )
    max_records_per_run = models.PositiveIntegerField(
        "max records per run",
        default=20_000,
        validators=[MinValueValidator(1)],
        help_text="The rest waits for the next scheduled run.",
    )
    give_up_after_days = models.PositiveIntegerField(
        "stop re-exporting an error after (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="The daily re-export gives up on an export error open longer than this "
        "(it stays visible, and can be re-exported or dismissed by hand). Empty: never.",
    )
    daily_api_limit = models.PositiveIntegerField(
        "daily API limit",
        default=100_000,
        help_text="Runs stop starting batches near the lower of this and the org's own limit.",
    )
    login_url = models.URLField(
        "login URL",
        default="https://login.salesforce.com",
        help_text="https://login.salesforce.com, https://test.salesforce.com or your My Domain URL.",
    )
    auth_flow = models.CharField(
        "auth flow",
        max_length=32,
        choices=AuthFlow.choices,
        default=AuthFlow.CLIENT_CREDENTIALS,
        help_text=(
            "How crmsync logs in, through an External Client App in Salesforce: client "
            "credentials (recommended) or JWT bearer. The username-password flow is "
            f"deprecated: Salesforce retires it on {PASSWORD_FLOW_RETIRED_ON}."
        ),
    )
    client_id = models.CharField(
        "client id",
        max_length=255,
        blank=True,
        help_text="The consumer key of the External Client App.",
    )
    username = models.CharField(
        "username", max_length=255, blank=True, help_text="For the JWT bearer and password flows."
    )
    client_secret = EncryptedTextField("client secret", blank=True)
    private_key = EncryptedTextField(
        "private key",
        blank=True,
        help_text="PEM private key for the JWT bearer flow (of the certificate uploaded to the "
        "External Client App).",
    )
    password = EncryptedTextField(
        "password",
        blank=True,
        help_text="Password (with security token) for the deprecated username-password flow.",
    )
    api_version = models.CharField("API version", max_length=8, default="62.0")
    ca_bundle = models.CharField(
        "CA bundle",
        max_length=500,
        blank=True,
        help_text="Path to a CA file to trust (the sandbox org, a corporate proxy). Empty: system CAs.",
    )
    version_field = models.CharField(
        "version field",
        max_length=80,
        blank=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z][A-Za-z0-9_]*$",
                "An API field name: letters, digits and _, e.g. Crmsync_Version__c.",
            )
        ],
        help_text="Optional: a number field of every exported object (e.g. Crmsync_Version__c) "
        "that crmsync sets to each record's outbox id. With a validation rule in the org that "
        "refuses a lower value, Salesforce itself never takes an older write; crmsync counts "
        "that refusal as done (a newer value is there), not as an export error.",
    )
    timeout_seconds = models.FloatField(
        "request timeout (s)",
        default=30.0,
        validators=[
            validate_finite,
            MinValueValidator(TIMEOUT_MIN_S),
            MaxValueValidator(TIMEOUT_MAX_S),
        ],
        help_text="Longest wait for one Salesforce request before it is retried (0.1–120 s).",
    )
    # -- Notifications (exports.alerts.evaluate reads these) --------------------------------------
    alert_emails = models.TextField(
        "alert emails",
        blank=True,
        validators=[validate_email_list],
        help_text="Who is emailed when this account's export pauses, fails or recovers: "
        "addresses separated by commas or new lines.",
    )
    alert_webhook_url = models.URLField(
        "webhook URL",
        blank=True,
        max_length=500,
        validators=[validate_webhook_url],
        help_text="Receives each alert as a signed JSON POST (docs/alerts.md › Alerts). HTTPS; plain "
        "HTTP only for 127.0.0.1 / localhost.",
    )
    alert_webhook_secret = EncryptedTextField(
        "webhook signing secret",
        blank=True,
        help_text="Signs each webhook (header X-Crmsync-Signature, HMAC-SHA256).",
    )
    still_paused_after_hours = models.PositiveIntegerField(
        "still paused reminder after (hours)",
        default=24,
        validators=[MinValueValidator(1)],
        help_text="A paused export is reported again after this long, then daily.",
    )
    error_spike_per_hour = models.PositiveIntegerField(
        "error spike: new errors per hour",
        default=100,
        validators=[MinValueValidator(1)],
        help_text="With pause off: alert when more export errors than this open within an hour.",
    )
    error_spike_percent = models.PositiveSmallIntegerField(
        "error spike: % of a run",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="With pause off: alert when a run of at least 20 records has more than this "
        "share of them rejected.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = CRMSettingsQuerySet.as_manager()

    class Meta:
        verbose_name = "CRM settings"
        verbose_name_plural = "CRM settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=TIMEOUT_MIN_S)
                & models.Q(timeout_seconds__lte=TIMEOUT_MAX_S),
                name="crmsettings_timeout_0_1_to_120_s",
                violation_error_message="The request timeout must be 0.1 to 120 seconds.",
            )
        ]

    def __str__(self) -> str:
        return f"CRM settings of {self.account}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a changed login URL, auth flow or CA bundle forgets the stored Salesforce
        secrets, a changed webhook URL its signing secret (SECRET_TARGETS).

        1. `forgotten_secrets` = the secrets `forget_secrets_of_another_target` cleared.
        2. Save (a save limited by `update_fields` also saves the cleared secrets).
        3. What is now saved counts as stored, for the next save of this instance.
        """
        self.forgotten_secrets = self.forget_secrets_of_another_target()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and self.forgotten_secrets:
            kwargs["update_fields"] = {*update_fields, *self.forgotten_secrets}
        super().save(*args, **kwargs)
        self._stored_targets = self._targets()
        for name in SECRET_TARGETS:
            value = getattr(self, name)
            if value and not isinstance(value, StoredSecret):
                setattr(self, name, StoredSecret(value))

    def clean(self) -> None:
        """1. Logins go only where Salesforce is (salesforce/login_hosts.py): the admin form
           and `crm_account` (both run this) refuse a login URL outside the allowed hosts.
        2. A webhook needs its signing secret."""
        errors = {}
        try:
            login_hosts.checked_origin(self.login_url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS)
        except login_hosts.LoginHostRefused as refused:
            errors["login_url"] = f"The login URL {refused.reason}."
        if self.alert_webhook_url and not self.alert_webhook_secret:
            errors["alert_webhook_secret"] = (
                "A webhook needs a signing secret (its receiver checks every request with it)."
            )
        if errors:
            raise ValidationError(errors)

    @classmethod
    def column(cls, name: str) -> models.Field:
        """The model field `name`, for its verbose_name or help_text (`_meta.get_field`
        also answers relations and generic keys, which have neither)."""
        field = cls._meta.get_field(name)
        if not isinstance(field, models.Field):
            raise TypeError(f"CRMSettings.{name} is not a model field")
        return field

    # -- secrets are bound to where they were saved for ----------------------------------

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> CRMSettings:
        instance = super().from_db(db, field_names, values)
        instance._stored_targets = instance._targets()
        return instance

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._stored_targets = self._targets()

    def forget_secrets_of_another_target(self) -> list[str]:
        """A secret is only ever sent where it was saved for. When a field a secret is bound
        to (SECRET_TARGETS: the login URL, auth flow and CA bundle for the Salesforce
        secrets, the webhook URL for its signing secret) differs from the stored one, clear
        the secret if it is still the stored one (a `StoredSecret`: not assigned since this
        row was read); a secret given anew in the same save is kept. Returns the names
        cleared. A field not loaded (a deferred one) counts as unchanged."""
        stored = getattr(self, "_stored_targets", None)
        if stored is None:
            return []
        current = self._targets()
        forgotten = []
        for name, (fields, _) in SECRET_TARGETS.items():
            moved = any(f in stored and f in current and stored[f] != current[f] for f in fields)
            # An empty secret reads as a plain "": every StoredSecret is a stored, set one.
            if moved and isinstance(getattr(self, name), StoredSecret):
                setattr(self, name, "")
                forgotten.append(name)
        return forgotten

    @property
    def forgotten_because(self) -> str:
        """Why the last save removed `forgotten_secrets`: "the webhook URL changed", …"""
        reasons = [SECRET_TARGETS[name][1] for name in getattr(self, "forgotten_secrets", [])]
        return " and ".join(dict.fromkeys(reasons))

    @property
    def unreadable_secrets(self) -> list[str]:
        """Labels of the stored secrets no configured key decrypts ("client secret", ...)."""
        return [
            str(field.verbose_name)
            for field in self._meta.fields
            if isinstance(getattr(self, field.attname), UnreadableSecret)
        ]

    def _targets(self) -> dict[str, str]:
        """The loaded fields secrets are bound to (SECRET_TARGETS), as compared: the login
        URL without a trailing slash."""
        loaded = self.__dict__
        fields = {field for fields, _ in SECRET_TARGETS.values() for field in fields}
        targets = {name: str(loaded[name]) for name in fields if name in loaded}
        if "login_url" in targets:
            targets["login_url"] = targets["login_url"].rstrip("/")
        return targets

    @property
    def account_slug(self) -> str:
        """The account's slug: how the Salesforce client names it (salesforce.connection)."""
        return self.account.slug

    @property
    def exporting(self) -> bool:
        """Export to CRM is on and the account active (`CRMSettings.objects.exporting()`)."""
        return self.export_enabled and self.account.is_active

    @property
    def alert_email_list(self) -> list[str]:
        """The alert recipients, one address per item."""
        return email_list(self.alert_emails)

    @property
    def uses_password_flow(self) -> bool:
        """Logs in with the username-password flow, which Salesforce retires (see
        PASSWORD_FLOW_WARNING)."""
        return self.auth_flow == self.AuthFlow.PASSWORD
