"""Intake tokens: how an application that is not Django proves which account it writes to
(the HTTP intake, exports.intake; docs/integration.md › The HTTP intake).

1. A token is `crmsync_` + 43 characters of `secrets.token_urlsafe(32)` (256 random bits).
   Only its SHA-256 is stored (`IntakeToken.digest`): a copy of the database lets nobody in,
   and a token is shown once, when it is made (the admin's next page, the last line of
   `crm_account intake-token`), never again.
2. An account has at most one token: `make` replaces the one it had (that one stops working
   at once), `revoke` removes it.
3. `find` hashes what a client sent and looks the digest up (unique index); the digest read
   back is compared with `hmac.compare_digest`. Nothing about the token is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction

from accounts.models import Account, IntakeToken

PREFIX = "crmsync_"
MAX_TOKEN_LENGTH = 200  # what a client may send; longer is no token of ours


def digest(token: str) -> str:
    """The stored form of `token`: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def make(account: Account, created_by: str) -> str:
    """A new token for `account`, replacing (revoking) the one it had; returns the token,
    which exists nowhere else afterwards."""
    token = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        IntakeToken.objects.filter(account=account).delete()
        IntakeToken.objects.create(
            account=account, digest=digest(token), created_by=created_by[:200]
        )
    return token


def revoke(account: Account) -> bool:
    """Remove the account's token; True if it had one."""
    deleted, _ = IntakeToken.objects.filter(account=account).delete()
    return deleted > 0


def find(token: str) -> IntakeToken | None:
    """The stored token `token` is (with its account), or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    sent = digest(token)
    found = IntakeToken.objects.select_related("account").filter(digest=sent).first()
    if found is None or not hmac.compare_digest(found.digest.encode(), sent.encode()):
        return None
    return found


def describe(account: Account) -> str:
    """ "set on 2026-12-08 10:04 UTC by root", or "none" (never the token)."""
    stored = IntakeToken.objects.filter(account=account).first()
    if stored is None:
        return "none"
    made = stored.created_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"set on {made}" + (f" by {stored.created_by}" if stored.created_by else "")
