"""Admin pages of one record's story (docs/admin.md › A record's story): every version of
a key still kept, what became of each, the key's Salesforce Id, and its error's buttons.

URLs (`story_urls`, mounted under /admin/exports/ by crmsync/urls.py):
- ``"story/"``: the search: an account and an external id or a Salesforce Id; one key found
  leads to its story, several are listed;
- ``"story/<slug>/<object>/<external id field>/<external id>/"``: the story of one key (the
  external id quoted whole, `exports.admin_records.story_url`);
- ``"story/record/<id>/"``: the story of an outbox record's key (a redirect).

Seeing needs the view (or change) permission on export records. The error's Re-export and
Dismiss buttons need the change permission on export errors (they post to the error's own
buttons, exports.admin); Skip, shown while the account is paused at the error's record, the
change permission on export cursors (its confirmation is exports.views_skip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, register_converter
from django.views.decorators.http import require_GET

from accounts.models import Account
from exports.admin_records import org_link, payload_table, story_url
from exports.keymap import SalesforceKey
from exports.models import ExportCursor, ExportError, ExportRecord, records_with_key
from exports.reporting.record_story import Story, Version, story
from exports.views_admin import User, can_run_export
from salesforce.collections import is_salesforce_id

MAX_FOUND = 50  # keys listed by one search
ERROR_LEFT_OPEN = (ExportError.Status.OPEN, ExportError.Status.GIVEN_UP)


def can_view_records(user: User) -> bool:
    return user.has_perm("exports.view_exportrecord") or user.has_perm(
        "exports.change_exportrecord"
    )


def can_change_errors(user: User) -> bool:
    return user.has_perm("exports.change_exporterror")


class Found(NamedTuple):
    """A key the search found."""

    sobject: str
    external_id_field: str
    external_id: str
    salesforce_id: str
    url: str


@dataclass(frozen=True)
class VersionRow:
    """One version as the page shows it: its fields, its results, or why it has none."""

    version: Version
    fields: str  # the payload table (HTML)
    waiting: str  # "" once it has results


@require_GET
def story_search(request: HttpRequest) -> HttpResponse:
    """Find keys by external id or Salesforce Id in one account; one found: its story."""
    if not can_view_records(request.user):
        raise PermissionDenied
    accounts = list(Account.objects.order_by("slug"))
    slug = request.GET.get("account", "")
    if not slug and len(accounts) == 1:
        slug = accounts[0].slug
    text = request.GET.get("q", "").strip()
    account = next((a for a in accounts if a.slug == slug), None)
    found = find_keys(account, text) if account and text else []
    if len(found) == 1:
        return HttpResponseRedirect(found[0].url)
    context = {
        **admin.site.each_context(request),
        "title": "One record's story",
        "accounts": accounts,
        "account": account,
        "slug": slug,
        "q": text,
        "searched": bool(account and text),
        "found": found,
        "max_found": MAX_FOUND,
    }
    return TemplateResponse(request, "exports/admin/record_story_search.html", context)


def find_keys(account: Account, text: str) -> list[Found]:
    """The keys of the account whose Salesforce Id is `text` (18 characters, or the 15 of
    the case-sensitive form), or whose external id is `text` (in the key map, as the org
    compares it, or in the outbox, exactly)."""
    keys = SalesforceKey.objects.filter(account=account)
    spellings = {text, text.casefold()}
    rows = [
        (k.sobject, k.external_id_field, k.external_id, k.salesforce_id)
        for k in keys.filter(key__in=spellings)[:MAX_FOUND]
    ]
    if is_salesforce_id(text):
        short = len(text) == 15
        by_id = (
            keys.filter(salesforce_id__startswith=text)
            if short
            else keys.filter(salesforce_id=text)
        )
        rows += [
            (k.sobject, k.external_id_field, k.external_id, k.salesforce_id)
            for k in by_id[:MAX_FOUND]
            if k.salesforce_id.startswith(text)  # Ids are case-sensitive; LIKE may not be
        ]
    outbox = (
        records_with_key(account.pk, [text])
        .filter(external_id__in=spellings)
        .values_list("sobject", "external_id_field", "external_id")
        .distinct()
    )
    rows += [(*row, "") for row in outbox[:MAX_FOUND]]
    found: dict[tuple[str, str, str], Found] = {}
    for sobject, field, external_id, salesforce_id in rows:
        same = (sobject, field, external_id.casefold())
        if same not in found or salesforce_id:
            url = story_url(account.slug, sobject, field, external_id)
            found[same] = Found(sobject, field, external_id, salesforce_id, url)
    return sorted(found.values())[:MAX_FOUND]


@require_GET
def record_story(request: HttpRequest, record_id: int) -> HttpResponse:
    """The story of the key of outbox record `record_id`."""
    if not can_view_records(request.user):
        raise PermissionDenied
    record = get_object_or_404(ExportRecord.objects.select_related("account"), id=record_id)
    return HttpResponseRedirect(
        story_url(record.account.slug, record.sobject, record.external_id_field, record.external_id)
    )


@require_GET
def key_story(
    request: HttpRequest,
    slug: str,
    sobject: str,
    external_id_field: str,
    external_id: str | None = None,
) -> HttpResponse:
    """One key: its Salesforce Id, every version kept with its results, its error."""
    if not can_view_records(request.user):
        raise PermissionDenied
    account = get_object_or_404(Account, slug=slug)
    if external_id is None:
        external_id = request.GET.get("external_id", "")
    told = story(account.id, sobject, external_id_field, external_id)
    if not told.versions and told.key is None:
        raise Http404("No outbox record of this key is kept, and the key map does not know it.")
    cursor = ExportCursor.objects.filter(account=account).first()
    error = _error_left_open(told)
    context = {
        **admin.site.each_context(request),
        "title": f"Story of {sobject} {external_id_field}={_shown_id(told)}",
        "is_nav_sidebar_enabled": False,  # the breadcrumbs lead back; the table gets the room
        "account": account,
        "story": told,
        "external_id": _shown_id(told),
        "salesforce_id": _salesforce_id(told, cursor),
        "versions": [_row(version, cursor) for version in told.versions],
        "error": error,
        "here": request.get_full_path(),
        **_buttons(request.user, error, cursor),
    }
    return TemplateResponse(request, "exports/admin/record_story.html", context)


def _shown_id(told: Story) -> str:
    """The external id as last enqueued (or written), else as asked."""
    if told.versions:
        return ExportRecord.objects.values_list("external_id", flat=True).get(
            id=told.versions[-1].record_id
        )
    return told.key.external_id if told.key else told.external_id


def _salesforce_id(told: Story, cursor: ExportCursor | None) -> str:
    if told.key is None or not told.key.salesforce_id:
        return ""
    return org_link(cursor.instance_url if cursor else "", told.sobject, told.key.salesforce_id)


def _error_left_open(told: Story) -> ExportError | None:
    """The open error of the key, else its newest given-up one (still re-exportable)."""
    if told.open_error is not None:
        return told.open_error
    errors = [v.error for v in told.versions if v.error is not None]
    return next((e for e in reversed(errors) if e.status == ExportError.Status.GIVEN_UP), None)


def _row(version: Version, cursor: ExportCursor | None) -> VersionRow:
    named = version.error.fields if version.error is not None else ()
    fields = payload_table(version.fields, highlight=named or ())
    waiting = ""
    if not version.results:
        if cursor and cursor.paused_record_id == version.record_id:
            waiting = "paused here: every run retries it first"
        elif cursor is None or version.record_id > cursor.last_exported_id:
            waiting = "waiting to be sent"
        else:
            waiting = "no result kept"
    return VersionRow(version, fields, waiting)


def _buttons(user: User, error: ExportError | None, cursor: ExportCursor | None) -> dict[str, Any]:
    """Which of the error's buttons the user gets: none for view-only staff."""
    paused_here = bool(
        error is not None
        and error.status == ExportError.Status.OPEN
        and cursor is not None
        and cursor.state == ExportCursor.State.PAUSED
        and cursor.paused_record_id == error.record_id
    )
    may_change = error is not None and error.status in ERROR_LEFT_OPEN and can_change_errors(user)
    return {
        "paused_here": paused_here,
        "can_act": may_change,
        "can_skip": paused_here and can_run_export(user),
    }


class AnyText:
    """A path converter for an external id: any characters, "/" included (quoted)."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyText, "anytext")


def _wrap(view: Any) -> Any:
    return admin.site.admin_view(view)


story_urls = [
    path("story/", _wrap(story_search), name="export-story-search"),
    path("story/record/<int:record_id>/", _wrap(record_story), name="export-record-story"),
    path(
        "story/<slug:slug>/<str:sobject>/<str:external_id_field>/",
        _wrap(key_story),
        name="export-story-key",
    ),
    path(
        "story/<slug:slug>/<str:sobject>/<str:external_id_field>/<anytext:external_id>/",
        _wrap(key_story),
        name="export-story",
    ),
]
