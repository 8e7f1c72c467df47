"""JSON lines as the ways in read them (`crm_enqueue`'s file, the HTTP intake's
application/x-ndjson body): one JSON value a line, blank lines skipped, a bad line reported
as an InvalidRecord with its 1-based line number. What the JSON holds is checked by
`exports.record_input.validate`, not here.

`parse_json` is the JSON both read: an object may not repeat a key, and NaN / Infinity are
not numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from exports.record_input import MAX_RECORD_BYTES, InvalidRecord

# A record is at most MAX_RECORD_BYTES as compact UTF-8 JSON; \uXXXX escapes and
# indentation can make its line a few times longer, never this long.
MAX_LINE_BYTES = 4 * MAX_RECORD_BYTES


def parse_lines(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for every non-blank line, one line at a time.

    Raises InvalidRecord with the line number for a line that is too long, not UTF-8
    or not JSON; the outbox validates what the JSON holds.
    """
    line_number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line_number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise InvalidRecord(
                f"the line is longer than {MAX_LINE_BYTES:,} bytes; a record is at most "
                f"{MAX_RECORD_BYTES:,} bytes of JSON",
                line_number,
            )
        text = _decode(raw, line_number)
        if text.strip():
            yield line_number, parse_json(text, line_number)


def _decode(raw: bytes, line_number: int) -> str:
    if line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark, as some editors write
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord(
            f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not UTF-8; "
            "save the file as UTF-8",
            line_number,
        ) from None


def parse_json(text: str, line_number: int | None) -> Any:
    """`text` as JSON; an InvalidRecord at `line_number` saying why it is not."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        where = (
            f"line {exc.lineno} column {exc.colno}"
            if line_number is None
            else f"column {exc.colno}"
        )
        raise InvalidRecord(f"not valid JSON: {exc.msg} at {where}", line_number) from None
    except ValueError as exc:  # from the hooks below
        raise InvalidRecord(str(exc), line_number) from None
    except RecursionError:
        raise InvalidRecord("the JSON is nested too deeply", line_number) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object; keep one")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; write a finite number or null")
