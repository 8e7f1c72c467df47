"""The gateway's errors: our own types (permanent or not), Salesforce's refusals translated
into them by errorCode (`wire.classify`), and network failures in a person's words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from simple_salesforce.exceptions import SalesforceError
from urllib3.exceptions import NameResolutionError

from salesforce.connection import Connection
from salesforce.wire import classify

# Shown instead of an answer that is not in Salesforce's error format (never its body).
NOT_A_SALESFORCE_ERROR = "(an answer not in Salesforce's error format; not shown)"
# Codes of errors whose message is all our own words (network, TLS, redirect, allowed hosts,
# the per-org cap).
OWN_TEXT_CODES = frozenset(
    {
        "TLS",
        "TIMEOUT",
        "CONNECTION",
        "BAD_LOGIN_URL",
        "REDIRECT",
        "INSTANCE_HOST_REFUSED",
        "ORG_CONCURRENCY",
    }
)
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class GatewayError(Exception):
    """A failure of a whole request. `permanent` tells whether retrying can help."""

    permanent = True

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientError(GatewayError):
    """Timeouts, connection errors, 5xx, UNABLE_TO_LOCK_ROW, REQUEST_LIMIT_EXCEEDED: retry."""

    permanent = False


class ClaimRanOut(TransientError):
    """The sending link's claim to send ran out before a request went out: nothing sent;
    the link is retried (and claims again, or finds that another link holds it)."""


class AuthError(GatewayError):
    """Login failed or the connection is misconfigured: the run fails, no ExportErrors."""


class RequestRejected(GatewayError):
    """Salesforce refused the whole request with a permanent errorCode (INVALID_FIELD, ...)."""

    def __init__(self, message: str, code: str, status: int, fields: tuple[str, ...]) -> None:
        super().__init__(message, code)
        self.status = status
        self.fields = fields


def error_details(content: Any) -> tuple[str, str, tuple[str, ...]]:
    """(errorCode, message, fields) of a whole-request error body ([{errorCode, message}])."""
    item = content[0] if isinstance(content, list) and content else content
    if not isinstance(item, Mapping):  # not Salesforce's error format: nothing of it is shown
        return "", NOT_A_SALESFORCE_ERROR, ()
    code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
    message = item.get("message") or item.get("error_description") or ""
    return str(code), str(message), tuple(str(f) for f in item.get("fields") or ())


def translate(exc: SalesforceError, request: str) -> GatewayError:
    """A refused request as our error: by errorCode first, then 5xx/408/429 as transient."""
    if exc.status == 300:  # single-record upsert: the external id matches several records
        return RequestRejected(
            "More than one record has this external id; make the external id field unique.",
            "MULTIPLE_RECORDS_FOR_EXTERNAL_ID",
            300,
            (),
        )
    code, message, fields = error_details(exc.content)
    kind = classify(code, message)
    if exc.status >= 500 or exc.status in (408, 429) or kind == "transient":
        return TransientError(
            f"Salesforce answered {request} with HTTP {exc.status} {code}: {message}.",
            code or f"HTTP_{exc.status}",
        )
    if kind == "auth":
        return AuthError(
            f"Salesforce refused {request} ({code}: {message}); check the integration user's "
            "API access in Salesforce.",
            code,
        )
    if not code:
        return GatewayError(
            f"Unexpected answer to {request}: HTTP {exc.status} {message}", f"HTTP_{exc.status}"
        )
    return RequestRejected(message, code, exc.status, fields)


def login_error_code(payload: Any) -> str:
    """Salesforce's error code of a refused login: OAuth's {"error": ...} or the REST
    [{"errorCode": ...}] shape; "" for any other answer."""
    item = payload[0] if isinstance(payload, list) and payload else payload
    if not isinstance(item, Mapping):
        return ""
    code = item.get("error") or item.get("errorCode")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def limits_refused(exc: GatewayError, api_version: str) -> GatewayError:
    """Test connection's GET limits failed: an error in our own words as it is, one that
    quotes Salesforce as its error code only."""
    if exc.code in OWN_TEXT_CODES:
        return exc
    text = (
        f"Salesforce refused GET limits with API version {api_version} "
        f"({exc.code or 'no error code'}); check the API version in the CRM settings and that "
        "the integration user may use the API."
    )
    kind = GatewayError if isinstance(exc, RequestRejected) else type(exc)
    return kind(text, exc.code)


def network_error(
    exc: requests.RequestException,
    target: str,
    crm: Connection,
    login_origin: str,
    login: bool = False,
) -> GatewayError:
    """A request that never got an answer, in our words: TLS and bad URLs are permanent,
    timeouts and refused connections transient."""
    if isinstance(exc, requests.exceptions.SSLError):
        trusted = crm.ca_bundle or "the system CAs"
        return AuthError(
            f"The TLS certificate of {target} could not be verified against {trusted}. "
            "Set 'CA bundle' in the account's CRM settings to the CA file that signed it "
            "(for the sandbox org: its ca.pem).",
            "TLS",
        )
    if isinstance(exc, requests.Timeout):
        return TransientError(
            f"{target} did not answer within {crm.timeout_seconds:g}s.",
            "TIMEOUT",
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return AuthError(f"{target} is not a valid URL; check the login URL.", "BAD_LOGIN_URL")
    if login and _is_name_resolution_failure(exc):
        host = urlsplit(login_origin).hostname
        return AuthError(
            f"The login host {host!r} cannot be resolved; check the login URL in the "
            "account's CRM settings.",
            "BAD_LOGIN_URL",
        )
    return TransientError(f"Could not reach {target} ({_reason(exc)}).", "CONNECTION")


def _is_name_resolution_failure(exc: BaseException) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NameResolutionError)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, without the pool's boilerplate:
    "connection refused", not "HTTPSConnection(host=…): … [Errno 111] Connection refused"."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    text = str(reason or exc)
    errno_text = re.search(r"\[Errno -?\d+\] ([^\])]+)", text)
    return errno_text.group(1).strip().lower() if errno_text else text
