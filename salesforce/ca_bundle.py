"""Is an account's "CA bundle" usable? One answer, one fixed text for every way it is not.
And the TLS context that verifies with it, loaded once per process (`tls_context`).

The path is typed by an admin and read by the server: a message that told "no such
file" from "permission denied" or "not PEM" would let the settings page probe the
server's files. So every failure reads the same (`UNUSABLE`).
"""

from __future__ import annotations

import functools
import os
import ssl

UNUSABLE = (
    "cannot be used: it must be the path of a readable PEM file of CA certificates on "
    "this machine. Fix it in the account's CRM settings, or clear it to use the system CAs."
)


def usable_ca_bundle(path: str) -> bool:
    """Does `path` load as a file of CA certificates (what TLS verification will read)?"""
    try:
        tls_context(path)
    except (OSError, ssl.SSLError, ValueError, TypeError):
        return False
    return True


def tls_context(path: str) -> ssl.SSLContext:
    """The TLS context verifying with the CA file `path` (certificates and host names;
    Python's defaults: TLS 1.2 or later), built once per process and file version: loading
    the system's ~140 CAs costs 15-45 ms of CPU, which every new HTTPS connection would
    otherwise pay. Raises what loading raises (OSError, ssl.SSLError, ...)."""
    stat = os.stat(path)
    return _tls_context(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _tls_context(path: str, mtime_ns: int, size: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=path)
