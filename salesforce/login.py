"""Logging in to Salesforce, and the token cache.

We POST the flow's form to `{login_url}/services/oauth2/token` ourselves (simple-salesforce
can only log in to *.salesforce.com) and keep the token where every worker finds it
(`shared`: encrypted, one login among all workers; never in a log). Where requests may go: the login URL and the `instance_url` a login
answers must be Salesforce's or listed in CRMSYNC_EXTRA_LOGIN_HOSTS
(`salesforce.login_hosts`), checked before anything is sent there; what a login tells a
person is our own text plus Salesforce's error code, never the remote body.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import jwt
import requests
from django.conf import settings

from salesforce import ca_bundle, login_hosts, shared
from salesforce.connection import LABELS, Connection
from salesforce.crypto import UnreadableSecret
from salesforce.errors import AuthError, TransientError, login_error_code, network_error
from salesforce.session import CRMSession

log = logging.getLogger(__name__)

API_VERSION = re.compile(r"\d{2,3}\.0")
TOKEN_CACHE_SECONDS = 3600  # Salesforce token answers carry no lifetime; 401 refreshes anyway
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts a JWT bearer assertion for at most 3 minutes


class Login:
    """One account's login: its settings checked once, its token from the cache or a POST."""

    def __init__(self, crm: Connection, session: CRMSession) -> None:
        self.crm = crm
        self.session = session
        # How what it tells a person names the account: read once, where the gateway is made.
        self.who = f"account {crm.account_slug}"
        self.url = crm.login_url.rstrip("/")
        self.origin = ""  # the checked https://host[:port] (check_settings)
        self.in_progress = False  # a verbose log never shows the login's form or answer
        self.logged_in = False  # the last token came from this object's own login
        self._checked = False

    def token(self, refused: str | None = None) -> dict[str, str]:
        """{access_token, instance_url}: the one every worker shares, unless it is the
        `refused` access token (a 401 answered it); else from one login among all workers
        (`shared.once`): N workers refused the same token cause one login, not N."""
        self.check_settings()
        key = self.cache_key()

        def shared_token() -> dict[str, str] | None:
            token = shared.read_token(key)
            return token if token and token["access_token"] != refused else None

        self.logged_in = False
        return shared.once(key, shared_token, self._log_in, self.crm.timeout_seconds)

    def fresh_token(self) -> dict[str, str]:
        """A new login, whatever is shared (a connection check proves the secrets)."""
        self.check_settings()
        return self._log_in()

    def cache_key(self, kind: str = "sf-token") -> str:
        """The shared cache's key of what this connection learned (`kind`: its token, or an
        object's describe): per account and connection settings; `updated_at` changes with
        any new secret."""
        crm = self.crm
        parts = [self.url, crm.auth_flow, crm.client_id, crm.username, crm.api_version]
        parts.append(crm.updated_at.isoformat() if crm.updated_at else "")
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
        return f"crmsync:{kind}:{crm.account_id}:{digest}"

    def _log_in(self) -> dict[str, str]:
        """POST the flow's form to the token endpoint; share and return the token.

        The login URL was checked against the allowed hosts (`check_settings`); the
        instance URL answered is checked before it is cached or used. The request is
        marked as the login (`in_progress`): a verbose log never shows its form or answer.
        """
        url = f"{self.origin}/services/oauth2/token"
        form = self._form()
        self.in_progress = True
        try:
            response = self.session.post(url, data=form, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            target = f"the Salesforce login at {url}"
            raise network_error(exc, target, self.crm, self.origin, login=True) from exc
        finally:
            self.in_progress = False
        payload = _json_or_none(response)
        if response.status_code >= 500:
            raise TransientError(
                f"The Salesforce login at {url} answered HTTP {response.status_code}.",
                f"HTTP_{response.status_code}",
            )
        if response.status_code != 200 or not isinstance(payload, dict):
            raise self._refused(response.status_code, payload)
        if not payload.get("access_token") or not payload.get("instance_url"):
            raise self._refused(response.status_code, None)
        instance_url = self.instance_origin(str(payload["instance_url"]))
        token = {"access_token": str(payload["access_token"]), "instance_url": instance_url}
        shared.write_token(self.cache_key(), token, _token_lifetime(payload))
        self.logged_in = True
        log.info("Logged in to Salesforce for %s (%s)", self.who, self.crm.auth_flow)
        return token

    def _form(self) -> dict[str, str]:
        crm = self.crm
        if crm.auth_flow == "client_credentials":
            self._require("client_id", "client_secret")
            return {
                "grant_type": "client_credentials",
                "client_id": crm.client_id,
                "client_secret": crm.client_secret,
            }
        if crm.auth_flow == "password":
            self._require("client_id", "client_secret", "username", "password")
            return {
                "grant_type": "password",
                "client_id": crm.client_id,
                "client_secret": crm.client_secret,
                "username": crm.username,
                "password": crm.password,
            }
        if crm.auth_flow == "jwt_bearer":
            self._require("client_id", "username", "private_key")
            return {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self._jwt_assertion(),
            }
        raise AuthError(f"{self.who}: unknown auth flow {crm.auth_flow!r}.", "BAD_SETTINGS")

    def _jwt_assertion(self) -> str:
        """RS256-signed claims: iss = client id, sub = username, aud = login URL."""
        claims = {
            "iss": self.crm.client_id,
            "sub": self.crm.username,
            "aud": self.origin,
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        try:
            return jwt.encode(claims, self.crm.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise AuthError(
                f"The private key in the CRM settings of {self.who} is not a usable RSA key "
                "in PEM format; paste the External Client App's private key again.",
                "BAD_PRIVATE_KEY",
            ) from None

    def _refused(self, status: int, payload: Any) -> AuthError:
        """A refused login in our words: Salesforce's error code, never its description."""
        code = login_error_code(payload)
        if code:
            return AuthError(
                f"Salesforce login for {self.who} failed ({self.crm.auth_flow} flow at "
                f"{self.origin}): {code}. Check the client id and the secrets of this "
                "flow in the account's CRM settings.",
                code,
            )
        return AuthError(
            f"The login URL of {self.who} ({self.origin}) did not answer like a "
            f"Salesforce login endpoint (HTTP {status}). Check the login URL in the account's "
            "CRM settings.",
            "BAD_LOGIN_URL",
        )

    def instance_origin(self, instance_url: str) -> str:
        """The instance URL a login answered, if calls may go there (else an AuthError)."""
        try:
            return login_hosts.checked_origin(instance_url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS)
        except login_hosts.LoginHostRefused as refused:
            raise AuthError(
                f"The Salesforce login of {self.who} answered with an instance URL that "
                f"{refused.reason}. Nothing was sent there.",
                "INSTANCE_HOST_REFUSED",
            ) from None

    def check_settings(self) -> None:
        """Refuse settings that cannot work before anything is sent."""
        if self._checked:
            return
        try:
            self.origin = login_hosts.checked_origin(self.url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS)
        except login_hosts.LoginHostRefused as refused:
            raise AuthError(
                f"The login URL of {self.who} {refused.reason}. Nothing was sent.",
                "LOGIN_HOST_REFUSED",
            ) from None
        if not API_VERSION.fullmatch(self.crm.api_version) or float(self.crm.api_version) < 46:
            raise AuthError(
                f"The API version of {self.who} is {self.crm.api_version!r}; it must look "
                "like 62.0 and be 46.0 or later (the first with sObject Collections upsert).",
                "BAD_API_VERSION",
            )
        if self.crm.ca_bundle and not ca_bundle.usable_ca_bundle(self.crm.ca_bundle):
            raise AuthError(f"The CA bundle of {self.who} {ca_bundle.UNUSABLE}", "BAD_CA_BUNDLE")
        self._checked = True

    def _require(self, *names: str) -> None:
        for name in names:
            value = getattr(self.crm, name)
            label = LABELS[name]
            if isinstance(value, UnreadableSecret):
                raise AuthError(
                    f"The stored {label} of {self.who} is unreadable: no key of "
                    "CRMSYNC_ENCRYPTION_KEY decrypts it (the key changed or is missing). Set it "
                    "again in the admin (Settings › CRM), or add the key it was written with.",
                    "SECRET_UNREADABLE",
                )
            if not value:
                raise AuthError(
                    f"The CRM settings of {self.who} have no {label}, which the "
                    f"{self.crm.auth_flow} login needs; set it in the admin.",
                    "BAD_SETTINGS",
                )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _token_lifetime(payload: Mapping[str, Any]) -> int:
    """Cache a token for its `expires_in` (less a minute) when given, else an hour."""
    try:
        return max(int(payload["expires_in"]) - 60, 1)
    except (KeyError, TypeError, ValueError):
        return TOKEN_CACHE_SECONDS
