"""`/metrics`: Prometheus text format, read from the database at each scrape.

Every web, worker and beat process then agrees, and the numbers survive restarts. A
scrape costs the same 7 queries whatever the number of accounts:

1. every account with its settings, cursor, alert state, backlog and the age of its
   oldest unexported record (correlated subqueries on the outbox's (account, id) index);
2. open ExportErrors by account and code;
3-5. run counters: the rolled-up RunTotals, their mark, and the runs after it
   (exports.reporting.run_totals);
6. API calls of the runs that finished in the last 24 hours, by account;
7. Notifications by status.

Access (`refusal`): closed until configured, since it names every tenant. A client sending
`Authorization: Bearer <CRMSYNC_METRICS_TOKEN>` (compared in constant time) from anywhere;
with CRMSYNC_METRICS_ALLOW_LOOPBACK on, also a client connecting from the loopback interface
itself: a request carrying a reverse proxy's header (`PROXY_HEADERS`, or the one
SECURE_PROXY_SSL_HEADER names) is not one. A proxy on the same host that adds no header at
all cannot be told apart: that is why the switch is off by default (docs/alerts.md › Metrics).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from accounts.models import Account
from exports.models import ExportError, ExportRecord, ExportRun, Notification
from exports.reporting import run_totals

# The classic text format, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A request relayed by a reverse proxy (nginx, HAProxy, Apache, a load balancer) carries one
# of these when the proxy is configured to add it; SECURE_PROXY_SSL_HEADER's name counts too.
PROXY_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_VIA",
)
NOT_CONFIGURED = (
    "403 Forbidden: /metrics is closed until it is configured (it lists every account). "
    "Set CRMSYNC_METRICS_TOKEN and scrape with 'Authorization: Bearer <token>', or set "
    "CRMSYNC_METRICS_ALLOW_LOOPBACK=1 to let clients on this host in without one (never with "
    "a reverse proxy on this host: what it relays comes from 127.0.0.1 too). docs/alerts.md › Metrics.\n"
)
NEEDS_TOKEN = "403 Forbidden: /metrics needs 'Authorization: Bearer <CRMSYNC_METRICS_TOKEN>'.\n"
NEEDS_TOKEN_OR_LOOPBACK = (
    "403 Forbidden: /metrics needs 'Authorization: Bearer <CRMSYNC_METRICS_TOKEN>'"
    " (CRMSYNC_METRICS_TOKEN is not set), or a client on this host connecting directly,"
    " not through a proxy (CRMSYNC_METRICS_ALLOW_LOOPBACK).\n"
)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return HttpResponse(refused, status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(DatabaseCollector()), content_type=CONTENT_TYPE)


def refusal(request: HttpRequest) -> str | None:
    """Why this request may not read the metrics (a text for the client), None if it may.

    1. The bearer token, when one is set, lets any client in.
    2. With CRMSYNC_METRICS_ALLOW_LOOPBACK, so does a direct loopback client.
    3. Otherwise refused, saying which setting opens it.
    """
    token: str = settings.CRMSYNC_METRICS_TOKEN
    allow_loopback: bool = settings.CRMSYNC_METRICS_ALLOW_LOOPBACK
    if token and _bearer_matches(request, token):
        return None
    if allow_loopback and _direct_loopback(request):
        return None
    if not token and not allow_loopback:
        return NOT_CONFIGURED
    return NEEDS_TOKEN if token and not allow_loopback else NEEDS_TOKEN_OR_LOOPBACK


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    # Constant time whatever was sent (compare_digest of bytes; lengths may differ).
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())


def _direct_loopback(request: HttpRequest) -> bool:
    """Did the request come from this host itself, not relayed by a proxy?"""
    ssl_header = settings.SECURE_PROXY_SSL_HEADER
    markers = (*PROXY_HEADERS, *([ssl_header[0]] if ssl_header else []))
    if any(header in request.META for header in markers):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class DatabaseCollector:
    """What `generate_latest` reads: `collect()` yields the metric families."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        accounts = _accounts()
        slug = {a["id"]: a["slug"] for a in accounts}
        yield from _account_gauges(accounts, now)
        yield from _open_errors(slug)
        yield from _run_counters(slug)
        yield _api_calls_24h(slug, now)
        yield _notifications()


def _gauge(name: str, text: str, labels: tuple[str, ...] = ("account",)) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=list(labels))


def _accounts() -> list[dict[str, Any]]:
    """Query 1: the accounts with their backlog and oldest unexported record."""
    after = OuterRef("last_exported")
    backlog = (
        ExportRecord.objects.filter(account_id=OuterRef("id"), id__gt=after)
        .order_by()
        .values("account_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    oldest = (
        ExportRecord.objects.filter(account_id=OuterRef("id"), id__gt=after)
        .order_by("id")
        .values("created_at")[:1]
    )
    return list(
        Account.objects.annotate(last_exported=Coalesce(F("export_cursor__last_exported_id"), 0))
        .annotate(backlog=Coalesce(Subquery(backlog), 0), oldest=Subquery(oldest))
        .values(
            "id",
            "slug",
            "backlog",
            "oldest",
            "crm_settings__export_enabled",
            "crm_settings__daily_api_limit",
            "export_cursor__paused_since",
            "export_cursor__paused_record_id",
            "alert_state__circuit_open_until",
        )
        .order_by("slug")
    )


def _account_gauges(accounts: list[dict[str, Any]], now: datetime) -> Iterator[Metric]:
    backlog = _gauge("crmsync_backlog_records", "Records enqueued and not yet exported.")
    lag = _gauge(
        "crmsync_export_lag_seconds", "Age of the oldest record not yet exported (0: none)."
    )
    paused = _gauge("crmsync_paused", "1 while the export is paused at a rejected record.")
    since = _gauge("crmsync_paused_since_timestamp_seconds", "When the export paused (Unix time).")
    enabled = _gauge("crmsync_export_enabled", "1 when Export to CRM is on.")
    limit = _gauge("crmsync_api_daily_limit", "The account's daily API limit setting.")
    circuit = _gauge(
        "crmsync_circuit_open", "1 while scheduled runs wait after repeated failed logins."
    )
    for a in accounts:
        label = [a["slug"]]
        backlog.add_metric(label, a["backlog"])
        age = (now - a["oldest"]).total_seconds() if a["oldest"] else 0.0
        lag.add_metric(label, max(age, 0.0))
        is_paused = a["export_cursor__paused_record_id"] is not None
        paused.add_metric(label, 1 if is_paused else 0)
        if is_paused and a["export_cursor__paused_since"]:
            since.add_metric(label, a["export_cursor__paused_since"].timestamp())
        enabled.add_metric(label, 1 if a["crm_settings__export_enabled"] else 0)
        limit.add_metric(label, a["crm_settings__daily_api_limit"] or 0)
        open_until = a["alert_state__circuit_open_until"]
        circuit.add_metric(label, 1 if open_until and open_until > now else 0)
    yield from (backlog, lag, paused, since, enabled, limit, circuit)


def _open_errors(slug: dict[int, str]) -> Iterator[Metric]:
    """Query 2: open errors, and those given up on (one query for both)."""
    opened = _gauge(
        "crmsync_open_export_errors", "Open ExportErrors by error code.", ("account", "code")
    )
    given_up = _gauge(
        "crmsync_given_up_export_errors",
        "ExportErrors the daily re-export gave up on, by error code.",
        ("account", "code"),
    )
    Status = ExportError.Status
    rows = (
        ExportError.objects.filter(status__in=[Status.OPEN, Status.GIVEN_UP])
        .values("account_id", "status", "error_code")
        .annotate(n=Count("id"))
        .order_by("account_id", "status", "error_code")
    )
    for row in rows:
        family = opened if row["status"] == Status.OPEN else given_up
        family.add_metric([slug.get(row["account_id"], "?"), row["error_code"]], row["n"])
    yield opened
    yield given_up


def _run_counters(slug: dict[int, str]) -> Iterator[Metric]:
    """Queries 3-5: counters of every run so far (derived from ExportRun)."""
    runs = CounterMetricFamily(
        "crmsync_export_runs", "Export runs by outcome.", labels=["account", "outcome"]
    )
    exported = CounterMetricFamily(
        "crmsync_records_exported", "Records written to Salesforce.", labels=["account"]
    )
    rejected = CounterMetricFamily(
        "crmsync_records_rejected", "Records Salesforce rejected.", labels=["account"]
    )
    calls = CounterMetricFamily("crmsync_api_calls", "Salesforce API calls.", labels=["account"])
    per_account: dict[int, list[int]] = {}
    for (account_id, outcome), values in sorted(run_totals.current().items()):
        if account_id not in slug:
            continue
        runs.add_metric([slug[account_id], outcome], values["runs"])
        sums = per_account.setdefault(account_id, [0, 0, 0])
        sums[0] += values["exported"]
        sums[1] += values["failed"]
        sums[2] += values["api_calls"]
    for account_id, (done, failed, api) in per_account.items():
        exported.add_metric([slug[account_id]], done)
        rejected.add_metric([slug[account_id]], failed)
        calls.add_metric([slug[account_id]], api)
    yield from (runs, exported, rejected, calls)


def _api_calls_24h(slug: dict[int, str], now: datetime) -> Metric:
    """Query 6: API usage of the last 24 hours, next to crmsync_api_daily_limit."""
    family = _gauge(
        "crmsync_api_calls_24h", "API calls of the runs that finished in the last 24 hours."
    )
    rows = (
        ExportRun.objects.filter(finished_at__gte=now - timedelta(days=1))
        .values("account_id")
        .annotate(n=Sum("api_calls"))
        .order_by("account_id")
    )
    for row in rows:
        if row["account_id"] in slug:
            family.add_metric([slug[row["account_id"]]], row["n"] or 0)
    return family


def _notifications() -> Metric:
    """Query 7: did anyone get told? Alerts kept (crm_prune) by channel and status."""
    family = _gauge(
        "crmsync_notifications", "Alert deliveries by channel and status.", ("channel", "status")
    )
    rows = Notification.objects.values("channel", "status").annotate(n=Count("id")).order_by()
    for row in rows:
        family.add_metric([row["channel"], row["status"]], row["n"])
    return family
