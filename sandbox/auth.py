"""The OAuth token endpoint (`POST /services/oauth2/token`) and access-token checks.

Grant types: `client_credentials`, `password` and
`urn:ietf:params:oauth:grant-type:jwt-bearer`. Client ids and secrets come from
`auth.clients` in the rules; a password or JWT login is accepted for any user of a listed
client. For JWT the sandbox checks that `iss` is a listed client id, `sub` is present and
`exp` is in the future; it does NOT verify the signature (there is no certificate to
upload to the sandbox), so the JWT flow proves the request shape, not the key.

Answers follow Salesforce's token response (`access_token`, `instance_url`, `id`,
`token_type`, `issued_at`, `signature`) and its OAuth error shape
`{"error": "...", "error_description": "..."}` with HTTP 400
(https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

import jwt

from sandbox.ids import make_id
from sandbox.rules import Rules
from sandbox.store import Store

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG_ID = make_id("Organization", 1)
CLIENT_CREDENTIALS_USER = "integration@sandbox.example.com"


class OAuthError(Exception):
    """A refused token request, answered as HTTP 400 with Salesforce's OAuth error body."""

    status = 400

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class Tokens:
    """Issues access tokens and checks them; tokens live in SQLite so a restart keeps them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        with store.lock:
            self._expiry = store.load_tokens()

    def is_valid(self, token: str) -> bool:
        expires_at = self._expiry.get(token)
        return expires_at is not None and expires_at > time.time()

    def expire_all(self) -> None:
        with self.store.lock, self._lock:
            self.store.delete_tokens()
            self._expiry = {}

    def login(self, form: dict[str, str], rules: Rules, instance_url: str) -> dict[str, Any]:
        """Check a token request and answer Salesforce's token response, or raise OAuthError.

        1. Pick the grant type; anything else is `unsupported_grant_type`.
        2. Find the client (client_id, or the JWT's iss) and check its secret
           (not for JWT), then the user (password: username and password present;
           JWT: sub present and exp in the future).
        3. Issue a random token valid for `auth.token_ttl_s` and remember it.
        """
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            client_id = self._check_client(form, rules)
            username = CLIENT_CREDENTIALS_USER
        elif grant == "password":
            client_id = self._check_client(form, rules)
            username = form.get("username", "")
            if not username or not form.get("password"):
                raise OAuthError("invalid_grant", "authentication failure")
        elif grant == JWT_GRANT:
            client_id, username = self._check_assertion(form.get("assertion", ""), rules)
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return self._issue(client_id, username, rules, instance_url)

    def _check_client(self, form: dict[str, str], rules: Rules) -> str:
        client_id = form.get("client_id", "")
        if client_id not in rules.clients:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", ""), rules.clients[client_id]):
            raise OAuthError("invalid_client", "invalid client credentials")
        return client_id

    def _check_assertion(self, assertion: str, rules: Rules) -> tuple[str, str]:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        client_id = claims.get("iss")
        if not isinstance(client_id, str) or client_id not in rules.clients:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not claims.get("sub"):
            raise OAuthError("invalid_grant", "invalid assertion: the JWT has no sub (username)")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= time.time():
            raise OAuthError(
                "invalid_grant", "invalid assertion: the JWT's exp is not in the future"
            )
        return client_id, str(claims["sub"])

    def _issue(
        self, client_id: str, username: str, rules: Rules, instance_url: str
    ) -> dict[str, Any]:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        expires_at = time.time() + rules.token_ttl_s
        with self.store.lock, self._lock:
            self.store.save_token(token, client_id, username, expires_at)
            self._expiry = {**self._expiry, token: expires_at}
        issued_at = str(int(time.time() * 1000))
        identity = f"{instance_url}/id/{ORG_ID}/{_user_id(username)}"
        mac = hmac.new(
            rules.clients[client_id].encode(), (identity + issued_at).encode(), hashlib.sha256
        )
        return {
            "access_token": token,
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(mac.digest()).decode(),
            "scope": "api",
        }


def _user_id(username: str) -> str:
    number = int.from_bytes(hashlib.sha256(username.encode()).digest()[:4], "big")
    return make_id("User", number)
