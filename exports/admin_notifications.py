"""Exports › Notifications: every alert sent or failed ("did anyone get told?"), read-only.

The list fits 1280 px beside its filters, like Export errors: no navigation side bar (the
breadcrumbs lead back), dates in ISO 8601 as on the other pages ("2026-12-06 21:43", in
the server's time zone), the recipients and the last error cut short with the full text
in the cell's title (the browser's tooltip), and on the notification's own page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime

from exports.admin_records import ReadOnlyAdmin
from exports.models import Notification

TARGET_CHARS = 48  # "ops@acme-industries.example.com, oncall@acme-…"
ERROR_CHARS = 72


def iso_minute(moment: datetime | None) -> str:
    """ "2026-12-06 21:43" (the list: the time may go under the day), "—" when there is none."""
    if moment is None:
        return "—"
    day, time = date_format(localtime(moment), "Y-m-d H:i").split()
    return format_html('<span class="day">{}</span> <span class="time">{}</span>', day, time)


def iso_second(moment: datetime | None) -> str:
    """ "2026-12-06 21:43:05 UTC" (a notification's own page), "—" when there is none."""
    return date_format(localtime(moment), "Y-m-d H:i:s e") if moment else "—"


def shortened(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with "…", in a span whose title is all of it."""
    if len(text) <= limit:
        return format_html("<span>{}</span>", text) if text else "—"
    return format_html('<span title="{}">{}…</span>', text, text[: limit - 1].rstrip())


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    change_list_template = "exports/admin/notification_change_list.html"
    list_display = (
        "created",
        "account",
        "event",
        "channel",
        "short_target",
        "status",
        "attempts",
        "sent",
        "short_error",
    )
    list_display_links = ("created",)
    list_filter = ("status", "event", "channel", "account")
    search_fields = ("=id", "target", "last_error")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "account",
        "event",
        "channel",
        "target",
        "status",
        "attempts",
        "last_error",
        "created_at_iso",
        "sent_at_iso",
        "payload",
    )
    readonly_fields = ("created_at_iso", "sent_at_iso")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"is_nav_sidebar_enabled": False}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    @admin.display(description="created", ordering="created_at")
    def created(self, notification: Notification) -> str:
        return iso_minute(notification.created_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, notification: Notification) -> str:
        return iso_minute(notification.sent_at)

    @admin.display(description="sent to", ordering="target")
    def short_target(self, notification: Notification) -> str:
        return shortened(notification.target, TARGET_CHARS)

    @admin.display(description="last error")
    def short_error(self, notification: Notification) -> str:
        return shortened(notification.last_error, ERROR_CHARS)

    @admin.display(description="created")
    def created_at_iso(self, notification: Notification) -> str:
        return iso_second(notification.created_at)

    @admin.display(description="sent")
    def sent_at_iso(self, notification: Notification) -> str:
        return iso_second(notification.sent_at)
