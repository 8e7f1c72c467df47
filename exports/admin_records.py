"""Admin of the rows the export pipeline writes, read-only: outbox records, runs and the key
map (docs/semantics.md › The key map: searchable by external id and Salesforce Id, each
key linked to its record in the org)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from exports.models import ExportCursor, ExportRecord, ExportRun, SalesforceKey
from salesforce.collections import is_salesforce_id


def record_link(record_id: int | None) -> str:
    if record_id is None:
        return "—"
    url = reverse("admin:exports_exportrecord_change", args=[record_id])
    return format_html('<a href="{}">#{}</a>', url, record_id)


def story_url(account_slug: str, sobject: str, external_id_field: str, external_id: str) -> str:
    """The page of one key's story (exports.views_story). The external id is quoted whole, "/"
    included; "." and ".." go in the query string (a browser resolves them as path steps)."""
    base = reverse("export-story-key", args=[account_slug, sobject, external_id_field])
    if external_id in (".", ".."):
        return f"{base}?{urlencode({'external_id': external_id})}"
    return f"{base}{quote(external_id, safe='')}/"


def story_link(account_slug: str, sobject: str, external_id_field: str, external_id: str) -> str:
    url = story_url(account_slug, sobject, external_id_field, external_id)
    return format_html('<a href="{}" class="story-link">story</a>', url)


def payload_table(fields: dict[str, Any], highlight: list[str] | tuple[str, ...] = ()) -> str:
    """A record's Salesforce fields as a two-column table.

    Fields Salesforce named in its error are marked; a named field the record does not
    carry (a required field left out) gets a marked row saying so.
    """
    rows = [(name, json.dumps(value, ensure_ascii=False)) for name, value in fields.items()]
    rows += [(name, "(not in the record)") for name in highlight if name not in fields]
    if not rows:
        return "—"
    body = format_html_join(
        "",
        '<tr{}><th scope="row"><code>{}</code></th><td><code>{}</code></td></tr>',
        (
            (format_html(' class="{}"', "named-field") if name in highlight else "", name, value)
            for name, value in rows
        ),
    )
    return format_html('<table class="record-payload">{}</table>', body)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the export pipeline: seen here, never added, edited or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExportRecord)
class ExportRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "operation",
        "sobject",
        "external_id_field",
        "external_id",
        "created_at",
        "story",
    )
    list_filter = ("account", "operation", "sobject")
    search_fields = ("=id", "external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    fields = (
        "account",
        "operation",
        "sobject",
        "external_id_field",
        "external_id",
        "payload",
        "created_at",
        "story",
    )

    @admin.display(description="fields")
    def payload(self, record: ExportRecord) -> str:
        return payload_table(record.fields)

    @admin.display(description="story")
    def story(self, record: ExportRecord) -> str:
        """Every version of the record's key and what became of each (exports.views_story)."""
        return story_link(
            record.account.slug, record.sobject, record.external_id_field, record.external_id
        )


@admin.register(ExportRun)
class ExportRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "trigger",
        "started_at",
        "finished_at",
        "outcome",
        "attempted",
        "exported",
        "failed",
        "api_calls",
        "first_record_id",
        "last_record_id",
    )
    list_filter = ("outcome", "trigger", "account")
    list_select_related = ("account",)
    show_full_result_count = False


def org_link(instance_url: str, sobject: str, salesforce_id: str) -> str:
    """A link to the record in the org's Lightning UI, or the bare Id when the org's
    instance is not known yet (no run has logged in since it was recorded)."""
    if not salesforce_id:
        return "—"
    if not instance_url or not is_salesforce_id(salesforce_id):
        return salesforce_id
    url = f"{instance_url.rstrip('/')}/lightning/r/{sobject}/{salesforce_id}/view"
    return format_html('<a href="{}" rel="noopener" target="_blank">{}</a>', url, salesforce_id)


@admin.register(SalesforceKey)
class SalesforceKeyAdmin(ReadOnlyAdmin):
    list_display = (
        "external_id",
        "sobject",
        "external_id_field",
        "in_org",
        "operation",
        "last_record_id",
        "last_written",
        "deleted",
        "account",
        "story",
    )
    list_filter = ("account", "sobject", "operation")
    search_fields = ("=external_id", "=key", "=salesforce_id")
    search_help_text = "An external id or a Salesforce Id, exactly."
    list_select_related = ("account",)
    show_full_result_count = False
    fields = (
        "account",
        "sobject",
        "external_id_field",
        "external_id",
        "in_org",
        "operation",
        "created",
        "last_record_id",
        "last_written",
        "deleted",
        "story",
    )
    readonly_fields = fields

    @admin.display(description="Salesforce Id", ordering="salesforce_id")
    def in_org(self, key: SalesforceKey) -> str:
        instance = (
            ExportCursor.objects.filter(account_id=key.account_id)
            .values_list("instance_url", flat=True)
            .first()
        )
        return org_link(instance or "", key.sobject, key.salesforce_id)

    @admin.display(description="last written", ordering="last_written_at")
    def last_written(self, key: SalesforceKey) -> str:
        return key.last_written_at.isoformat(sep=" ", timespec="seconds")

    @admin.display(description="deleted", ordering="deleted_at")
    def deleted(self, key: SalesforceKey) -> str:
        return key.deleted_at.isoformat(sep=" ", timespec="seconds") if key.deleted_at else "—"

    @admin.display(description="story")
    def story(self, key: SalesforceKey) -> str:
        return story_link(key.account.slug, key.sobject, key.external_id_field, key.external_id)
