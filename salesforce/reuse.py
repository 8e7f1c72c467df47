"""A Gateway kept per worker thread from one call to the next: its HTTPS connection stays
open (no TLS handshake and no token lookup per call)."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from salesforce.client import Gateway
from salesforce.connection import Connection

# A Gateway kept from one call to the next, per worker thread: its HTTPS connection stays
# open (no TLS handshake and no token lookup per call). Dropped after this long unused,
# before a server's keep-alive timeout would close the connection under it, and beyond the
# REUSE_MAX_GATEWAYS used last: a small account's next run comes a tick later (5 minutes),
# long after its connection would be useful, so thousands of them must not pile up.
REUSE_IDLE_SECONDS = 30.0


REUSE_MAX_GATEWAYS = 16


_reused = threading.local()


def reusable_gateway(crm: Connection) -> Gateway:
    """This thread's Gateway for `crm`'s account, with its counters at zero.

    1. Look up the thread's gateway for the account; it is reused only if it was built
       from the same connection settings (URL, flow, client, user, secrets, CA, timeout,
       version, last save) and was used within REUSE_IDLE_SECONDS.
    2. Otherwise close it and build a new one (logging in again only if the cached token
       is gone).
    3. Keep it as the thread's most recently used; close the least recently used beyond
       REUSE_MAX_GATEWAYS and any idle for REUSE_IDLE_SECONDS.
    4. Reset its counters (API calls and usage, CPU limit, slowest call), so they count
       this caller's calls alone.
    """
    gateways: dict[int, tuple[tuple[Any, ...], float, Gateway]] = _reused.__dict__.setdefault(
        "gateways", {}
    )
    fingerprint = _connection_fingerprint(crm)
    now = time.monotonic()
    cached = gateways.pop(crm.account_id, None)
    if cached and cached[0] == fingerprint and now - cached[1] < REUSE_IDLE_SECONDS:
        gateway = cached[2]
    else:
        if cached:
            cached[2].close()
        gateway = Gateway(crm)
    gateways[crm.account_id] = (fingerprint, now, gateway)  # the most recently used: last
    while len(gateways) > REUSE_MAX_GATEWAYS:
        gateways.pop(next(iter(gateways)))[2].close()
    _close_idle(gateways, now, keep=crm.account_id)
    gateway.reset_counters()
    return gateway


def _close_idle(
    gateways: dict[int, tuple[tuple[Any, ...], float, Gateway]], now: float, keep: int
) -> None:
    """Close this thread's gateways unused for REUSE_IDLE_SECONDS (none would be reused: each
    holds an HTTPS connection), so open sockets and memory follow the accounts met lately,
    not every account a worker ever met. Swept at most once per REUSE_IDLE_SECONDS."""
    if now - _reused.__dict__.get("swept", 0.0) < REUSE_IDLE_SECONDS:
        return
    _reused.swept = now
    for account_id, (_, used, gateway) in list(gateways.items()):
        if account_id != keep and now - used >= REUSE_IDLE_SECONDS:
            gateway.close()
            del gateways[account_id]


def _connection_fingerprint(crm: Connection) -> tuple[Any, ...]:
    secrets = "\n".join(str(s or "") for s in (crm.client_secret, crm.password, crm.private_key))
    return (
        crm.login_url,
        crm.auth_flow,
        crm.client_id,
        crm.username,
        hashlib.sha256(secrets.encode()).hexdigest(),
        crm.ca_bundle,
        crm.timeout_seconds,
        crm.api_version,
        crm.updated_at,
    )
