"""Admin for accounts and their CRM settings ("<account> › Settings › CRM").

The CRM settings page has three fieldsets, General, Connection and Notifications. Its rules:
- "Pause on export errors" is in the form only while Export to CRM is on
  (`forms.shows_pause_field`); the page's script fetches it when the admin
  ticks Export to CRM (`pause-field/`) and hides it when they untick it.
- Turning pause off needs the "I understand…" box (enforced by the form).
- Secrets are write-only; view-only staff see "set"/"not set".
- "Test connection" logs in with the saved settings through the gateway; when it works,
  the account's circuit breaker closes (`accounts.signals.connection_works`, which the
  export side answers; saving the page closes it too: exports.signals).
  It warns when the account uses the deprecated username-password flow (as the page does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import AdminForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from accounts.admin_intake import IntakeTokenAdmin
from accounts.fields import UNREADABLE, secret_state
from accounts.forms import (
    CONFIRM_PAUSE_OFF,
    CONNECTION_FIELDS,
    NOTIFICATION_FIELDS,
    PAUSE,
    SECRET_FIELDS,
    CRMSettingsForm,
    shows_pause_field,
)
from accounts.models import PASSWORD_FLOW_WARNING, Account, CRMSettings
from accounts.signals import connection_works
from salesforce.client import ConnectionCheck, Gateway, GatewayError

NOTIFICATIONS_HELP = (
    "Who hears about this account's export: paused at a record (then still paused, then "
    "resumed), runs failing, error spikes with pause off, the daily API limit; each sent "
    "once per change. See docs/alerts.md › Alerts for the webhook's body and signature. Changing "
    "the webhook URL removes the stored signing secret unless you type a new one in the "
    "same save: it signs only for the receiver it was saved for."
)

SECRETS_FOLLOW_TARGET = (
    "Changing the login URL, auth flow or CA bundle removes the stored client secret, "
    "private key and password, unless you type new ones in the same save: a secret is only "
    "ever sent where it was saved for. The login URL must be Salesforce's "
    "(https://login.salesforce.com, https://test.salesforce.com, your My Domain) or a host "
    "the operator listed in CRMSYNC_EXTRA_LOGIN_HOSTS."
)


def export_status_url(account: Account) -> str | None:
    """The export status page of `account` (served by the exports app), if installed."""
    try:
        return reverse("export-status", args=[account.slug])
    except NoReverseMatch:
        return None


@admin.register(Account)
class AccountAdmin(IntakeTokenAdmin):
    """Accounts; the intake token's state and buttons come from IntakeTokenAdmin."""

    list_display = (
        "name",
        "slug",
        "is_active",
        "export_to_crm",
        "crm_settings_link",
        "status_link",
    )
    list_filter = ("is_active", "crm_settings__export_enabled")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("crm_settings",)

    @admin.display(description="Export to CRM", boolean=True)
    def export_to_crm(self, account: Account) -> bool:
        return account.crm_settings.export_enabled

    @admin.display(description="settings")
    def crm_settings_link(self, account: Account) -> str:
        url = reverse("admin:accounts_crmsettings_change", args=[account.crm_settings.pk])
        unreadable = account.crm_settings.unreadable_secrets
        if unreadable:
            return format_html(
                '<a href="{}">Settings › CRM</a> ({}: {})', url, ", ".join(unreadable), UNREADABLE
            )
        return format_html('<a href="{}">Settings › CRM</a>', url)

    @admin.display(description="export")
    def status_link(self, account: Account) -> str:
        url = export_status_url(account)
        return format_html('<a href="{}">Export status</a>', url) if url else "—"


def _secret_row(name: str, editable: bool) -> str | tuple[str, str]:
    """A Connection field's row: a secret with its "remove" box, or its "set"/"not set"
    state for view-only staff; any other field as it is."""
    if name not in SECRET_FIELDS:
        return name
    return (name, f"{name}_clear") if editable else f"{name}_state"


def _secret_state(name: str) -> Callable[[CRMSettingsAdmin, CRMSettings], str]:
    @admin.display(description=CRMSettings.column(name).verbose_name)
    def state(self: CRMSettingsAdmin, settings: CRMSettings) -> str:
        return secret_state(getattr(settings, name))

    return state


@admin.register(CRMSettings)
class CRMSettingsAdmin(admin.ModelAdmin):
    form = CRMSettingsForm
    change_form_template = "accounts/admin/crmsettings_change_form.html"
    list_display = (
        "account",
        "export_enabled",
        "pause_on_export_errors",
        "auth_flow",
        "login_url",
        "updated_at",
    )
    list_filter = ("export_enabled", "pause_on_export_errors", "auth_flow")
    search_fields = ("account__name", "account__slug")
    list_select_related = ("account",)

    client_secret_state = _secret_state("client_secret")
    private_key_state = _secret_state("private_key")
    password_state = _secret_state("password")
    alert_webhook_secret_state = _secret_state("alert_webhook_secret")

    # One row per account, created with it (accounts.signals); never added or deleted here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CRMSettings | None = None) -> bool:
        return False

    def get_fieldsets(self, request: HttpRequest, obj: CRMSettings | None = None) -> list:
        editable = self.has_change_permission(request, obj)
        data = request.POST if request.method == "POST" else None
        general: list[Any] = ["export_enabled"]
        if obj is not None and shows_pause_field(data, obj):
            general += [PAUSE, CONFIRM_PAUSE_OFF] if editable else [PAUSE]
        general += ["batch_size", "max_records_per_run", "give_up_after_days"]
        connection = [_secret_row(name, editable) for name in CONNECTION_FIELDS]
        notifications = [_secret_row(name, editable) for name in NOTIFICATION_FIELDS]
        return [
            ("General", {"fields": general}),
            ("Connection", {"fields": connection, "description": SECRETS_FOLLOW_TARGET}),
            ("Notifications", {"fields": notifications, "description": NOTIFICATIONS_HELP}),
        ]

    def save_model(self, request: HttpRequest, obj: CRMSettings, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.forgotten_secrets:
            labels = " and ".join(
                str(CRMSettings.column(name).verbose_name) for name in obj.forgotten_secrets
            )
            one = len(obj.forgotten_secrets) == 1
            self.message_user(
                request,
                f"The stored {labels} of {obj.account} {'was' if one else 'were'} removed: "
                f"{obj.forgotten_because}, and a secret is only ever sent where it was saved "
                f"for. Type {'it' if one else 'them'} again.",
                messages.WARNING,
            )

    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS))
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        settings = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if settings is not None:
            context.update(self._page_context(request, settings))
        return super().change_view(request, object_id, form_url, context)

    def _page_context(self, request: HttpRequest, settings: CRMSettings) -> dict[str, Any]:
        can_change = self.has_change_permission(request, settings)
        return {
            "title": f"{settings.account} › Settings › CRM",
            "subtitle": None,
            "account": settings.account,
            "can_change": can_change,
            "export_status_url": export_status_url(settings.account),
            "password_flow_warning": PASSWORD_FLOW_WARNING if settings.uses_password_flow else "",
            "crm_settings_config": {
                "pauseFieldUrl": reverse(
                    "admin:accounts_crmsettings_pause_field", args=[settings.pk]
                ),
                "storedPause": settings.pause_on_export_errors,
                "editable": can_change,
            },
        }

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/test-connection/",
                wrap(self.test_connection_view),
                name="accounts_crmsettings_test_connection",
            ),
            path(
                "<int:object_id>/pause-field/",
                wrap(self.pause_field_view),
                name="accounts_crmsettings_pause_field",
            ),
            *super().get_urls(),
        ]

    def _settings_for_change(self, request: HttpRequest, object_id: int) -> CRMSettings:
        settings = get_object_or_404(CRMSettings.objects.select_related("account"), pk=object_id)
        if not self.has_change_permission(request, settings):
            raise PermissionDenied
        return settings

    def test_connection_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """POST: log in with the saved settings; report the org's API usage or the exact error."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        settings = self._settings_for_change(request, object_id)
        try:
            check = Gateway(settings).check_connection()
        except GatewayError as exc:
            advice = "" if exc.permanent else " " + UNREACHABLE_ADVICE
            self.message_user(request, f"Connection failed: {exc.message}{advice}", messages.ERROR)
        else:
            summary = _connection_summary(check)
            reopened = connection_works.send(sender=type(settings), account_id=settings.account_id)
            if any(answer for _, answer in reopened):
                summary += " Scheduled runs start again (the failed logins are forgotten)."
            self.message_user(request, summary, messages.SUCCESS)
        if settings.uses_password_flow:
            self.message_user(request, PASSWORD_FLOW_WARNING, messages.WARNING)
        return HttpResponseRedirect(
            reverse("admin:accounts_crmsettings_change", args=[settings.pk])
        )

    def pause_field_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: the pause rows for the page's script to insert when Export to CRM is ticked."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        settings = self._settings_for_change(request, object_id)
        form = self.get_form(request, settings, fields=[PAUSE, CONFIRM_PAUSE_OFF])(
            instance=settings
        )
        admin_form = AdminForm(form, [(None, {"fields": [PAUSE, CONFIRM_PAUSE_OFF]})], {})
        return TemplateResponse(
            request, "accounts/admin/pause_field.html", {"adminform": admin_form}
        )


UNREACHABLE_ADVICE = (
    "Check the login URL and that the org is reachable from this server, then test again."
)


def _connection_summary(check: ConnectionCheck) -> str:
    """ "Connected to <instance> (API vXX.X): N of M API requests used in the last 24 hours."."""
    if check.api_used is not None and check.api_limit:
        usage = f"{check.api_used:,} of {check.api_limit:,} API requests used in the last 24 hours"
    else:
        usage = "the org reported no API usage"
    return f"Connected to {check.instance_url} (API v{check.api_version}): {usage}."
