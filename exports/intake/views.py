"""`POST /api/v1/accounts/<slug>/records`: the HTTP intake (docs/integration.md › The HTTP
intake).

Checks, in this order, each answering JSON `{"error", "message", ...}` and enqueuing
nothing when it refuses:

1. the method is POST (405, `Allow: POST`);
2. `Authorization: Bearer <token>` is a token of an account (401, `WWW-Authenticate`), of
   the account in the URL (403: the answer is the same whether that account exists or not);
3. the token's requests this minute (429, `Retry-After`);
4. the Content-Type (415), the body's size (413, before it is read when Content-Length says
   so), the Idempotency-Key's form (400);
5. a key seen with this body: the first answer again (`Idempotent-Replayed: true`); with
   another body: 422;
6. the records: at most CRMSYNC_INTAKE_MAX_RECORDS (413), each valid (400 naming the line
   and the problem), then enqueued, all or nothing, in order: 201 with `enqueued`,
   `first_id`, `last_id` and `ids` (200 when the body holds no record).

A database that does not answer is a 503 with Retry-After; any other failure a 500 whose
body says nothing of it (the traceback goes to the server's log). One `intake.request` line
is logged per request at INFO; the token never is.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts import intake_tokens
from accounts.models import IntakeToken
from exports.intake import bodies, rate, replies
from exports.intake.bodies import Refused
from exports.intake.models import REPLAY_HOURS
from exports.record_input import InvalidRecord

log = logging.getLogger(__name__)

# An Idempotency-Key: 1-255 visible ASCII characters (a UUID is the usual choice).
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
RETRY_AFTER_UNAVAILABLE_S = 5
REALM = 'Bearer realm="crmsync intake"'
UTF8 = {"ensure_ascii": False}  # answers are UTF-8 JSON, as bodies are
NO_TOKEN = (
    "Send the account's intake token as 'Authorization: Bearer <token>' (make one in the "
    "admin, Accounts › account › Create / rotate intake token, or with `manage.py "
    "crm_account intake-token SLUG`). Nothing was enqueued."
)
BAD_TOKEN = (
    "The bearer token is not a valid intake token (mistyped, revoked or replaced by a newer "
    "one). Nothing was enqueued."
)
OTHER_ACCOUNT = "This token may not write to the account in the URL. Nothing was enqueued."


@csrf_exempt
def records_view(request: HttpRequest, slug: str) -> JsonResponse:
    try:
        response = _records(request, slug)
    except DatabaseError as exc:
        response = _error(
            503,
            "unavailable",
            "The database did not answer; nothing was enqueued. Send the same request again "
            "(with the same Idempotency-Key) after Retry-After seconds.",
        )
        response["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_S)
        log.warning(
            "intake.request account=%s status=503 database_error=%s", slug, type(exc).__name__
        )
        return response
    except Exception:
        log.exception("intake.request account=%s status=500", slug)
        return _error(500, "internal", "The server failed; nothing was enqueued.")
    return response


def _records(request: HttpRequest, slug: str) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "POST records to this URL.")
        response["Allow"] = "POST"
        return response
    token = _token(request)
    if not isinstance(token, IntakeToken):
        response = _refused(slug, 401, "unauthorized", token)
        response["WWW-Authenticate"] = REALM
        return response
    if token.account.slug != slug:
        return _refused(slug, 403, "forbidden", OTHER_ACCOUNT)
    wait = rate.retry_after(token.digest, settings.CRMSYNC_INTAKE_RATE_PER_MINUTE)
    if wait is not None:
        response = _refused(slug, 429, "rate_limited", _too_often(wait))
        response["Retry-After"] = str(wait)
        return response
    try:
        return _enqueue(request, token)
    except Refused as refused:
        return _refused(slug, refused.status, refused.error, refused.message, **refused.extra)
    except InvalidRecord as invalid:
        return _refused(
            slug,
            400,
            "invalid_record",
            f"{invalid}. Nothing was enqueued.",
            line=invalid.line,
            problem=invalid.problem,
        )
    except replies.KeyReused as reused:
        return _refused(slug, 422, "idempotency_key_reused", _reused(reused))


def _enqueue(request: HttpRequest, token: IntakeToken) -> JsonResponse:
    """Steps 4-6 of the module's docstring, for an authorized request."""
    account = token.account
    media = bodies.media_type(request.META.get("CONTENT_TYPE", ""))
    body = _body(request)
    key = _idempotency_key(request)
    digest = replies.body_digest(media, body)
    reply = replies.replayed(account, key, digest) if key is not None else None
    if reply is None:
        numbered = bodies.records(media, body, settings.CRMSYNC_INTAKE_MAX_RECORDS)
        reply = replies.enqueue(account, numbered, key, digest)
    if key is not None:
        _forget_expired()
    log.info(
        "intake.request account=%s status=%s enqueued=%s first=%s last=%s key=%s replayed=%s",
        account.slug,
        reply.status,
        reply.answer.get("enqueued"),
        reply.answer.get("first_id"),
        reply.answer.get("last_id"),
        "yes" if key is not None else "no",
        "yes" if reply.replayed else "no",
    )
    response = JsonResponse(reply.answer, status=reply.status, json_dumps_params=UTF8)
    if reply.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _forget_expired() -> None:
    """Delete expired kept answers; the records are enqueued already, so a database error
    here is logged, not answered."""
    try:
        replies.forget_expired()
    except DatabaseError as exc:
        log.warning("intake.forget_expired database_error=%s", type(exc).__name__)


def _token(request: HttpRequest) -> IntakeToken | str:
    """The stored token the request's bearer token is, or why there is none (a message)."""
    scheme, _, sent = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        return NO_TOKEN
    found = intake_tokens.find(sent.strip())
    return found if found is not None else BAD_TOKEN


def _body(request: HttpRequest) -> bytes:
    """The body, at most CRMSYNC_INTAKE_MAX_BYTES (Refused 413 beyond, 411 for a chunked
    body, whose length Django cannot read)."""
    limit: int = settings.CRMSYNC_INTAKE_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if not declared and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise Refused(
            411, "length_required", "Send the body with a Content-Length. Nothing was enqueued."
        )
    size = int(declared) if declared.isdigit() else 0
    body = b"" if size > limit else request.read(limit + 1)
    if size > limit or len(body) > limit:
        raise Refused(
            413,
            "too_large",
            f"The body is over {limit:,} bytes, the most one request takes "
            "(CRMSYNC_INTAKE_MAX_BYTES): send the records in several requests, in order. "
            "Nothing was enqueued.",
            max_bytes=limit,
        )
    return body


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise Refused(
            400,
            "invalid_idempotency_key",
            "An Idempotency-Key is 1 to 255 visible ASCII characters (a UUID, say). Nothing "
            "was enqueued.",
        )
    return key


def _too_often(wait: int) -> str:
    per_minute = settings.CRMSYNC_INTAKE_RATE_PER_MINUTE
    return (
        f"More than {per_minute} requests this minute with this token "
        f"(CRMSYNC_INTAKE_RATE_PER_MINUTE). Nothing was enqueued: send it again in {wait} s "
        "(Retry-After)."
    )


def _reused(reused: replies.KeyReused) -> str:
    first = reused.first_used.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"The Idempotency-Key {reused.key!r} was used at {first} with another body. A key "
        f"stands for one body for {REPLAY_HOURS} hours: send a new key with a new "
        "body. Nothing was enqueued."
    )


def _refused(slug: str, status: int, error: str, message: str, **extra: Any) -> JsonResponse:
    log.info("intake.request account=%s status=%s error=%s", slug, status, error)
    return _error(status, error, message, **extra)


def _error(status: int, error: str, message: str, **extra: Any) -> JsonResponse:
    answer = {"error": error, "message": message, **extra}
    return JsonResponse(answer, status=status, json_dumps_params=UTF8)
