"""Delivering a Notification: email through Django's email backend, or a signed webhook.

`deliver(notification_id, last_try)` is what the `send_notification` task runs:

1. Claim the attempt: one UPDATE from the attempts count read (a redelivered task, or a
   second one for the same row, finds the row sent or claimed and does nothing).
2. Send by channel. Email: one message to the recipients. Webhook: the body
   `{"id": <delivery id>, **payload}` as JSON, POSTed with
   `X-Crmsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` to the
   address the host resolved to and was checked at (never a private, loopback or
   link-local one, nor one embedding such an IPv4 address, unless
   CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS), no redirects, all within
   CRMSYNC_WEBHOOK_DEADLINE_S (10 s) however slowly the receiver answers, reading only the
   answer's status and headers (exports/alerts/webhook_http.py).
3. Sent → `sent`. A permanent failure (a 4xx, a refused address, a redirect, no signing
   secret) → `failed`. A transient one (connection, no complete answer in time,
   408/429/5xx, the mail server) → `retrying`, and DeliveryRetry for the task to retry
   with backoff; on the last try → `failed`.

A webhook is named by its scheme, host and port only (`origin`), in the row and in the
log: its path and query carry its token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from accounts.models import CRMSettings
from accounts.validators import embedded_ipv4, internal_address, webhook_url_problem
from exports.alerts import publish, webhook_http
from exports.alerts import text as alert_text
from exports.models import Notification
from salesforce.crypto import UnreadableSecret

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Crmsync-Signature"
Status = Notification.Status


class DeliveryError(Exception):
    """A delivery failed; `permanent`: trying again cannot help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class DeliveryRetry(Exception):
    """A transient delivery failure: the task retries it with backoff."""


def deliver(notification_id: str, last_try: bool = False) -> str:
    """Steps 1-3 of the module docstring; the notification's status afterwards."""
    try:
        uuid.UUID(str(notification_id))
    except ValueError:
        raise ValueError(
            f"notification_id must be a delivery id (UUID), got {notification_id!r}"
        ) from None
    notification = Notification.objects.select_related("account").filter(id=notification_id).first()
    if notification is None or notification.status in (Status.SENT, Status.FAILED):
        return notification.status if notification else "missing"
    claimed = Notification.objects.filter(
        id=notification.id,
        attempts=notification.attempts,
        status__in=[Status.PENDING, Status.RETRYING],
    ).update(attempts=notification.attempts + 1)
    if not claimed:
        return "claimed elsewhere"
    try:
        _send(notification)
    except DeliveryError as exc:
        return _failed(notification, exc, last_try)
    except Exception as exc:  # noqa: BLE001 - a bug: on the row, and logged with its traceback
        log.exception("alert.delivery.bug id=%s", notification.id)
        return _failed(notification, DeliveryError(f"{type(exc).__name__}: {exc}", True), last_try)
    Notification.objects.filter(id=notification.id).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return Status.SENT


def _failed(notification: Notification, error: DeliveryError, last_try: bool) -> str:
    """Record a failed attempt; DeliveryRetry when it is worth another."""
    status = Status.FAILED if error.permanent or last_try else Status.RETRYING
    Notification.objects.filter(id=notification.id).update(status=status, last_error=str(error))
    log.warning(
        "alert.delivery account=%s event=%s channel=%s id=%s status=%s error=%s",
        notification.account.slug,
        notification.event,
        notification.channel,
        notification.id,
        status,
        error,
    )
    if status == Status.RETRYING:
        raise DeliveryRetry(str(error)) from error
    return status


def send_stuck(older_than_s: float = 600) -> int:
    """Send again the notifications still pending (never tried) after `older_than_s`: their
    task was lost (the broker was down when the alert was written)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stuck = list(
        Notification.objects.filter(
            status=Status.PENDING, attempts=0, created_at__lt=cutoff
        ).values_list("id", flat=True)[:1000]
    )
    publish.send_notifications(stuck)
    return len(stuck)


def backoff_s(retries: int) -> float:
    """Seconds before retry number `retries` + 1: exponential, capped."""
    base = settings.CRMSYNC_ALERT_RETRY_BACKOFF_S
    return min(base * 2**retries, settings.CRMSYNC_ALERT_RETRY_BACKOFF_MAX_S)


def _send(notification: Notification) -> None:
    if notification.channel == Notification.Channel.EMAIL:
        _send_email(notification)
        return
    crm = CRMSettings.objects.only("alert_webhook_url", "alert_webhook_secret").get(
        account_id=notification.account_id
    )
    if not crm.alert_webhook_url:
        raise DeliveryError("The account's webhook was removed before this was sent.", True)
    if isinstance(crm.alert_webhook_secret, UnreadableSecret):  # never sign with ""
        raise DeliveryError(
            "The webhook signing secret cannot be read: no key of CRMSYNC_ENCRYPTION_KEY "
            "decrypts it (the key changed or is missing); set it again in the admin.",
            True,
        )
    if not crm.alert_webhook_secret:
        raise DeliveryError(
            f"The webhook {origin(crm.alert_webhook_url)} has no signing secret (changing the "
            "webhook URL removes it): set it in the admin (Settings › CRM › Notifications) or "
            "with crm_account --alert-webhook-secret-env.",
            True,
        )
    body = {"id": str(notification.id), **notification.payload}
    post_webhook(crm.alert_webhook_url, crm.alert_webhook_secret, json_body(body))


def _send_email(notification: Notification) -> None:
    recipients = [a.strip() for a in notification.target.split(",") if a.strip()]
    message = EmailMessage(
        alert_text.subject(notification.payload),
        alert_text.body(notification.payload),
        settings.DEFAULT_FROM_EMAIL,
        recipients,
        headers={"X-Crmsync-Event": notification.event, "X-Crmsync-Delivery": str(notification.id)},
    )
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"The mail server refused the recipients: {exc}", True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"The mail server failed: {type(exc).__name__}: {exc}", False) from exc


# -- webhooks ------------------------------------------------------------------------------


def json_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Crmsync-Signature value: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def origin(url: str) -> str:
    """scheme://host[:port] of `url`: what a Notification row shows of the webhook."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))


def post_webhook(url: str, secret: str, body: bytes) -> None:
    """POST `body` signed with `secret` to `url` (steps 2-3 of the module docstring)."""
    problem = webhook_url_problem(url)
    if problem:
        raise DeliveryError(problem, True)
    parts = urlsplit(url)
    host, target = parts.hostname or "", origin(url)
    with webhook_http.Deadline(settings.CRMSYNC_WEBHOOK_DEADLINE_S) as deadline:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = _checked_address(host, port, deadline)
        pinned = urlunsplit(
            (parts.scheme, _netloc(address, parts.port), parts.path or "/", parts.query, "")
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "crmsync-alerts",
            "Host": parts.netloc.rpartition("@")[2],
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
        }
        try:
            status = webhook_http.post(pinned, host, headers, body, deadline)
        except requests.RequestException as exc:
            if deadline.passed:
                message = f"{target} gave no complete answer within {deadline.seconds:g} s"
            else:
                message = f"{target} could not be reached: {_reason(exc)}"
            raise DeliveryError(_without_target(message, parts), False) from None
    _check_status(target, status)


def _check_status(target: str, status: int) -> None:
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise DeliveryError(
            f"{target} answered HTTP {status} (a redirect, not followed): point the webhook at "
            "the final URL.",
            True,
        )
    transient = status in (408, 425, 429) or status >= 500
    raise DeliveryError(f"{target} answered HTTP {status}.", not transient)


def _checked_address(host: str, port: int, deadline: webhook_http.Deadline) -> str:
    """The address to connect to: the first the host resolves to, after checking them all."""
    addresses = _resolved(host, port, deadline)
    internal = [a for a in addresses if internal_address(a)]
    if internal and not settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS:
        raise DeliveryError(
            f"The webhook host {host} resolves to {', '.join(_described(internal))}, a "
            "private, loopback or link-local address; refused "
            "(CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS allows it).",
            True,
        )
    return addresses[0]


def _resolved(host: str, port: int, deadline: webhook_http.Deadline) -> list[str]:
    """The host's addresses, in the resolver's order. The lookup runs in a thread of its own
    so that a resolver that does not answer cannot hold the delivery past its deadline
    (the thread ends when the resolver gives up)."""
    found: list[Any] = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    thread = threading.Thread(target=lookup, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(deadline.left())
    if not found:
        raise DeliveryError(
            f"The webhook host {host} was not resolved within {deadline.seconds:g} s.", False
        )
    if isinstance(found[0], OSError):
        raise DeliveryError(f"The webhook host {host} cannot be resolved: {found[0]}", False)
    return list(dict.fromkeys(info[4][0] for info in found[0]))


def _described(addresses: list[str]) -> list[str]:
    """Each address, with the IPv4 address it embeds (NAT64, 6to4, …) when it has one."""
    described = []
    for address in addresses:
        embedded = ", ".join(str(ipv4) for ipv4 in embedded_ipv4(address))
        described.append(f"{address} (embeds {embedded})" if embedded else address)
    return described


def _netloc(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}" if port else host


def _reason(exc: BaseException) -> str:
    """What went wrong, from its innermost cause ("ConnectionRefusedError: [Errno 111]
    Connection refused"): requests' and urllib3's own messages quote the request's path."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    cause, seen = exc, {id(exc)}
    while True:
        reason = getattr(cause, "reason", None)
        inner = reason if isinstance(reason, BaseException) else None
        inner = inner or cause.__cause__ or cause.__context__
        if inner is None or id(inner) in seen:
            return f"{type(cause).__name__}: {cause}"
        cause = inner
        seen.add(id(cause))


def _without_target(message: str, parts: SplitResult) -> str:
    """`message` without the URL's path and query (its token), should any cause quote them."""
    for secret in (parts.query, parts.path if len(parts.path) > 1 else ""):
        if secret:
            message = message.replace(secret, "…")
    return message
