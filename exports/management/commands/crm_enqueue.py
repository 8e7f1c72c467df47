"""`crm_enqueue --account SLUG FILE.jsonl`: append a file of records to the outbox.

An integer `external_id` is kept, as its decimal text (42 → "42"): host apps often use
their integer primary keys as external ids, the text form loses nothing, and Salesforce
compares external ids as text (42 and "42" are one record). The summary line says how
many records gave one, so it is never silent. Other non-strings (1.5, true) are refused
with their line number: their text form would be ambiguous (1.0 or 1?).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.outbox import KEYS, MAX_RECORD_BYTES, InvalidRecord, enqueue_numbered

# A record is at most MAX_RECORD_BYTES as compact UTF-8 JSON; \uXXXX escapes and
# indentation can make its line a few times longer, never this long.
MAX_LINE_BYTES = 4 * MAX_RECORD_BYTES
NOTHING_WRITTEN = "nothing of the file was written"


class Command(BaseCommand):
    help = (
        "Append records to an account's export outbox from a JSON lines file (- reads stdin). "
        f"One JSON object a line with the keys {', '.join(KEYS)}; blank lines are ignored. "
        "A bad line stops the command with its line number, and nothing of the file is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, metavar="SLUG", help="The account's slug.")
        parser.add_argument(
            "file", metavar="FILE.jsonl", help="The JSON lines file, or - for stdin."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = _account(options["account"])
        path: str = options["file"]
        integer_ids = _IntegerIds()
        with _open(path) as stream:
            try:
                result = enqueue_numbered(account, integer_ids.counted(_parse_lines(stream)))
            except InvalidRecord as exc:
                raise CommandError(f"{exc} — {NOTHING_WRITTEN}", returncode=2) from None
            except OSError as exc:
                raise CommandError(
                    f"cannot read {path}: {exc.strerror or exc} — {NOTHING_WRITTEN}", returncode=2
                ) from None
        if result.count == 0:
            self.stdout.write(f"enqueued 0 records for {account.slug} (the file holds no records)")
            return
        ids = (
            f"id {result.first_id}"
            if result.count == 1
            else f"ids {result.first_id}–{result.last_id}"
        )
        self.stdout.write(
            f"enqueued {_records(result.count)} for {account.slug} ({ids}){integer_ids.note()}"
        )


class _IntegerIds:
    """Counts the records whose external_id is a JSON integer (stored as its text)."""

    def __init__(self) -> None:
        self.count = 0
        self.example: int | None = None

    def counted(self, lines: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        for number, item in lines:
            value = item.get("external_id") if isinstance(item, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                self.count += 1
                self.example = value if self.example is None else self.example
            yield number, item

    def note(self) -> str:
        if not self.count:
            return ""
        return (
            f"; {self.count} gave external_id as an integer, stored as text "
            f'({self.example} → "{self.example}")'
        )


def _records(count: int) -> str:
    """ "1 record", "3 records"."""
    return f"{count} record{'' if count == 1 else 's'}"


def _account(slug: str) -> Account:
    try:
        return Account.objects.get(slug=slug)
    except Account.DoesNotExist:
        raise CommandError(
            f"no account with slug {slug!r}; create it with `manage.py crm_account create {slug}` "
            "or list them with `manage.py crm_account list`",
            returncode=2,
        ) from None


def _open(path: str) -> AbstractContextManager[IO[bytes]]:
    """The file (or stdin) as bytes, so each line is decoded on its own."""
    if path == "-":
        return _Unclosed(sys.stdin.buffer)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CommandError(f"cannot open {path}: {exc.strerror or exc}", returncode=2) from None


class _Unclosed:
    """stdin inside a `with`, without closing it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None


def _parse_lines(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
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
            yield line_number, _parse_json(text, line_number)


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


def _parse_json(text: str, line_number: int) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InvalidRecord(
            f"not valid JSON: {exc.msg} at column {exc.colno}", line_number
        ) from None
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
