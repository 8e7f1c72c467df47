"""The one door to Salesforce. Only this package imports simple-salesforce.

A Gateway is built per account from its connection settings (`connection.Connection`) and works like this:

1. Log in with the configured OAuth flow by POSTing to `{login_url}/services/oauth2/token`
   ourselves; the token (encrypted) and the describes are shared by every worker through
   the Django cache, one login among all workers (`login`, `shared`).
2. Hand simple-salesforce the token and our own `requests.Session` (`session`): TLS
   verified against `ca_bundle` (or the system CAs) and immune to
   REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, a default timeout on every request, no redirect
   followed, `Sforce-Limit-Info` noted from every answer.
3. Every REST call the org answers is counted; a 401 (INVALID_SESSION_ID) takes a newer
   token (another worker's, or logs in) and repeats the call; every failure becomes one of our types (`errors`),
   classified by Salesforce's errorCode/statusCode and never by HTTP status alone
   (UNABLE_TO_LOCK_ROW comes as 400, REQUEST_LIMIT_EXCEEDED as 403).
4. A Collections upsert whose whole request is rejected (e.g. INVALID_FIELD) is split in
   halves, in order, until the record at fault is found (`salesforce.isolation`).
5. Several consecutive batches go out as ONE Composite request (one API call): a
   Collections subrequest per batch, executed in order (`upsert_batches`, `collections`).
6. Every request to the org's data API holds one of the org's call slots while it is in
   flight (`_send`, `org_slots`): at most CRMSYNC_ORG_CONCURRENCY at once per org, across
   every worker on every host. The login takes none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from salesforce import collections, isolation, org_slots, shared
from salesforce.collections import MAX_COLLECTION, MAX_COLLECTIONS_PER_COMPOSITE
from salesforce.connection import Connection
from salesforce.errors import (
    AuthError,
    ClaimRanOut,
    GatewayError,
    RequestRejected,
    TransientError,
    error_details,
    limits_refused,
    network_error,
    translate,
)
from salesforce.login import Login
from salesforce.session import CRMSession, describe_exchange, https_proxy, system_ca_file
from salesforce.wire import (
    Batch,
    RecordResult,
    classify,
    collection_body,
    encode_record,
    record_result,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionCheck:
    instance_url: str
    api_used: int | None
    api_limit: int | None
    api_version: str


def _fields_or_none(stored: Any) -> dict[str, dict[str, Any]] | None:
    """A shared describe as stored ({field: {type, caseSensitive}}), else None (a miss)."""
    if isinstance(stored, dict) and all(isinstance(v, dict) for v in stored.values()):
        return stored
    return None


class Gateway:
    """One account's connection to Salesforce (not shared between threads)."""

    def __init__(self, crm: Connection) -> None:
        self.crm = crm
        self.api_calls = 0
        self.api_usage: tuple[int, int] | None = None
        # What the calls since the last reset showed of the org's limits (call size adapts).
        self.cpu_limited = False
        self.slowest_call_s = 0.0
        self.instance_url: str | None = None
        self._described: dict[str, dict[str, dict[str, Any]]] = {}
        self._sf: Salesforce | None = None
        self._access_token: str | None = None
        self._login_failure: GatewayError | None = None
        self._org: org_slots.Org | None = None  # known after the login (`_client`)
        self._verbose: Callable[[str], None] | None = None
        # (monotonic) No write goes out after this: the sending link's claim (exports.run.claim).
        self.send_by: float | None = None
        # Set as a request goes out (after its org slot was taken): who handed the call to
        # this gateway's thread waits for it before working beside it (exports.run.overlap).
        self.going_out: threading.Event | None = None
        login_url = crm.login_url.rstrip("/")
        self._session = CRMSession(
            crm.timeout_seconds, crm.ca_bundle or system_ca_file(), https_proxy(login_url)
        )
        self._session.hooks["response"].append(self._on_response)
        self._login = Login(crm, self._session)

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
        """Upsert (or delete, `Batch.delete`) consecutive batches in ONE API call; one result
        per record, in order.

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
        collections.check_call(batches)
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
        """Log in afresh (not the shared token) and GET limits: proves secrets, TLS, API access."""
        self._client(fresh=True)
        try:
            limits = self._rest("limits/", "GET") or {}
        except GatewayError as exc:
            raise limits_refused(exc, self.crm.api_version) from None
        daily = limits.get("DailyApiRequests") or {}
        limit, remaining = daily.get("Max"), daily.get("Remaining")
        used = limit - remaining if isinstance(limit, int) and isinstance(remaining, int) else None
        if used is None and self.api_usage:
            used, limit = self.api_usage
        return ConnectionCheck(str(self.instance_url), used, limit, self.crm.api_version)

    def query(self, soql: str) -> list[dict[str, Any]]:
        """The records a SOQL query finds, every page of them."""
        answer = self._rest("query", "GET", params={"q": soql}) or {}
        records = list(answer.get("records") or [])
        while answer.get("nextRecordsUrl") and not answer.get("done", True):
            path = str(answer["nextRecordsUrl"]).split(f"/v{self.crm.api_version}/", 1)[-1]
            answer = self._rest(path, "GET") or {}
            records += answer.get("records") or []
        return [r for r in records if isinstance(r, dict)]

    # -- Collections ---------------------------------------------------------------------

    def field_types(self, sobject: str) -> dict[str, str]:
        """{field: describe type} of an sObject, from the shared cache or a describe call
        (kept CRMSYNC_DESCRIBE_TTL_S). An object describe does not know: {} (nothing to
        check; the upsert itself will say what is wrong)."""
        return {name: field["type"] for name, field in self._describe(sobject).items()}

    def external_id_case_sensitive(self, sobject: str, field: str) -> bool:
        """Does the org tell "ABC" and "abc" apart in this external id field? Real orgs
        usually do not (describe's `caseSensitive`); unknown fields count as they do not."""
        return bool(self._describe(sobject).get(field, {}).get("caseSensitive", False))

    def forget_types(self, sobject: str) -> None:
        """An answer proved the shared describe of `sobject` stale: read it again next time."""
        self._described.pop(sobject, None)
        shared.forget(self._describe_key(sobject))

    def _describe(self, sobject: str) -> dict[str, dict[str, Any]]:
        """The object's fields: this gateway's, else the shared describe, else one describe
        call among all workers (`shared.once`), shared for CRMSYNC_DESCRIBE_TTL_S."""
        known = self._described.get(sobject)
        if known is not None:
            return known
        key = self._describe_key(sobject)
        fields = shared.once(
            key,
            lambda: _fields_or_none(shared.get(key)),
            lambda: self._read_describe(sobject, key),
            self.crm.timeout_seconds,
        )
        self._described[sobject] = fields
        return fields

    def _read_describe(self, sobject: str, key: str) -> dict[str, dict[str, Any]]:
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
        shared.put(key, fields, settings.CRMSYNC_DESCRIBE_TTL_S)
        return fields

    def _describe_key(self, sobject: str) -> str:
        return f"{self._login.cache_key('sf-describe')}:{sobject}"

    def _upsert_call(self, batches: Sequence[Batch], all_or_none: bool) -> list[RecordResult]:
        """One API call, no narrowing down: a Collections request for one batch, a Composite
        request for several. A request refused as a whole gives every record its error,
        marked `whole`."""
        if len(batches) == 1:
            results = self._post_collection(batches[0], all_or_none)
        else:
            results = self._post_composite(batches, all_or_none)
        failed = [r for r in results if not r.ok]  # (of a thousand, usually none)
        if any(isolation.is_cpu_limit(r) for r in failed):
            self.cpu_limited = True
        if any(r.whole and r.error_code == "JSON_PARSER_ERROR" for r in failed):
            for batch in batches:  # a value the describe said was fine was not
                self.forget_types(batch.sobject)
        return results

    def _post_collection(self, batch: Batch, all_or_none: bool) -> list[RecordResult]:
        """One Collections request: an upsert by external id, or a deletion by Id."""
        # https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
        payload = batch.records
        try:
            if batch.delete:
                query = collections.delete_query(payload, all_or_none)
                answer = self._rest(f"composite/sobjects?{query}", "DELETE")
            else:
                path = f"composite/sobjects/{batch.sobject}/{batch.external_id_field}"
                body = collection_body(all_or_none, payload).encode()
                answer = self._rest(path, "PATCH", data=body)
        except RequestRejected as exc:
            return collections.refused_alike(exc, len(payload), all_or_none)
        return collections.collection_results(answer, len(payload))

    def _post_composite(self, batches: Sequence[Batch], all_or_none: bool) -> list[RecordResult]:
        """One Composite request of Collections subrequests."""
        prefix = f"/services/data/v{self.crm.api_version}/composite/sobjects"
        body = collections.composite_body(prefix, batches, all_or_none)
        answer = self._rest("composite", "POST", data=body.encode())
        return collections.composite_results(answer, batches)

    # -- REST calls ----------------------------------------------------------------------

    def _rest(self, path: str, method: str, **kwargs: Any) -> Any:
        """One REST call: send it; on 401 take a newer token and send it again.

        1. Send with the token in hand.
        2. On 401 (INVALID_SESSION_ID), take the shared token if another worker replaced
           the refused one, else log in (one login among all workers) and send again.
        3. A 401 again: if that token came from another worker, once more from step 2 (it
           may have been refused as well); a token this gateway just logged in for that is
           refused is an AuthError.
        """
        try:
            return self._send(self._client(), path, method, kwargs)
        except SalesforceExpiredSession:
            log.info("Salesforce session of %s expired; logging in again", self._login.who)
        try:
            return self._send(self._client(refused=self._access_token), path, method, kwargs)
        except SalesforceExpiredSession as exc:
            if self._login.logged_in:
                raise self._session_refused(exc) from None
        try:  # the token another worker shared was refused too
            return self._send(self._client(refused=self._access_token), path, method, kwargs)
        except SalesforceExpiredSession as exc:
            raise self._session_refused(exc) from None

    def _session_refused(self, exc: SalesforceExpiredSession) -> AuthError:
        code, message, _ = error_details(exc.content)
        return AuthError(
            f"Salesforce refused a freshly issued session for {self._login.who} "
            f"({code or 'HTTP 401'}: {message}). Check that the integration user may "
            "use the API and that the login URL belongs to the org.",
            code or "INVALID_SESSION_ID",
        )

    def _send(self, sf: Salesforce, path: str, method: str, kwargs: dict[str, Any]) -> Any:
        """Every request to the org's data API goes out here, holding one of the org's call
        slots while it is in flight (a TransientError when none frees up in time)."""
        assert self._org is not None  # set with the client
        with org_slots.held(self._org):
            return self._send_holding_slot(sf, path, method, kwargs)

    def _send_holding_slot(
        self, sf: Salesforce, path: str, method: str, kwargs: dict[str, Any]
    ) -> Any:
        if method != "GET" and self.send_by is not None and time.monotonic() > self.send_by:
            raise ClaimRanOut(
                "The link's claim to send for this account ran out before this request went "
                "out; nothing was sent. The link is retried and claims again.",
                "CLAIM_RAN_OUT",
            )
        self.api_calls += 1
        if self.going_out is not None:
            self.going_out.set()
        try:
            return sf.restful(path, method=method, **kwargs)
        except SalesforceExpiredSession:
            raise
        except SalesforceError as exc:
            raise translate(exc, f"{method} {path}") from None
        except requests.exceptions.JSONDecodeError:
            raise GatewayError(
                f"Salesforce answered {method} {path} with something that is not JSON.",
                "UNEXPECTED_ANSWER",
            ) from None
        except requests.RequestException as exc:
            self.api_calls -= 1  # it never reached the org: not an API call
            target = f"Salesforce at {self.instance_url}"
            raise network_error(exc, target, self.crm, self._login.origin) from exc

    def _client(self, refused: str | None = None, fresh: bool = False) -> Salesforce:
        """The simple-salesforce client: the one in hand, unless its token was `refused`
        (a 401) or a `fresh` login is asked for; else with the shared token or a login."""
        if self._sf is not None and refused is None and not fresh:
            return self._sf
        if self._login_failure is not None and refused is None and not fresh:
            failure, self._login_failure = self._login_failure, None
            raise failure
        token = self._login.fresh_token() if fresh else self._login.token(refused)
        self.instance_url = self._login.instance_origin(token["instance_url"])
        self._org = org_slots.org_for(
            self.instance_url, self.crm.client_id, self.crm.timeout_seconds
        )
        self._access_token = token["access_token"]
        self._sf = Salesforce(
            instance_url=self.instance_url,
            session_id=token["access_token"],
            session=self._session,
            version=self.crm.api_version,
            # Answers as plain dicts by json's C decoder, not OrderedDicts built in Python.
            object_pairs_hook=None,
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
            self._verbose(describe_exchange(response, login=self._login.in_progress))

    # -- login ---------------------------------------------------------------------------


__all__ = [
    "MAX_COLLECTION",
    "MAX_COLLECTIONS_PER_COMPOSITE",
    "AuthError",
    "Batch",
    "ClaimRanOut",
    "ConnectionCheck",
    "Gateway",
    "GatewayError",
    "RecordResult",
    "RequestRejected",
    "TransientError",
    "classify",
    "encode_record",
]
