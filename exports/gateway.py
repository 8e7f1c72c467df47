"""The one door to Salesforce. Only this module imports simple-salesforce.

A Gateway is built per account from its CRMSettings and works like this:

1. Log in with the configured OAuth flow by POSTing to `{login_url}/services/oauth2/token`
   ourselves (simple-salesforce can only log in to *.salesforce.com) and keep
   the token in the Django cache (never in a log).
2. Hand simple-salesforce the token and our own `requests.Session`: TLS verified against
   `ca_bundle` (or the system CAs) and immune to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, a
   default timeout on every request, `Sforce-Limit-Info` noted from every answer.
3. Every REST call the org answers is counted; a 401 (INVALID_SESSION_ID) logs in again once and repeats
   the call; every failure becomes one of our types, classified by Salesforce's
   errorCode/statusCode and never by HTTP status alone (UNABLE_TO_LOCK_ROW comes as 400,
   REQUEST_LIMIT_EXCEEDED as 403).
4. A Collections upsert whose whole request is rejected (e.g. INVALID_FIELD) is split in
   halves, in order, until the record at fault is found.
5. Several consecutive batches go out as ONE Composite request (one API call): a
   Collections subrequest per batch, executed in order (`upsert_batches`).

Proxies: `trust_env` is off (that is what makes TLS immune to the CA variables), so the
proxy is taken explicitly from HTTPS_PROXY/https_proxy, honouring NO_PROXY for the login host.

Where requests may go (issue 15): the login URL and the `instance_url` a login answers must
be Salesforce's or listed in CRMSYNC_EXTRA_LOGIN_HOSTS (`accounts.login_hosts`), checked
before anything is sent there; no redirect is ever followed (`_refuse_redirect`); what a
login or Test connection tells a person is our own text plus Salesforce's error code,
never the remote body.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from urllib3.exceptions import NameResolutionError

from accounts import ca_bundle, login_hosts
from accounts.fields import UnreadableSecret

from . import isolation
from .wire import (
    HALTED,
    NOT_SENT,
    PROCESSING_HALTED,
    Batch,
    RecordResult,
    classify,
    collection_body,
    encode_record,
    is_result_list,
    record_result,
)

if TYPE_CHECKING:
    from accounts.models import CRMSettings

log = logging.getLogger(__name__)

MAX_COLLECTION = 200  # sObject Collections limit per request
# Salesforce: a Composite request holds up to 25 subrequests, at most 5 of them sObject
# Collections or queries; it counts as one API call.
MAX_COLLECTIONS_PER_COMPOSITE = 5
API_VERSION = re.compile(r"\d{2,3}\.0")
TOKEN_CACHE_SECONDS = 3600  # Salesforce token answers carry no lifetime; 401 refreshes anyway
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts a JWT bearer assertion for at most 3 minutes
# Shown instead of an answer that is not in Salesforce's error format (never its body).
NOT_A_SALESFORCE_ERROR = "(an answer not in Salesforce's error format; not shown)"
# Codes of errors whose message is all our own words (network, TLS, redirect, allowed hosts).
OWN_TEXT_CODES = frozenset(
    {"TLS", "TIMEOUT", "CONNECTION", "BAD_LOGIN_URL", "REDIRECT", "INSTANCE_HOST_REFUSED"}
)
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_HOST_NAME = re.compile(r"[a-z0-9.-]{1,253}")


@dataclass(frozen=True)
class ConnectionCheck:
    instance_url: str
    api_used: int | None
    api_limit: int | None
    api_version: str


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


class AuthError(GatewayError):
    """Login failed or the connection is misconfigured: the run fails, no ExportErrors."""


class RequestRejected(GatewayError):
    """Salesforce refused the whole request with a permanent errorCode (INVALID_FIELD, ...)."""

    def __init__(self, message: str, code: str, status: int, fields: tuple[str, ...]) -> None:
        super().__init__(message, code)
        self.status = status
        self.fields = fields


def gateway_for(account_id: int) -> Gateway:
    """The gateway of one account; missing settings are an AuthError (unreadable secrets
    are one when a login needs them)."""
    from accounts.models import CRMSettings

    try:
        crm = CRMSettings.objects.select_related("account").get(account_id=account_id)
    except CRMSettings.DoesNotExist:
        raise AuthError(
            f"Account {account_id} has no CRM settings; create them in the admin.", "NO_SETTINGS"
        ) from None
    return Gateway(crm)


# A Gateway kept from one batch to the next, per worker thread: its HTTPS connection stays
# open (no TLS handshake and no token lookup per batch). Dropped after this long unused,
# before a server's keep-alive timeout would close the connection under it.
REUSE_IDLE_SECONDS = 30.0
_reused = threading.local()


def reusable_gateway(crm: CRMSettings) -> Gateway:
    """This thread's Gateway for `crm`'s account, with its counters at zero.

    1. Look up the thread's gateway for the account; it is reused only if it was built
       from the same connection settings (URL, flow, client, user, secrets, CA, timeout,
       version, last save) and was used within REUSE_IDLE_SECONDS.
    2. Otherwise close it and build a new one (logging in again only if the cached token
       is gone).
    3. Reset its counters (API calls and usage, CPU limit, slowest call), so they count
       this caller's calls alone.
    """
    gateways: dict[int, tuple[tuple[Any, ...], float, Gateway]] = _reused.__dict__.setdefault(
        "gateways", {}
    )
    fingerprint = _connection_fingerprint(crm)
    now = time.monotonic()
    cached = gateways.get(crm.account_id)
    if cached and cached[0] == fingerprint and now - cached[1] < REUSE_IDLE_SECONDS:
        gateway = cached[2]
    else:
        if cached:
            cached[2].close()
        gateway = Gateway(crm)
    gateways[crm.account_id] = (fingerprint, now, gateway)
    gateway.reset_counters()
    return gateway


def _connection_fingerprint(crm: CRMSettings) -> tuple[Any, ...]:
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


class _CRMSession(requests.Session):
    """A requests.Session with a default timeout that ignores the environment.

    `trust_env = False` stops requests from replacing `verify` with REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (a long-standing requests behaviour); proxies are then only what the
    caller sets.
    """

    def __init__(self, timeout: float, verify: str | bool, proxies: dict[str, str]) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self.proxies.update(proxies)
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        kwargs["allow_redirects"] = False  # never: a redirect is an error (_refuse_redirect)
        response = super().request(method, url, *args, **kwargs)
        _refuse_redirect(response)
        return response


class Gateway:
    """One account's connection to Salesforce (not shared between threads)."""

    def __init__(self, crm: CRMSettings) -> None:
        self.crm = crm
        self.api_calls = 0
        self.api_usage: tuple[int, int] | None = None
        # What the calls since the last reset showed of the org's limits (call size adapts).
        self.cpu_limited = False
        self.slowest_call_s = 0.0
        self.instance_url: str | None = None
        self._described: dict[str, dict[str, dict[str, Any]]] = {}
        self._login_url = crm.login_url.rstrip("/")
        self._login_origin = ""  # the checked https://host[:port] (_check_settings)
        self._sf: Salesforce | None = None
        self._login_failure: GatewayError | None = None
        self._logging_in = False
        self._checked = False
        self._verbose: Callable[[str], None] | None = None
        self._session = _CRMSession(
            crm.timeout_seconds, crm.ca_bundle or _system_ca_file(), _https_proxy(self._login_url)
        )
        self._session.hooks["response"].append(self._on_response)

    # -- public API ---------------------------------------------------------------------

    def reset_counters(self) -> None:
        """Count from zero: API calls, API usage, CPU limit met, slowest call."""
        self.api_calls = 0
        self.api_usage = None
        self.cpu_limited = False
        self.slowest_call_s = 0.0

    def close(self) -> None:
        """Close the HTTP connections (a Gateway is also a context manager)."""
        self._session.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def upsert_collection(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        all_or_none: bool,
    ) -> list[RecordResult]:
        """Upsert ≤200 records of one sObject by external id; one result per record, in order
        (`upsert_batches` of one batch)."""
        encoded = [encode_record(sobject, record) for record in records]
        return self.upsert_batches([Batch(sobject, external_id_field, encoded)], all_or_none)

    def upsert_batches(self, batches: Sequence[Batch], all_or_none: bool) -> list[RecordResult]:
        """Upsert consecutive batches in ONE API call; one result per record, in order.

        1. One batch: one Collections request (PATCH composite/sobjects/S/F) with `allOrNone`.
        2. Several (at most 5): one Composite request (POST composite) with a Collections
           subrequest per batch, executed in order (`collateSubrequests: false`), and
           `allOrNone` on the Composite and on every subrequest: with all_or_none, one
           rejected record rolls back the whole call (the other subrequests answer
           PROCESSING_HALTED, their records come back rolled_back).
        3. A failure that is not about one record (a chunk failed by a trigger, the Apex CPU
           limit, a request refused as a whole) is narrowed down to the record that fails
           alone by sending smaller pieces in order (`isolation.isolate`); a record that
           passes alone is written and never rejected.
        A 404 names an unknown object or external id field in the URL, never a record: every
        record gets it, without narrowing down. Transient and auth failures raise (pieces
        already sent stay written; an upsert by external id makes sending again safe).
        """
        if len(batches) > MAX_COLLECTIONS_PER_COMPOSITE:
            raise ValueError(f"{len(batches)} batches; a Composite request takes at most 5")
        for batch in batches:
            if len(batch.records) > MAX_COLLECTION:
                raise ValueError(
                    f"{len(batch.records)} records; a Collections upsert takes at most 200"
                )
        batches = [batch for batch in batches if batch.records]
        if not batches:
            return []
        return isolation.isolate(
            lambda call: self._upsert_call(call, all_or_none), batches, all_or_none
        )

    def upsert_one(
        self,
        sobject: str,
        external_id_field: str,
        external_id: str,
        fields: Mapping[str, Any],
        *,
        verbose_log: Callable[[str], None] | None = None,
    ) -> RecordResult:
        """Upsert one record by external id (PATCH sobjects/S/F/id), e.g. to replay it.

        With `verbose_log`, every HTTP request and answer is passed to it as text, with the
        Authorization header and the login exchange redacted. A refusal is a
        RecordResult(ok=False); transient and auth failures raise as elsewhere.
        """
        body = {k: v for k, v in fields.items() if k != external_id_field}
        path = f"sobjects/{sobject}/{external_id_field}/{quote(str(external_id), safe='')}"
        self._verbose = verbose_log
        try:
            answer = self._rest(path, "PATCH", json=body)
        except RequestRejected as exc:
            return RecordResult(False, None, None, exc.code, exc.message, exc.fields)
        except GatewayError as exc:
            if verbose_log:
                verbose_log(f"! {exc.message}")
            raise
        finally:
            self._verbose = None
        if answer is None:  # 204 No Content: an update, before API v46
            return RecordResult(ok=True, created=False)
        return record_result(answer)

    def log_in_ahead(self) -> None:
        """Log in now if no token is cached, so the first call does not wait for it. Run it
        in the thread that sends the calls (before them). A failed login is not tried
        again by the next call: that call raises it (a refused password counts toward
        the user's lockout; one attempt per call, as without this). A gateway unused for
        REUSE_IDLE_SECONDS is dropped, and a failure kept in it with it."""
        try:
            self._client()
        except GatewayError as exc:
            self._login_failure = exc

    def check_connection(self) -> ConnectionCheck:
        """Log in afresh (not from the cache) and GET limits: proves secrets, TLS, API access."""
        self._client(fresh=True)
        try:
            limits = self._rest("limits/", "GET") or {}
        except GatewayError as exc:
            raise _limits_refused(exc, self.crm.api_version) from None
        daily = limits.get("DailyApiRequests") or {}
        limit, remaining = daily.get("Max"), daily.get("Remaining")
        used = limit - remaining if isinstance(limit, int) and isinstance(remaining, int) else None
        if used is None and self.api_usage:
            used, limit = self.api_usage
        return ConnectionCheck(str(self.instance_url), used, limit, self.crm.api_version)

    # -- Collections ---------------------------------------------------------------------

    def field_types(self, sobject: str) -> dict[str, str]:
        """{field: describe type} of an sObject, from the Django cache or a describe call
        (kept CRMSYNC_DESCRIBE_TTL_S). An object describe does not know: {} (nothing to
        check; the upsert itself will say what is wrong)."""
        return {name: field["type"] for name, field in self._describe(sobject).items()}

    def external_id_case_sensitive(self, sobject: str, field: str) -> bool:
        """Does the org tell "ABC" and "abc" apart in this external id field? Real orgs
        usually do not (describe's `caseSensitive`); unknown fields count as they do not."""
        return bool(self._describe(sobject).get(field, {}).get("caseSensitive", False))

    def forget_types(self, sobject: str) -> None:
        """An answer proved the cached describe of `sobject` stale: read it again next time."""
        self._described.pop(sobject, None)
        cache.delete(self._describe_key(sobject))

    def _describe(self, sobject: str) -> dict[str, dict[str, Any]]:
        known = self._described.get(sobject)
        if known is not None:
            return known
        key = self._describe_key(sobject)
        fields = cache.get(key)
        if fields is None:
            try:
                answer = self._rest(f"sobjects/{sobject}/describe", "GET") or {}
            except RequestRejected:
                answer = {}
            fields = {
                str(f["name"]): {
                    "type": str(f.get("type", "")),
                    "caseSensitive": f.get("caseSensitive"),
                }
                for f in answer.get("fields") or []
                if isinstance(f, Mapping) and f.get("name")
            }
            cache.set(key, fields, settings.CRMSYNC_DESCRIBE_TTL_S)
        self._described[sobject] = fields
        return fields

    def _describe_key(self, sobject: str) -> str:
        return f"{self._cache_key().replace('sf-token', 'sf-describe')}:{sobject}"

    def _upsert_call(self, batches: Sequence[Batch], all_or_none: bool) -> list[RecordResult]:
        """One API call, no narrowing down: a Collections request for one batch, a Composite
        request for several. A request refused as a whole gives every record its error,
        marked `whole`."""
        if len(batches) == 1:
            results = self._post_collection(batches[0], all_or_none)
        else:
            results = self._post_composite(batches, all_or_none)
        if any(isolation.is_cpu_limit(r) for r in results):
            self.cpu_limited = True
        if any(r.whole and r.error_code == "JSON_PARSER_ERROR" for r in results):
            for batch in batches:  # a value the describe said was fine was not
                self.forget_types(batch.sobject)
        return results

    def _post_collection(self, batch: Batch, all_or_none: bool) -> list[RecordResult]:
        # https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
        path = f"composite/sobjects/{batch.sobject}/{batch.external_id_field}"
        payload = batch.records
        try:
            answer = self._rest(path, "PATCH", data=collection_body(all_or_none, payload).encode())
        except RequestRejected as exc:
            return _refused_alike(exc, len(payload), all_or_none)
        if not isinstance(answer, list) or len(answer) != len(payload):
            count = len(answer) if isinstance(answer, list) else "no"
            raise GatewayError(
                f"Salesforce answered a Collections upsert of {len(payload)} records with "
                f"{count} results; nothing can be concluded, report this answer.",
                "UNEXPECTED_ANSWER",
            )
        return [record_result(item) for item in answer]

    def _post_composite(self, batches: Sequence[Batch], all_or_none: bool) -> list[RecordResult]:
        """One Composite request of Collections subrequests."""
        prefix = f"/services/data/v{self.crm.api_version}/composite/sobjects"
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_allornone.htm
        flag = "true" if all_or_none else "false"
        subrequests = ",".join(
            f'{{"method":"PATCH","url":"{prefix}/{b.sobject}/{b.external_id_field}",'
            f'"referenceId":"batch{k}","body":{collection_body(all_or_none, b.records)}}}'
            for k, b in enumerate(batches)
        )
        body = (
            f'{{"allOrNone":{flag},"collateSubrequests":false,"compositeRequest":[{subrequests}]}}'
        )
        answer = self._rest("composite", "POST", data=body.encode())
        items = answer.get("compositeResponse") if isinstance(answer, Mapping) else None
        if not isinstance(items, list) or len(items) != len(batches):
            raise GatewayError(
                f"Salesforce answered a Composite request of {len(batches)} subrequests "
                "without one response per subrequest; nothing can be concluded, report this "
                "answer.",
                "UNEXPECTED_ANSWER",
            )
        results: list[RecordResult] = []
        for batch, item in zip(batches, items, strict=True):
            results += _subrequest_results(item, len(batch.records))
        return results

    # -- REST calls ----------------------------------------------------------------------

    def _rest(self, path: str, method: str, **kwargs: Any) -> Any:
        """One REST call: send it; on 401 log in again once and send it again."""
        try:
            return self._send(self._client(), path, method, kwargs)
        except SalesforceExpiredSession:
            log.info("Salesforce session of %s expired; logging in again", self._who)
        try:
            return self._send(self._client(fresh=True), path, method, kwargs)
        except SalesforceExpiredSession as exc:
            code, message, _ = _error_details(exc.content)
            raise AuthError(
                f"Salesforce refused a freshly issued session for {self._who} "
                f"({code or 'HTTP 401'}: {message}). Check that the integration user may "
                "use the API and that the login URL belongs to the org.",
                code or "INVALID_SESSION_ID",
            ) from None

    def _send(self, sf: Salesforce, path: str, method: str, kwargs: dict[str, Any]) -> Any:
        self.api_calls += 1
        try:
            return sf.restful(path, method=method, **kwargs)
        except SalesforceExpiredSession:
            raise
        except SalesforceError as exc:
            raise _translate(exc, f"{method} {path}") from None
        except requests.exceptions.JSONDecodeError:
            raise GatewayError(
                f"Salesforce answered {method} {path} with something that is not JSON.",
                "UNEXPECTED_ANSWER",
            ) from None
        except requests.RequestException as exc:
            self.api_calls -= 1  # it never reached the org: not an API call
            raise self._network_error(exc, f"Salesforce at {self.instance_url}") from exc

    def _client(self, fresh: bool = False) -> Salesforce:
        """The simple-salesforce client, logging in when there is no (valid) token."""
        if self._sf is not None and not fresh:
            return self._sf
        if self._login_failure is not None and not fresh:
            failure, self._login_failure = self._login_failure, None
            raise failure
        self._check_settings()
        token = None if fresh else cache.get(self._cache_key())
        if token is None:
            token = self._login()
        self.instance_url = self._instance_origin(token["instance_url"])
        self._sf = Salesforce(
            instance_url=self.instance_url,
            session_id=token["access_token"],
            session=self._session,
            version=self.crm.api_version,
        )
        return self._sf

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Session hook: note Sforce-Limit-Info; in verbose mode show the exchange."""
        self.slowest_call_s = max(self.slowest_call_s, response.elapsed.total_seconds())
        limit_info = response.headers.get("Sforce-Limit-Info")
        if limit_info:
            usage = Salesforce.parse_api_usage(limit_info).get("api-usage")
            if usage:
                self.api_usage = (usage.used, usage.total)
        if self._verbose:
            self._verbose(_describe_exchange(response, login=self._logging_in))

    # -- login ---------------------------------------------------------------------------

    def _login(self) -> dict[str, str]:
        """POST the flow's form to the token endpoint; cache and return the token.

        The login URL was checked against the allowed hosts (`_check_settings`); the
        instance URL answered is checked before it is cached or used. The request is
        marked as the login (`_logging_in`): a verbose log never shows its form or answer.
        """
        url = f"{self._login_origin}/services/oauth2/token"
        form = self._login_form()
        self._logging_in = True
        try:
            response = self._session.post(url, data=form, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise self._network_error(exc, f"the Salesforce login at {url}", login=True) from exc
        finally:
            self._logging_in = False
        payload = _json_or_none(response)
        if response.status_code >= 500:
            raise TransientError(
                f"The Salesforce login at {url} answered HTTP {response.status_code}.",
                f"HTTP_{response.status_code}",
            )
        if response.status_code != 200 or not isinstance(payload, dict):
            raise self._login_refused(response.status_code, payload)
        if not payload.get("access_token") or not payload.get("instance_url"):
            raise self._login_refused(response.status_code, None)
        instance_url = self._instance_origin(str(payload["instance_url"]))
        token = {"access_token": str(payload["access_token"]), "instance_url": instance_url}
        cache.set(self._cache_key(), token, _token_lifetime(payload))
        log.info("Logged in to Salesforce for %s (%s)", self._who, self.crm.auth_flow)
        return token

    def _login_form(self) -> dict[str, str]:
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
        raise AuthError(f"{self._who}: unknown auth flow {crm.auth_flow!r}.", "BAD_SETTINGS")

    def _jwt_assertion(self) -> str:
        """RS256-signed claims: iss = client id, sub = username, aud = login URL."""
        claims = {
            "iss": self.crm.client_id,
            "sub": self.crm.username,
            "aud": self._login_origin,
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        try:
            return jwt.encode(claims, self.crm.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise AuthError(
                f"The private key in the CRM settings of {self._who} is not a usable RSA key "
                "in PEM format; paste the External Client App's private key again.",
                "BAD_PRIVATE_KEY",
            ) from None

    def _login_refused(self, status: int, payload: Any) -> AuthError:
        """A refused login in our words: Salesforce's error code, never its description."""
        code = _login_error_code(payload)
        if code:
            return AuthError(
                f"Salesforce login for {self._who} failed ({self.crm.auth_flow} flow at "
                f"{self._login_origin}): {code}. Check the client id and the secrets of this "
                "flow in the account's CRM settings.",
                code,
            )
        return AuthError(
            f"The login URL of {self._who} ({self._login_origin}) did not answer like a "
            f"Salesforce login endpoint (HTTP {status}). Check the login URL in the account's "
            "CRM settings.",
            "BAD_LOGIN_URL",
        )

    def _instance_origin(self, instance_url: str) -> str:
        """The instance URL a login answered, if calls may go there (else an AuthError)."""
        try:
            return login_hosts.checked_origin(instance_url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS)
        except login_hosts.LoginHostRefused as refused:
            raise AuthError(
                f"The Salesforce login of {self._who} answered with an instance URL that "
                f"{refused.reason}. Nothing was sent there.",
                "INSTANCE_HOST_REFUSED",
            ) from None

    # -- settings and errors ---------------------------------------------------------------

    def _check_settings(self) -> None:
        """Refuse settings that cannot work before anything is sent."""
        if self._checked:
            return
        try:
            self._login_origin = login_hosts.checked_origin(
                self._login_url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS
            )
        except login_hosts.LoginHostRefused as refused:
            raise AuthError(
                f"The login URL of {self._who} {refused.reason}. Nothing was sent.",
                "LOGIN_HOST_REFUSED",
            ) from None
        if not API_VERSION.fullmatch(self.crm.api_version) or float(self.crm.api_version) < 46:
            raise AuthError(
                f"The API version of {self._who} is {self.crm.api_version!r}; it must look "
                "like 62.0 and be 46.0 or later (the first with sObject Collections upsert).",
                "BAD_API_VERSION",
            )
        if self.crm.ca_bundle and not ca_bundle.usable_ca_bundle(self.crm.ca_bundle):
            raise AuthError(f"The CA bundle of {self._who} {ca_bundle.UNUSABLE}", "BAD_CA_BUNDLE")
        self._checked = True

    def _require(self, *names: str) -> None:
        for name in names:
            value = getattr(self.crm, name)
            label = self.crm._meta.get_field(name).verbose_name
            if isinstance(value, UnreadableSecret):
                raise AuthError(
                    f"The stored {label} of {self._who} is unreadable: no key of "
                    "CRMSYNC_ENCRYPTION_KEY decrypts it (the key changed or is missing). Set it "
                    "again in the admin (Settings › CRM), or add the key it was written with.",
                    "SECRET_UNREADABLE",
                )
            if not value:
                raise AuthError(
                    f"The CRM settings of {self._who} have no {label}, which the "
                    f"{self.crm.auth_flow} login needs; set it in the admin.",
                    "BAD_SETTINGS",
                )

    def _network_error(
        self, exc: requests.RequestException, target: str, login: bool = False
    ) -> GatewayError:
        if isinstance(exc, requests.exceptions.SSLError):
            trusted = self.crm.ca_bundle or "the system CAs"
            return AuthError(
                f"The TLS certificate of {target} could not be verified against {trusted}. "
                "Set 'CA bundle' in the account's CRM settings to the CA file that signed it "
                "(for the sandbox org: its ca.pem).",
                "TLS",
            )
        if isinstance(exc, requests.Timeout):
            return TransientError(
                f"{target} did not answer within {self.crm.timeout_seconds:g}s.",
                "TIMEOUT",
            )
        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return AuthError(f"{target} is not a valid URL; check the login URL.", "BAD_LOGIN_URL")
        if login and _is_name_resolution_failure(exc):
            host = urlsplit(self._login_origin).hostname
            return AuthError(
                f"The login host {host!r} cannot be resolved; check the login URL in the "
                "account's CRM settings.",
                "BAD_LOGIN_URL",
            )
        return TransientError(f"Could not reach {target} ({_reason(exc)}).", "CONNECTION")

    def _cache_key(self) -> str:
        """Per account and connection settings; `updated_at` changes with any new secret."""
        crm = self.crm
        parts = [self._login_url, crm.auth_flow, crm.client_id, crm.username, crm.api_version]
        parts.append(crm.updated_at.isoformat() if crm.updated_at else "")
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
        return f"crmsync:sf-token:{crm.account_id}:{digest}"

    @property
    def _who(self) -> str:
        return f"account {self.crm.account_id}"


# -- pure helpers --------------------------------------------------------------------------


def _subrequest_results(item: Any, count: int) -> list[RecordResult]:
    """The results of one Collections subrequest of a Composite request; a subrequest
    refused as a whole for a permanent reason gives every record its error, marked `whole`."""
    item = item if isinstance(item, Mapping) else {}
    status, body = item.get("httpStatusCode"), item.get("body")
    if is_result_list(body, count):  # per-record results, whatever the status says
        return [record_result(entry) for entry in body]
    if isinstance(status, int) and status < 300:
        if isinstance(body, list) and len(body) == count:
            return [record_result(entry) for entry in body]
        raise GatewayError(
            f"Salesforce answered a Collections subrequest of {count} records with "
            f"{len(body) if isinstance(body, list) else 'no'} results; nothing can be "
            "concluded, report this answer.",
            "UNEXPECTED_ANSWER",
        )
    code, message, fields = _error_details(body)
    if code == PROCESSING_HALTED:
        return [HALTED] * count
    kind = classify(code, message)
    if kind == "transient" or not isinstance(status, int) or status >= 500:
        raise TransientError(
            f"Salesforce answered a Composite subrequest with HTTP {status} {code}: {message}; "
            "will retry.",
            code or f"HTTP_{status}",
        )
    if kind == "auth":
        raise AuthError(f"Salesforce refused a Composite subrequest ({code}: {message}).", code)
    refused = RequestRejected(message, code or f"HTTP_{status}", status, fields)
    return _refused_alike(refused, count, all_or_none=False)


def _refused_alike(exc: RequestRejected, count: int, all_or_none: bool) -> list[RecordResult]:
    """`count` records of a request refused for one reason. A 404 (unknown object or field
    in the URL) is every record's own error; any other refusal is of the request as a whole
    (`whole`: to be narrowed down). All-or-none sends none after the first."""
    refused = RecordResult(
        False, None, None, exc.code, exc.message, exc.fields, whole=exc.status != 404
    )
    if all_or_none:
        return [refused] + [NOT_SENT] * (count - 1)
    return [refused] * count


def _error_details(content: Any) -> tuple[str, str, tuple[str, ...]]:
    """(errorCode, message, fields) of a whole-request error body ([{errorCode, message}])."""
    item = content[0] if isinstance(content, list) and content else content
    if not isinstance(item, Mapping):  # not Salesforce's error format: nothing of it is shown
        return "", NOT_A_SALESFORCE_ERROR, ()
    code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
    message = item.get("message") or item.get("error_description") or ""
    return str(code), str(message), tuple(str(f) for f in item.get("fields") or ())


def _translate(exc: SalesforceError, request: str) -> GatewayError:
    """A refused request as our error: by errorCode first, then 5xx/408/429 as transient."""
    if exc.status == 300:  # single-record upsert: the external id matches several records
        return RequestRejected(
            "More than one record has this external id; make the external id field unique.",
            "MULTIPLE_RECORDS_FOR_EXTERNAL_ID",
            300,
            (),
        )
    code, message, fields = _error_details(exc.content)
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


def _describe_exchange(response: requests.Response, login: bool) -> str:
    """A request and its answer as text, for a person; no token or login secret in it.
    The login request (marked by the caller, whatever its URL) shows neither its form nor
    its answer."""
    request = response.request
    if login:
        return f"> {request.method} {request.url} (login; form and answer not shown)\n< HTTP {response.status_code}"
    headers = {
        k: ("Bearer [redacted]" if k.lower() == "authorization" else v)
        for k, v in request.headers.items()
    }
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    lines = [f"> {request.method} {request.url}"]
    lines += [f"> {k}: {v}" for k, v in headers.items()]
    lines += [f"> {body}" if body else ">", f"< HTTP {response.status_code} {response.reason}"]
    if "Sforce-Limit-Info" in response.headers:
        lines.append(f"< Sforce-Limit-Info: {response.headers['Sforce-Limit-Info']}")
    lines.append(f"< {response.text}")
    return "\n".join(lines)


def _refuse_redirect(response: requests.Response) -> None:
    """A redirect answer is an error naming the host it points to: crmsync never follows
    one (a 307 to http:// would send a login's secrets again, in clear text, to wherever
    it points)."""
    if not response.is_redirect:
        return
    response.close()
    target = urlsplit(urljoin(str(response.url), response.headers.get("Location", ""))).hostname
    named = f"host {target}" if target and _HOST_NAME.fullmatch(target) else "an unusable address"
    raise AuthError(
        f"{urlsplit(str(response.url)).hostname} answered with a redirect (HTTP "
        f"{response.status_code}) to {named}; crmsync never follows redirects. If that is "
        "Salesforce's address of this org, make it the login URL in the CRM settings.",
        "REDIRECT",
    )


def _login_error_code(payload: Any) -> str:
    """Salesforce's error code of a refused login: OAuth's {"error": ...} or the REST
    [{"errorCode": ...}] shape; "" for any other answer."""
    item = payload[0] if isinstance(payload, list) and payload else payload
    if not isinstance(item, Mapping):
        return ""
    code = item.get("error") or item.get("errorCode")
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def _limits_refused(exc: GatewayError, api_version: str) -> GatewayError:
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


def _system_ca_file() -> str | bool:
    """The OS trust store's CA file; True (requests' certifi bundle) when there is none."""
    cafile = ssl.get_default_verify_paths().cafile
    return cafile if cafile and os.path.isfile(cafile) else True


def _https_proxy(login_url: str) -> dict[str, str]:
    """HTTPS_PROXY for the login host unless NO_PROXY exempts it."""
    proxy = requests.utils.get_environ_proxies(login_url).get("https")
    return {"https": proxy} if proxy else {}


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


__all__ = [
    "AuthError",
    "ConnectionCheck",
    "Gateway",
    "GatewayError",
    "RecordResult",
    "RequestRejected",
    "TransientError",
    "classify",
    "gateway_for",
    "reusable_gateway",
]
