"""Validators of the Notifications settings: alert recipients and the webhook URL.

The webhook rule has two halves. Here, when the settings are saved: HTTPS, or plain
HTTP to a loopback host (local testing), and no IP literal in a private, loopback or
link-local range unless CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS allows it. At delivery
(`exports.notify`), the same rule again on every address the host name resolves to.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def email_list(text: str) -> list[str]:
    """Addresses separated by commas, semicolons or white space, in order, each once."""
    seen: list[str] = []
    for address in re.split(r"[\s,;]+", text or ""):
        if address and address not in seen:
            seen.append(address)
    return seen


def validate_email_list(text: str) -> None:
    bad = []
    for address in email_list(text):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(f"Not an email address: {', '.join(bad)}.")


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def internal_address(address: str) -> bool:
    """Is `address` (an IP) one the server must not call on an admin's say-so?"""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def webhook_url_problem(url: str) -> str | None:
    """Why `url` may not be a webhook, without resolving its host; None if it may."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "The webhook URL has no host."
    if parts.username or parts.password:
        return "The webhook URL must not carry a user name or password; use the signing secret."
    if parts.scheme == "http" and not is_loopback_host(host):
        return (
            "The webhook URL must start with https:// (plain http only for 127.0.0.1 or localhost)."
        )
    if parts.scheme not in ("http", "https"):
        return "The webhook URL must start with https://."
    if settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS:
        return None
    if host.lower() in LOOPBACK_NAMES:
        return (
            f"The webhook host {host} is this server; set CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS=true "
            "to allow loopback and private addresses."
        )
    try:
        literal = internal_address(host)
    except ValueError:
        return None  # a name: its addresses are checked at delivery
    if literal:
        return (
            f"The webhook address {host} is in a private, loopback or link-local range; set "
            "CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS=true to allow such addresses."
        )
    return None


def validate_webhook_url(url: str) -> None:
    problem = webhook_url_problem(url)
    if problem:
        raise ValidationError(problem)
