"""Is an account's "CA bundle" usable? One answer, one fixed text for every way it is not.

The path is typed by an admin and read by the server: a message that told "no such
file" from "permission denied" or "not PEM" would let the settings page probe the
server's files. So every failure reads the same (`UNUSABLE`).
"""

from __future__ import annotations

import ssl

UNUSABLE = (
    "cannot be used: it must be the path of a readable PEM file of CA certificates on "
    "this machine. Fix it in the account's CRM settings, or clear it to use the system CAs."
)


def usable_ca_bundle(path: str) -> bool:
    """Does `path` load as a file of CA certificates (what TLS verification will read)?"""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError, TypeError):
        return False
    return True
