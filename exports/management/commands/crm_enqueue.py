"""`crm_enqueue --account SLUG FILE.jsonl`: append a file of records to the outbox.

An integer `external_id` is kept, as its decimal text (42 → "42"): host apps often use
their integer primary keys as external ids, the text form loses nothing, and Salesforce
compares external ids as text (42 and "42" are one record). The summary line says how
many records gave one, so it is never silent. Other non-strings (1.5, true) are refused
with their line number: their text form would be ambiguous (1.0 or 1?).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.json_lines import parse_lines
from exports.outbox import KEYS, InvalidRecord, enqueue_numbered

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
                result = enqueue_numbered(account, integer_ids.counted(parse_lines(stream)))
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
