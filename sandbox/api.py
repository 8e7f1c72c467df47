"""Routing: Salesforce's REST resources plus the sandbox's own control endpoints.

Every data request (`/services/data/vXX.X/...`) goes through the same steps:
0. with `faults.max_concurrent_requests` (N > 0) requests in flight already, it is refused
   after the latency: 403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded."
   (stats.py; it is not counted against the daily limit);
1. wait `faults.latency_ms`; a stalled request (`stall_next`, after `stall_after` more
   requests) waits `stall_ms` more;
2. an injected failure (`fail_next`) answers `fail_status` with a Salesforce body;
3. a missing, unknown or expired token answers 401 INVALID_SESSION_ID;
4. the call is counted against `api_daily_limit`; above it, 403 REQUEST_LIMIT_EXCEEDED
   (the limits resource is neither counted nor refused, so a client can always look);
5. the resource answers;
6. an answer whose Apex used CPU time (apex.py) waits that long times
   `faults.server_time_scale`, holding no lock.
`Sforce-Limit-Info: api-usage=N/M` goes on every data response. From arrival to answer a
request is in flight; `GET /sandbox/stats` tells the peak and the logins answered.
An unexpected exception answers 500 UNKNOWN_EXCEPTION and is logged, never sent.

The sandbox's own endpoints (`/sandbox/*`) need header X-Sandbox-Token (control.py).

`POST .../composite` (composite.py) is one such request: its subrequests go to the same
data routes' handlers directly, skipping steps 1-4 (no latency, stall, injected failure,
token check or API charge of their own), strictly in order; with allOrNone they run in one
store transaction (upserts and deletes alike), rolled back at the first failure.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox import control, errors, resources
from sandbox.apex import CpuMeter
from sandbox.auth import OAuthError
from sandbox.composite import Subrequest, composite_response, failed, parse_composite
from sandbox.errors import ApiError
from sandbox.json_bodies import parse_json
from sandbox.org import Org
from sandbox.rules import RulesError, parse_faults, parse_rules
from sandbox.transport import Request, Response

log = logging.getLogger("sandbox")

DATA_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)(?P<rest>/.*)?$")
Handler = Callable[..., Response]


class Api:
    def __init__(self, org: Org, stopping: threading.Event) -> None:
        self.org = org
        self.stopping = stopping
        R = resources
        self.data_routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"^/limits/?$"), R.limits),
            ("GET", re.compile(r"^/query/?$"), R.query),
            ("GET", re.compile(r"^/query/(?P<locator>[^/]+)/?$"), R.query_more),
            ("GET", re.compile(r"^/sobjects/?$"), R.describe_global),
            ("GET", re.compile(r"^/sobjects/(?P<sobject>\w+)/describe/?$"), R.describe),
            ("POST", re.compile(r"^/composite/?$"), self.composite),
            ("DELETE", re.compile(r"^/composite/sobjects/?$"), R.delete_collection),
            (
                "PATCH",
                re.compile(r"^/composite/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/?$"),
                R.upsert_collection,
            ),
            (
                "PATCH",
                re.compile(r"^/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?$"),
                R.upsert_one,
            ),
            (
                "GET",
                re.compile(r"^/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?$"),
                R.get_by_external_id,
            ),
            (
                "DELETE",
                re.compile(r"^/sobjects/(?P<sobject>\w+)/(?P<field>\w+)/(?P<value>[^/]+)/?$"),
                R.delete_by_external_id,
            ),
            ("GET", re.compile(r"^/sobjects/(?P<sobject>\w+)/(?P<sf_id>\w+)/?$"), R.get_by_id),
            ("DELETE", re.compile(r"^/sobjects/(?P<sobject>\w+)/(?P<sf_id>\w+)/?$"), R.delete_one),
        ]
        self.control_routes: dict[tuple[str, str], Handler] = {
            ("GET", "/sandbox/rules"): self.get_rules,
            ("PUT", "/sandbox/rules"): self.put_rules,
            ("PATCH", "/sandbox/faults"): self.patch_faults,
            ("GET", "/sandbox/writes"): self.get_writes,
            ("DELETE", "/sandbox/data"): self.delete_data,
            ("POST", "/sandbox/expire_tokens"): self.expire_tokens,
            ("GET", "/sandbox/stats"): lambda request: Response(200, org.stats.snapshot()),
            ("DELETE", "/sandbox/stats"): lambda request: Response(200, org.stats.reset()),
            ("GET", "/sandbox/health"): lambda request: Response(200, {"ok": True}),
        }

    def dispatch(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except ApiError as exc:
            return Response(exc.status, exc.body())
        except Exception:
            return _unexpected_error(request)

    def _dispatch(self, request: Request) -> Response:
        data = DATA_PATH.match(request.path)
        if data:
            return self._data_request(request, data["version"], data["rest"] or "/")
        if request.path.rstrip("/") == "/services/oauth2/token":
            return self._token(request)
        if request.path.rstrip("/") == "/services/data":
            return Response(200, resources.versions())
        if control.is_control(request):
            refused = control.refusal(request, self.org.control_token, self.org.data_dir)
            if refused is not None:
                return refused
        handler = self.control_routes.get((request.method, request.path.rstrip("/")))
        if handler is not None:
            return handler(request)
        raise errors.not_found()

    # -- Salesforce -----------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        self._sleep(self.org.faults.latency_ms())
        if request.method != "POST":
            return Response(
                405, [{"message": "HTTP Method not allowed", "errorCode": "METHOD_NOT_ALLOWED"}]
            )
        form = {
            key: values[-1]
            for key, values in parse_qs(request.body.decode("utf-8", "replace")).items()
        }
        form = {**request.query, **form}
        try:
            body = self.org.tokens.login(form, self.org.rules, self.org.url)
        except OAuthError as exc:
            return Response(exc.status, exc.body())
        self.org.stats.count_login()
        return Response(200, body)

    def _data_request(self, request: Request, version: str, rest: str) -> Response:
        faults, stats = self.org.faults, self.org.stats
        if not stats.enter(faults.max_concurrent_requests()):
            self._sleep(faults.latency_ms())
            refused = errors.concurrent_limit()
            response = Response(refused.status, refused.body())
        else:
            try:
                response = self._held_data_request(request, version, rest)
            finally:
                stats.leave()
        used, limit = faults.api_usage()
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
        return response

    def _held_data_request(self, request: Request, version: str, rest: str) -> Response:
        """Steps 1-6 of a data request that is in flight."""
        faults = self.org.faults
        self._sleep(faults.latency_ms())
        self._sleep(faults.take_stall_ms())
        try:
            response = self._serve_data(request, version, rest)
        except ApiError as exc:
            response = Response(exc.status, exc.body())
        except Exception:
            response = _unexpected_error(request)
        if response.server_ms:
            self._sleep(response.server_ms * faults.server_time_scale())
        return response

    def _serve_data(self, request: Request, version: str, rest: str) -> Response:
        status = self.org.faults.take_failure()
        if status is not None:
            raise errors.injected_failure(status)
        if not self.org.tokens.is_valid(_bearer_token(request)):
            raise ApiError(401, "INVALID_SESSION_ID", errors.SESSION_EXPIRED)
        handler, params = self._route(request, rest)
        if handler is not resources.limits:
            charge = self.org.faults.charge_api_call()
            if not charge.allowed:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return handler(self.org, request, version, **params)

    def _route(self, request: Request, rest: str) -> tuple[Handler, dict[str, str]]:
        allowed = []
        for method, pattern, handler in self.data_routes:
            match = pattern.match(rest)
            if not match:
                continue
            if method == request.method:
                return handler, {k: unquote(v) for k, v in match.groupdict().items()}
            allowed.append(method)
        if allowed:
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(sorted(set(allowed)))}",
            )
        raise errors.not_found()

    def composite(self, org: Org, request: Request, version: str) -> Response:
        """POST composite: the subrequests, in order, as one API call (see composite.py).

        Without allOrNone each subrequest is its own Apex transaction; with it, all of
        them are one (one CPU meter), run in one store transaction.
        """
        all_or_none, subrequests = parse_composite(request, version)
        if not all_or_none:
            responses = [self._subrequest(sub, version) for sub in subrequests]
            answer = composite_response(subrequests, responses, failure=None)
            answer.server_ms = sum(response.server_ms for response in responses)
            return answer
        cpu = CpuMeter(org.faults.cpu_limit_ms())
        for sub in subrequests:
            sub.request.cpu = cpu
        responses = []
        failure = None
        with org.store.transaction() as transaction:
            for position, sub in enumerate(subrequests):
                response = self._subrequest(sub, version)
                responses.append(response)
                if failed(response):
                    failure = position
                    transaction.rollback()
                    break
        answer = composite_response(subrequests, responses, failure)
        answer.server_ms = cpu.spent_ms
        return answer

    def _subrequest(self, sub: Subrequest, version: str) -> Response:
        """One subrequest through the data routes (no faults, token check or API charge)."""
        try:
            handler, params = self._route(sub.request, sub.rest)
            return handler(self.org, sub.request, version, **params)
        except ApiError as exc:
            return Response(exc.status, exc.body())
        except Exception:
            return _unexpected_error(sub.request)
        finally:
            sub.request.parsed = None  # done with: let its records go now, not with the rest

    def _sleep(self, milliseconds: float) -> None:
        if milliseconds > 0:
            self.stopping.wait(milliseconds / 1000)

    # -- the sandbox's own endpoints -------------------------------------------------------

    def get_rules(self, request: Request) -> Response:
        raw = dict(self.org.rules.raw)
        raw["faults"] = self.org.faults.snapshot()
        return Response(200, raw)

    def put_rules(self, request: Request) -> Response:
        try:
            rules = parse_rules(parse_json(request.body))
        except RulesError as exc:
            return Response(400, {"error": "invalid_rules", "message": str(exc)})
        self.org.apply_rules(rules)
        return self.get_rules(request)

    def patch_faults(self, request: Request) -> Response:
        try:
            faults = parse_faults(parse_json(request.body))
        except RulesError as exc:
            return Response(400, {"error": "invalid_faults", "message": str(exc)})
        self.org.faults.update(faults)
        return Response(200, self.org.faults.snapshot())

    def get_writes(self, request: Request) -> Response:
        since = _int_param(request, "since", 0)
        limit = _int_param(request, "limit", None)
        with self.org.store.lock:
            writes = self.org.store.writes(since, limit)
        last_seq = writes[-1]["seq"] if writes else since
        return Response(200, {"writes": writes, "last_seq": last_seq})

    def delete_data(self, request: Request) -> Response:
        with self.org.store.lock:
            self.org.store.clear_data()
        self.org.faults.reset_api_usage()
        self.org.stats.reset()
        return Response(200, {"deleted": True})

    def expire_tokens(self, request: Request) -> Response:
        self.org.tokens.expire_all()
        return Response(200, {"expired": True})


def _unexpected_error(request: Request) -> Response:
    """Log the traceback to stderr with an id; answer 500 UNKNOWN_EXCEPTION naming the id."""
    error_id = uuid.uuid4().hex[:12]
    log.exception("sandbox: unexpected error %s on %s %s", error_id, request.method, request.path)
    message = f"An unexpected error occurred. ErrorId: {error_id} (details in the sandbox's stderr)"
    return Response(500, [{"message": message, "errorCode": "UNKNOWN_EXCEPTION"}])


def _bearer_token(request: Request) -> str:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""


def _int_param(request: Request, name: str, default: Any) -> Any:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise ApiError(
            400, "INVALID_QUERY_PARAMETER", f"{name} must be a whole number, got {value!r}"
        )
    return int(value)
