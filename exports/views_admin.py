"""Admin pages for the export status of each account, and its "Run export now" button.

URLs (`status_urls`, mounted under /admin/exports/status/ by crmsync/urls.py; the admin
index lists the first as Exports › Export status, `index_entry`):
- ``""``: every account with its export state;
- ``"<slug>/"``: one account (`status.account_status`), its last runs and a chart;
- ``"<slug>/run/"``: POST, enqueues `exports.tasks.run_export(account_id, trigger="manual")`.
  "Resume" on a paused account is the same thing: a run starts at the paused record.

Seeing needs the view (or change) permission on export cursors; running needs the
change permission on export cursors. Every page is wrapped by `admin_site.admin_view`
(staff login, CSRF, no caching).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import PASSWORD_FLOW_WARNING, Account
from crmsync.celery import app as celery_app
from exports.models import ExportCursor, ExportError, ExportRun
from exports.reporting.chart import runs_chart
from exports.reporting.status import AccountStatus, account_status

RUN_EXPORT_TASK = "exports.tasks.run_export"

User = PermissionsMixin | AnonymousUser  # request.user: settings.AUTH_USER_MODEL or anonymous


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class _LastRun(TypedDict):
        last_run_outcome: str | None  # the outcome of its last run that ended (the index)

    IndexAccount = WithAnnotations[Account, _LastRun]


def index_entry(request: HttpRequest) -> dict[str, Any] | None:
    """Exports › Export status as an entry of the admin's app list (index, app page, side
    bar: crmsync.admin_site), for staff who may see it; it is no model's changelist."""
    if not can_view_status(request.user):
        return None
    return {
        "model": None,
        "name": "Export status",
        "object_name": "ExportStatus",
        "perms": {"add": False, "change": False, "delete": False, "view": True},
        "admin_url": reverse("export-status-index"),
        "add_url": None,
        "view_only": True,
    }


def can_view_status(user: User) -> bool:
    return user.has_perm("exports.view_exportcursor") or can_run_export(user)


def can_run_export(user: User) -> bool:
    return user.has_perm("exports.change_exportcursor")


@require_GET
def export_status_index(request: HttpRequest) -> HttpResponse:
    """Every account: export on/off, pause on/off, state (failing while its last run
    failed), where it stands (one query)."""
    if not can_view_status(request.user):
        raise PermissionDenied
    last_outcome = (
        ExportRun.objects.filter(account=OuterRef("pk"))
        .exclude(outcome__in=["", ExportRun.Outcome.SKIPPED_LOCKED])
        .order_by("-id")
        .values("outcome")[:1]
    )
    accounts = (
        Account.objects.select_related("crm_settings", "export_cursor")
        .annotate(last_run_outcome=Subquery(last_outcome))
        .order_by("slug")
    )
    rows = [_index_row(cast("IndexAccount", account)) for account in accounts]
    context = {
        **admin.site.each_context(request),
        "title": "Export status",
        "rows": rows,
        "on_password_flow": [row[0] for row in rows if row[0].crm_settings.uses_password_flow],
        "password_flow_warning": PASSWORD_FLOW_WARNING,
    }
    return TemplateResponse(request, "exports/admin/export_status_index.html", context)


@require_GET
def export_status(request: HttpRequest, slug: str) -> HttpResponse:
    """One account: state (paused where, since when, why), backlog, open errors, last runs."""
    account = _account(request, slug, can_view_status)
    status = account_status(account)
    context = {
        **admin.site.each_context(request),
        "title": f"Export status: {account}",
        "account": account,
        "crm_settings": account.crm_settings,
        "status": status,
        "runs_chart": runs_chart(status.recent_runs),
        "errors_by_code": _errors_by_code(account, status),
        "open_errors_url": _errors_url(account),
        "paused_error_url": _paused_error_url(status),
        "can_run": can_run_export(request.user),
        "password_flow_warning": (
            PASSWORD_FLOW_WARNING if account.crm_settings.uses_password_flow else ""
        ),
        "batches_per_call": settings.CRMSYNC_BATCHES_PER_CALL,
    }
    return TemplateResponse(request, "exports/admin/export_status.html", context)


@require_POST
def run_export_now(request: HttpRequest, slug: str) -> HttpResponse:
    """Enqueue one run of the account now (also "Resume" for a paused account)."""
    account = _account(request, slug, can_run_export)
    back = HttpResponseRedirect(reverse("export-status", args=[account.slug]))
    if not account.crm_settings.exporting:
        messages.warning(
            request,
            f"No run started: Export to CRM is off for {account} (or the account is inactive). "
            "Turn it on in Settings › CRM › General first.",
        )
        return back
    celery_app.send_task(RUN_EXPORT_TASK, args=[account.id], kwargs={"trigger": "manual"})
    messages.success(
        request,
        f"Export of {account} queued. The run appears below once a worker has picked it up.",
    )
    return back


def _index_row(account: IndexAccount) -> tuple[Account, ExportCursor | None, str]:
    """(account, its cursor, the state to show): "failing" while its last run failed."""
    cursor = getattr(account, "export_cursor", None)
    state = cursor.state if cursor else ExportCursor.State.IDLE
    if account.last_run_outcome == ExportRun.Outcome.FAILED and state == ExportCursor.State.IDLE:
        state = "failing"
    return account, cursor, str(state)


def _account(request: HttpRequest, slug: str, allowed: Callable[[User], bool]) -> Account:
    """The account `slug` with its CRM settings: 403 unless the user is `allowed`, then
    404 if there is no such account."""
    if not allowed(request.user):
        raise PermissionDenied
    return get_object_or_404(Account.objects.select_related("crm_settings"), slug=slug)


def _errors_url(account: Account, **filters: str) -> str:
    query = {"account__id__exact": account.id, "status__exact": ExportError.Status.OPEN, **filters}
    return f"{reverse('admin:exports_exporterror_changelist')}?{urlencode(query)}"


def _errors_by_code(account: Account, status: AccountStatus) -> list[tuple[str, int, str]]:
    return [
        (code, count, _errors_url(account, error_code=code))
        for code, count in status.open_errors_by_code.items()
    ]


def _paused_error_url(status: AccountStatus) -> str | None:
    if status.paused_error_id is None:
        return None
    return reverse("admin:exports_exporterror_change", args=[status.paused_error_id])


def _wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return admin.site.admin_view(view)


status_urls = [
    path("", _wrap(export_status_index), name="export-status-index"),
    path("<slug:slug>/", _wrap(export_status), name="export-status"),
    path("<slug:slug>/run/", _wrap(run_export_now), name="export-run-now"),
]
