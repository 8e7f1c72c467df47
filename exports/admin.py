"""Admin for the export outbox, runs, cursors and errors. All read-only by hand.

Export errors are changed only through their actions: "Re-export now" (enqueues
`exports.tasks.reexport_error` for each open or given-up error) and "Dismiss" (needs the
change permission on export errors); "Download CSV" needs only the view
permission. An open or given-up error's own page has the first two as buttons
(`<id>/reexport/`, `<id>/dismiss/`, POST; a safe `next` leads back, as from a record's
story), a link to its record's story (exports.views_story) and, while its account is paused
at its record, "Skip this record" (exports.views_skip). The per-account export status page
lives in `views_admin`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime

from accounts.models import Account
from crmsync.celery import app as celery_app
from exports import admin_notifications  # noqa: F401  (registers Exports › Notifications)
from exports.admin_records import ReadOnlyAdmin, payload_table, record_link, story_url
from exports.models import (
    ExportCursor,
    ExportError,
    ExportErrorQuerySet,
    ExportRecord,
)
from exports.story import RecordOutcome, note
from exports.views_admin import can_run_export

REEXPORT_ERROR_TASK = "exports.tasks.reexport_error"
# What a hand re-export or dismissal takes: open errors, and those the daily job gave up on.
LEFT_OPEN = (ExportError.Status.OPEN, ExportError.Status.GIVEN_UP)


def _status_link(account: Account) -> str:
    url = reverse("export-status", args=[account.slug])
    return format_html('<a href="{}">{}</a>', url, account)


@admin.register(ExportCursor)
class ExportCursorAdmin(ReadOnlyAdmin):
    list_display = (
        "account_link",
        "state",
        "last_exported_id",
        "paused_at",
        "paused_since",
        "last_error_code",
    )
    list_filter = ("state",)
    list_select_related = ("account",)

    @admin.display(description="account", ordering="account__slug")
    def account_link(self, cursor: ExportCursor) -> str:
        return _status_link(cursor.account)

    @admin.display(description="paused at record")
    def paused_at(self, cursor: ExportCursor) -> str:
        return record_link(cursor.paused_record_id)


# The error page's two fieldsets; every field on it is read-only.
ERROR_FIELDS = (
    "account",
    "record_link",
    "sobject",
    "external_id",
    "error_code",
    "message",
    "named_fields",
    "status",
    "attempts",
    "first_seen_at",
    "last_attempt_at",
    "resolved_at",
    "skipped_by",
    "skipped_at",
)
RECORD_FIELDS = ("record_external_id_field", "record_payload", "record_created")


@admin.register(ExportError)
class ExportErrorAdmin(admin.ModelAdmin):
    """The list fits 1280 px with its filters: the record's id, object and external id share
    one column, long codes and messages wrap (exporterror_change_list.html), and the page
    leaves out the admin's navigation sidebar (the breadcrumbs lead back)."""

    change_form_template = "exports/admin/exporterror_change_form.html"
    change_list_template = "exports/admin/exporterror_change_list.html"
    list_display = (
        "code",
        "short_message",
        "record_cell",
        "account",
        "attempts",
        "status",
        "last_attempt",
    )
    list_filter = ("status", "error_code", "sobject", "account")
    search_fields = ("external_id", "message")
    list_select_related = ("account",)
    actions = ("reexport_now", "dismiss", "download_csv")
    fieldsets = (("Error", {"fields": ERROR_FIELDS}), ("Record", {"fields": RECORD_FIELDS}))
    readonly_fields = ERROR_FIELDS + RECORD_FIELDS

    # Errors come from Salesforce: never added or deleted by hand, changed only by actions.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> ExportErrorQuerySet:
        # The default manager's queryset (ExportError.objects), which the stubs type as a
        # plain QuerySet; the changelist hands the actions querysets made from it.
        errors = cast(ExportErrorQuerySet, super().get_queryset(request))
        return errors.select_related("account", "record")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"title": "Export errors", "is_nav_sidebar_enabled": False}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Read-only: titled by the error, with Re-export / Dismiss buttons while it is open
        or given up (for staff with the change permission) instead of Save and Delete; Skip
        while its account is paused at its record (the change permission on export cursors)."""
        error = self.get_object(request, object_id)
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        if error is not None:
            context["title"] = f"Export error: {error}"
            context["can_act"] = error.status in LEFT_OPEN and (
                self.has_change_permission(request, error)
            )
            context["can_skip"] = _paused_at(error) and can_run_export(request.user)
            record = error.record
            context["story_url"] = story_url(
                error.account.slug, record.sobject, record.external_id_field, record.external_id
            )
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/reexport/",
                wrap(self.reexport_one_view),
                name="exports_exporterror_reexport",
            ),
            path(
                "<int:object_id>/dismiss/",
                wrap(self.dismiss_one_view),
                name="exports_exporterror_dismiss",
            ),
            *super().get_urls(),
        ]

    def reexport_one_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """POST: "Re-export now" for this one error (the list's action)."""
        return self._act_on_one(request, object_id, self.reexport_now)

    def dismiss_one_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """POST: "Dismiss" this one error (the list's action)."""
        return self._act_on_one(request, object_id, self.dismiss)

    def _act_on_one(
        self,
        request: HttpRequest,
        object_id: int,
        action: Callable[[HttpRequest, ExportErrorQuerySet], Any],
    ) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        error = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, error):
            raise PermissionDenied
        action(request, self.get_queryset(request).filter(pk=error.pk))
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
            back = reverse("admin:exports_exporterror_change", args=[error.pk])
        return HttpResponseRedirect(back)

    @admin.display(description="record", ordering="record_id")
    def record_link(self, error: ExportError) -> str:
        return record_link(error.record_id)

    @admin.display(description="error code", ordering="error_code")
    def code(self, error: ExportError) -> str:
        return _breakable(error.error_code)

    @admin.display(description="record", ordering="record_id")
    def record_cell(self, error: ExportError) -> str:
        """#id (linked), object and, for a deletion, "delete"; the external id below."""
        deletion = " (delete)" if error.record.operation == ExportRecord.Operation.DELETE else ""
        return format_html(
            '{} {}{}<br><span class="external-id">{}</span>',
            record_link(error.record_id),
            _breakable(error.sobject),
            deletion,
            error.external_id,
        )

    @admin.display(description="message")
    def short_message(self, error: ExportError) -> str:
        return error.message if len(error.message) <= 160 else error.message[:159] + "…"

    @admin.display(description="last attempt", ordering="last_attempt_at")
    def last_attempt(self, error: ExportError) -> str:
        return date_format(localtime(error.last_attempt_at), "Y-m-d H:i")

    @admin.display(description="fields named by Salesforce")
    def named_fields(self, error: ExportError) -> str:
        return ", ".join(error.fields) if error.fields else "—"

    @admin.display(description="external id field")
    def record_external_id_field(self, error: ExportError) -> str:
        return error.record.external_id_field

    @admin.display(description="payload")
    def record_payload(self, error: ExportError) -> str:
        return payload_table(error.record.fields, highlight=error.fields or ())

    @admin.display(description="enqueued")
    def record_created(self, error: ExportError) -> str:
        return date_format(localtime(error.record.created_at), "DATETIME_FORMAT")

    @admin.action(description="Re-export now", permissions=["change"])
    def reexport_now(self, request: HttpRequest, queryset: ExportErrorQuerySet) -> None:
        """Enqueue `reexport_error` for each selected open or given-up error of an account
        that exports.

        Other errors, or those whose account has Export to CRM off (or is inactive), are
        skipped and counted in the message: the task would leave them alone anyway.
        """
        selected = list(queryset.select_related("account__crm_settings"))
        due = [error for error in selected if _may_reexport(error)]
        for error in due:
            celery_app.send_task(REEXPORT_ERROR_TASK, args=[error.id])
            self.log_change(request, error, "Re-export queued.")
        message = (
            f"Queued a re-export of {len(due)} error(s); they show as resolved once the "
            "worker has run them."
        )
        if len(due) < len(selected):
            message += (
                f" Skipped {len(selected) - len(due)} that are neither open nor given up, or "
                "whose account has Export to CRM off."
            )
        self.message_user(request, message, messages.SUCCESS if due else messages.WARNING)

    @admin.action(description="Dismiss (stop re-exporting)", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: ExportErrorQuerySet) -> None:
        """Mark open or given-up errors dismissed: the daily re-export leaves them alone; each
        record's story says who dismissed it."""
        now = timezone.now()
        with transaction.atomic():
            open_errors = list(
                queryset.filter(status__in=LEFT_OPEN).select_for_update(of=("self",))
            )
            dismissed = ExportError.objects.filter(id__in=[e.id for e in open_errors]).dismiss(now)
            by = f"by {request.user.get_username()}"
            note(
                [e.record_id for e in open_errors], RecordOutcome.Outcome.DISMISSED, now, message=by
            )
        for error in open_errors:
            self.log_change(request, error, "Dismissed.")
        self.message_user(
            request, f"Dismissed {dismissed} open or given-up error(s).", messages.SUCCESS
        )

    @admin.action(description="Download CSV", permissions=["view"])
    def download_csv(self, request: HttpRequest, queryset: ExportErrorQuerySet) -> HttpResponse:
        """The selected errors as CSV (no record payloads, no settings)."""
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="export-errors.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for error in queryset.select_related("account").order_by("record_id"):
            writer.writerow(_csv_row(error))
        return response


def _breakable(name: str) -> str:
    """A Salesforce name (CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY, bizible2__Touchpoint__c) that
    may wrap after each underscore in a narrow column."""
    return format_html_join(mark_safe("_<wbr>"), "{}", ((part,) for part in name.split("_")))


def _may_reexport(error: ExportError) -> bool:
    return error.status in LEFT_OPEN and error.account.crm_settings.exporting


def _paused_at(error: ExportError) -> bool:
    """Is the error's account paused at its record, the error open (it may be skipped)?"""
    return (
        error.status == ExportError.Status.OPEN
        and ExportCursor.objects.filter(
            account_id=error.account_id,
            state=ExportCursor.State.PAUSED,
            paused_record_id=error.record_id,
        ).exists()
    )


CSV_COLUMNS = (
    "error_id",
    "account",
    "record_id",
    "object",
    "external_id",
    "error_code",
    "message",
    "fields",
    "status",
    "attempts",
    "first_seen_at",
    "last_attempt_at",
    "resolved_at",
)


def _cell(text: str) -> str:
    """Text as a spreadsheet shows it, never as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(error: ExportError) -> list[Any]:
    def iso(value: Any) -> str:
        return value.isoformat() if value else ""

    return [
        error.id,
        error.account.slug,
        error.record_id,
        _cell(error.sobject),
        _cell(error.external_id),
        _cell(error.error_code),
        _cell(error.message),
        _cell(" ".join(error.fields or ())),
        error.status,
        error.attempts,
        iso(error.first_seen_at),
        iso(error.last_attempt_at),
        iso(error.resolved_at),
    ]
