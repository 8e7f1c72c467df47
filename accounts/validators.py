"""Validators of the CRM settings: alert recipients, the webhook URL, finite numbers.

The webhook rule has two halves. Here, when the settings are saved: no host written as a
number (2130706433, 0177.0.0.1, 0x7f.1, 0: the C resolver reads them as IPv4 addresses),
HTTPS, or plain HTTP to a loopback host (local testing), and no IP literal in a private,
loopback or link-local range unless CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS allows it. At
delivery (`exports.alerts.delivery`), the same rule again on every address the host name resolves
to. An IPv6 address that carries an IPv4 one a translator or tunnel reaches (NAT64, 6to4,
Teredo, IPv4-compatible or -mapped) is judged by both (`embedded_ipv4`).
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Dot-separated decimal, octal (leading 0) or hexadecimal (0x) numbers: what inet_aton reads.
NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?", re.IGNORECASE)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


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
    """Is `address` (an IP) one the server must not call on an admin's say-so? An IPv6
    address also when an IPv4 address it embeds is (an IPv4-mapped one: that one only)."""
    ip = ipaddress.ip_address(address)
    embedded = embedded_ipv4(address)
    judged: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
    judged = [*embedded] if ip.version == 6 and ip.ipv4_mapped else [ip, *embedded]
    return any(not each.is_global or each.is_multicast for each in judged)


def embedded_ipv4(address: str) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 `address` carries, by the translations and tunnels that
    reach IPv4 hosts. In the last 32 bits: IPv4-mapped ::ffff:a.b.c.d, IPv4-translated
    ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96 (and the local-use
    64:ff9b:1::/48). Elsewhere: 6to4 2002:AABB:CCDD::/48 (bits 16-47), Teredo 2001::/32
    (its server, bits 32-63, and its client, the last 32 bits inverted). [] for an IPv4
    address or any other IPv6 one."""
    ip = ipaddress.ip_address(address)
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    high, last = int(ip) >> 32, ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    found: list[ipaddress.IPv4Address] = []
    if high in (0xFFFF, 0xFFFF0000) or (high == 0 and int(ip) > 1):  # not :: or ::1
        found.append(last)
    if ip in NAT64 or ip in LOCAL_NAT64:
        found.append(last)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    return list(dict.fromkeys(found))


def numeric_host_problem(host: str) -> str | None:
    """Why `host` may not be a webhook's: it is a number that is not a dotted IPv4 address."""
    if not NUMERIC_HOST.fullmatch(host):
        return None
    try:
        ipaddress.IPv4Address(host)
        return None  # 10.0.0.7: an IP literal, judged as one
    except ValueError:
        pass
    try:
        read_as = f" (resolvers read it as {socket.inet_ntoa(socket.inet_aton(host))})"
    except OSError:
        read_as = ""
    return (
        f"The webhook host {host} is a number{read_as}, not a host name: write the host's "
        "name (or an IPv4 address as four decimal numbers, a.b.c.d)."
    )


def webhook_url_problem(url: str) -> str | None:
    """Why `url` may not be a webhook, without resolving its host; None if it may."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "The webhook URL has no host."
    numeric = numeric_host_problem(host)
    if numeric:
        return numeric
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
        embedded = ", ".join(str(ipv4) for ipv4 in embedded_ipv4(host))
        return (
            f"The webhook address {host}{f' (which embeds {embedded})' if embedded else ''} "
            "is in a private, loopback or link-local range; set "
            "CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS=true to allow such addresses."
        )
    return None


def validate_finite(value: float) -> None:
    """A number, not inf or nan (nan passes every min/max comparison)."""
    if not math.isfinite(value):
        raise ValidationError(f"Enter a number, not {value}.")


def validate_webhook_url(url: str) -> None:
    problem = webhook_url_problem(url)
    if problem:
        raise ValidationError(problem)
