"""Admin: "Skip this record" on the record an account is paused at (docs/semantics.md ›
Steering one record).

URL (`skip_urls`, mounted under /admin/exports/ by crmsync/urls.py):
``"status/<slug>/skip/<record id>/"``: GET, a confirmation that says what happens (it changes
nothing); POST (CSRF), `exports.run.steering.skip_paused_record`, a line in the error's
admin history ("Skipped while paused"), then the account's status page with what was done,
or, when the account is not paused at that record (any more), why nothing was.

Both need the change permission on export cursors, as "Run export now" does.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from accounts.models import Account
from exports.admin_records import story_url
from exports.models import ExportCursor, ExportError, ExportRecord
from exports.run.steering import NotPausedThere, skip_paused_record
from exports.views_admin import can_run_export

# What a skip does, as the confirmation says it (docs/semantics.md › Steering one record).
WHAT_HAPPENS = (
    "The record is handled as pause off would have handled it — it stays an open export "
    "error that the daily re-export retries — and the export goes on after it at the next "
    "run. Pause stays on for every later record."
)
HISTORY_MESSAGE = "Skipped while paused"


@require_http_methods(["GET", "POST"])
def skip_record(request: HttpRequest, slug: str, record_id: int) -> HttpResponse:
    """GET: the confirmation; POST: skip the paused record `record_id` of account `slug`."""
    if not can_run_export(request.user):
        raise PermissionDenied
    account = get_object_or_404(Account, slug=slug)
    record = get_object_or_404(ExportRecord, id=record_id, account=account)
    if request.method == "POST":
        return _skip(request, account, record)
    cursor = ExportCursor.objects.filter(account=account).first()
    paused_here = bool(
        cursor
        and cursor.state == ExportCursor.State.PAUSED
        and cursor.paused_record_id == record.id
    )
    context = {
        **admin.site.each_context(request),
        "title": f"Skip record #{record.id} of {account}?",
        "account": account,
        "record": record,
        "error": record.errors.order_by("-id").first(),
        "paused_here": paused_here,
        "paused_record_id": cursor.paused_record_id if cursor else None,
        "what_happens": WHAT_HAPPENS,
        "story_url": story_url(
            account.slug, record.sobject, record.external_id_field, record.external_id
        ),
    }
    return TemplateResponse(request, "exports/admin/skip_record.html", context)


def _skip(request: HttpRequest, account: Account, record: ExportRecord) -> HttpResponse:
    back = HttpResponseRedirect(reverse("export-status", args=[account.slug]))
    try:
        error = skip_paused_record(account.id, record.id, by=request.user.get_username())
    except NotPausedThere as why:
        messages.error(request, f"Record #{record.id} was not skipped: {why}.")
        return back
    if error is not None:
        admin.site.get_model_admin(ExportError).log_change(request, error, HISTORY_MESSAGE)
    else:  # no open error (dismissed meanwhile): the history of the account's cursor says it
        cursor = ExportCursor.objects.get(account=account)
        admin.site.get_model_admin(ExportCursor).log_change(
            request, cursor, f"{HISTORY_MESSAGE}: record #{record.id}"
        )
    messages.success(
        request,
        f"Skipped record #{record.id} ({record.sobject} {record.external_id}): the next run "
        "goes on after it; its error stays open for the daily re-export. Pause stays on.",
    )
    return back


skip_urls = [
    path(
        "status/<slug:slug>/skip/<int:record_id>/",
        admin.site.admin_view(skip_record),
        name="export-skip",
    ),
]
