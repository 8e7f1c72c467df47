"""Where logins may go: Salesforce's own domains, plus the hosts an operator lists.

One rule decides for the admin form, `crm_account` and the gateway (which checks the
login URL before anything is sent, and the `instance_url` a login answers before it is
used), so a CRM settings page cannot be turned into a way to reach other servers:

1. The URL is `https://HOST[:PORT]` and nothing else: no user or password part, no path
   (a trailing "/" is fine), no query, no fragment.
2. HOST is a subdomain of `salesforce.com` or `force.com` (which covers
   `login.salesforce.com`, `test.salesforce.com`, `X.my.salesforce.com`,
   `X.sandbox.my.salesforce.com`, `X.lightning.force.com`), matched on a dot boundary,
   on the default port only; or
3. HOST:PORT is listed in `CRMSYNC_EXTRA_LOGIN_HOSTS` (comma-separated `host[:port]`, a
   missing port meaning 443): the local sandbox org (`127.0.0.1:8443`), a proxy.
   IP addresses are allowed only this way.

A refusal is one fixed text per reason (`LoginHostRefused.reason`), never the result of
contacting the host: a host outside the list is never contacted at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

SALESFORCE_DOMAINS = ("salesforce.com", "force.com")
HTTPS_PORT = 443
ENV_NAME = "CRMSYNC_EXTRA_LOGIN_HOSTS"
# A DNS name or an IPv4 address: letters, digits, dots and hyphens only.
_HOST = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)

NOT_HTTPS = "must start with https:// (secrets are never sent in clear text)"
NOT_AN_ORIGIN = (
    "must be https://host or https://host:port only, with no user name, path, query or fragment"
)
NOT_SALESFORCE = (
    "is not a Salesforce host (*.salesforce.com, *.force.com) nor listed in "
    f"{ENV_NAME}; crmsync logs in to Salesforce only"
)


class HostPort(NamedTuple):
    host: str
    port: int


class LoginHostRefused(ValueError):
    """A login URL or instance URL outside the allowed hosts; `reason` is a fixed text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_extra_hosts(value: str) -> tuple[HostPort, ...]:
    """CRMSYNC_EXTRA_LOGIN_HOSTS as (host, port) pairs; a bad entry is a ValueError naming it."""
    hosts = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, _, port = entry.lower().rpartition(":") if ":" in entry else (entry.lower(), "", "")
        if not _HOST.fullmatch(host) or not (
            port == "" or (port.isdigit() and 0 < int(port) < 65536)
        ):
            raise ValueError(
                f"{ENV_NAME}: {entry!r} is not host[:port] (a DNS name or an IPv4 address, "
                "then an optional port; IPv6 addresses are not supported: use 127.0.0.1)"
            )
        hosts.append(HostPort(host, int(port) if port else HTTPS_PORT))
    return tuple(hosts)


def checked_origin(url: str, extra_hosts: Iterable[HostPort]) -> str:
    """`url` as `https://host[:port]` if logins may go there (module docstring), else
    LoginHostRefused. The returned origin is rebuilt from the checked parts."""
    address = _origin_parts(url)
    if address not in set(extra_hosts) and not _is_salesforce(address):
        raise LoginHostRefused(NOT_SALESFORCE)
    host, port = address
    return f"https://{host}" if port == HTTPS_PORT else f"https://{host}:{port}"


def _origin_parts(url: str) -> HostPort:
    """(host, port) of an `https://host[:port]` URL with nothing else in it."""
    text = str(url).strip()
    if not text.lower().startswith("https://"):
        raise LoginHostRefused(NOT_HTTPS)
    try:
        parts = urlsplit(text)
        port = parts.port or HTTPS_PORT
    except ValueError:
        raise LoginHostRefused(NOT_AN_ORIGIN) from None
    netloc = parts.netloc.lower()
    host = parts.hostname or ""
    if (
        "@" in netloc
        or "\\" in text
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or not _HOST.fullmatch(host)
        or netloc not in (host, f"{host}:{port}")
    ):
        raise LoginHostRefused(NOT_AN_ORIGIN)
    return HostPort(host, port)


def with_origin_of(url: str, extra_hosts: Iterable[HostPort]) -> tuple[HostPort, ...]:
    """`extra_hosts` plus the host and port of `url` (an https://host:port origin): how a
    command allows the sandbox org it started itself, or was pointed at on its command line."""
    return (*extra_hosts, _origin_parts(url))


def _is_salesforce(address: HostPort) -> bool:
    host, port = address
    return port == HTTPS_PORT and any(host.endswith("." + domain) for domain in SALESFORCE_DOMAINS)
