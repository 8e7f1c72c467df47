"""Delivering a Notification: email through Django's email backend, or a signed webhook.

`deliver(notification_id, last_try)` is what the `send_notification` task runs:

1. Claim the attempt: one UPDATE from the attempts count read (a redelivered task, or a
   second one for the same row, finds the row sent or claimed and does nothing).
2. Send by channel. Email: one message to the recipients. Webhook: the body
   `{"id": <delivery id>, **payload}` as JSON, POSTed with
   `X-Crmsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` to the
   address the host resolved to and was checked at (never a private, loopback or
   link-local one unless CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS), 10 s timeout, no redirects.
3. Sent → `sent`. A permanent failure (a 4xx, a refused address, a redirect) → `failed`.
   A transient one (connection, timeout, 408/429/5xx, the mail server) → `retrying`, and
   DeliveryRetry for the task to retry with backoff; on the last try → `failed`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import socket
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from requests.adapters import HTTPAdapter

from accounts.fields import UnreadableSecret
from accounts.models import CRMSettings
from accounts.validators import internal_address, webhook_url_problem

from . import alert_text
from .models import Notification

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 10
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
    from .tasks import send_notification

    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stuck = list(
        Notification.objects.filter(
            status=Status.PENDING, attempts=0, created_at__lt=cutoff
        ).values_list("id", flat=True)[:1000]
    )
    for notification_id in stuck:
        send_notification.delay(str(notification_id))
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
    host = parts.hostname or ""
    address = _checked_address(host, parts.port or (443 if parts.scheme == "https" else 80))
    pinned = urlunsplit(
        (parts.scheme, _netloc(address, parts.port), parts.path or "/", parts.query, "")
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "crmsync-alerts",
        "Host": parts.netloc.rpartition("@")[2],
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    with requests.Session() as session:
        session.trust_env = False  # no proxy or CA bundle from the environment
        session.mount(f"{parts.scheme}://", _PinnedHost(host))
        try:
            response = session.post(
                pinned, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise DeliveryError(
                f"{origin(url)} could not be reached: {_reason(exc)}", False
            ) from exc
    _check_answer(origin(url), response)


def _check_answer(target: str, response: requests.Response) -> None:
    status = response.status_code
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


def _checked_address(host: str, port: int) -> str:
    """The address to connect to: the first the host resolves to, after checking them all."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DeliveryError(f"The webhook host {host} cannot be resolved: {exc}", False) from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    internal = [a for a in addresses if internal_address(a)]
    if internal and not settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS:
        raise DeliveryError(
            f"The webhook host {host} resolves to {', '.join(internal)}, a private, loopback "
            "or link-local address; refused (CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS allows it).",
            True,
        )
    return addresses[0]


def _netloc(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}" if port else host


class _PinnedHost(HTTPAdapter):
    """Connects to the checked address while TLS still checks the certificate against
    (and sends SNI for) the webhook's host name: no second DNS lookup to rebind."""

    def __init__(self, host: str) -> None:
        self._host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs |= {"server_hostname": self._host, "assert_hostname": self._host}
        super().init_poolmanager(*args, **kwargs)


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {WEBHOOK_TIMEOUT_S} s"
    return f"{type(exc).__name__}: {exc}"
