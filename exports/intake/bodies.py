"""A request body of the HTTP intake as numbered records, and why it is refused.

Two bodies, records shaped exactly like `crm_enqueue`'s lines (exports.record_input):

- `application/x-ndjson`: one JSON object a line, blank lines skipped, read by
  exports.json_lines as `crm_enqueue` reads its file; a record's number is its line.
- `application/json`: one JSON array of those objects; a record's number is its position
  in the array (1 = the first).

JSON here refuses repeated keys and NaN / Infinity, as `crm_enqueue` does. A problem is an
`InvalidRecord` at its line (a 400 naming the line and the field), or a `Refused` carrying
the HTTP status: a media type we do not read (415), more records than the limit (413).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from exports.json_lines import parse_json, parse_lines
from exports.record_input import InvalidRecord

NDJSON = "application/x-ndjson"
JSON = "application/json"
MEDIA_TYPES = (NDJSON, JSON)


class Refused(Exception):
    """A request refused before anything is enqueued: its HTTP status, the answer's `error`
    code and `message`, and further keys of the answer."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


def media_type(content_type: str) -> str:
    """The body's media type from its Content-Type header, one of MEDIA_TYPES; a charset, if
    given, is UTF-8. Else Refused (415)."""
    base, *params = (part.strip() for part in content_type.split(";"))
    charset = next(
        (
            value.strip('"').lower()
            for name, _, value in (p.partition("=") for p in params)
            if name.strip().lower() == "charset"
        ),
        "utf-8",
    )
    if base.lower() in MEDIA_TYPES and charset in ("utf-8", "utf8"):
        return base.lower()
    got = f"Content-Type {content_type[:100]!r}" if content_type else "no Content-Type"
    raise Refused(
        415,
        "unsupported_media_type",
        f"Send Content-Type: {NDJSON} (one record a line) or {JSON} (an array of records), "
        f"in UTF-8; got {got}. Nothing was enqueued.",
    )


def records(media: str, body: bytes, max_records: int) -> list[tuple[int, Any]]:
    """(number, parsed record) for each record of `body`, at most `max_records`."""
    if media == NDJSON:
        numbered: Iterable[tuple[int, Any]] = parse_lines(io.BytesIO(body))
    else:
        numbered = enumerate(_array(body), start=1)
    found: list[tuple[int, Any]] = []
    for item in numbered:
        if len(found) == max_records:
            raise Refused(
                413,
                "too_many_records",
                f"The body holds more than {max_records:,} records, the most one request "
                f"takes (CRMSYNC_INTAKE_MAX_RECORDS): send them in several requests, in "
                "order. Nothing was enqueued.",
                max_records=max_records,
            )
        found.append(item)
    return found


def _array(body: bytes) -> list[Any]:
    """An application/json body: an array of records."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]  # a UTF-8 byte order mark
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(
            400,
            "invalid_json",
            f"Byte {exc.start + 1} of the body is not UTF-8 (0x{body[exc.start]:02x}): send "
            "UTF-8. Nothing was enqueued.",
        ) from None
    if not text.strip():
        return []
    try:
        parsed = parse_json(text, None)
    except InvalidRecord as exc:
        raise Refused(
            400,
            "invalid_json",
            f"The body cannot be read as JSON ({exc.problem}). Nothing was enqueued.",
        ) from None
    if not isinstance(parsed, list):
        raise Refused(
            400,
            "invalid_json",
            f"An {JSON} body is an array of records ([{{...}}, {{...}}]); this one is not an "
            f"array. Send one record a line as {NDJSON} instead if you prefer. Nothing was "
            "enqueued.",
        )
    return parsed
