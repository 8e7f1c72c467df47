"""Query results in pages, as Salesforce returns them ("Execute a SOQL Query", REST API
Developer Guide).

A query whose result has more records than one batch answers the first batch with
`"done": false` and `"nextRecordsUrl": "/services/data/vXX.X/query/01gXXXXXXXXXXXXXXX-2000"`;
`GET` that URL for the next batch (the number is the offset of its first record), until a
page says `"done": true`. `totalSize` is always the whole result's size. The batch size is
2,000 unless the query request's `Sforce-Query-Options: batchSize=N` asks for N (kept
within 200..2,000, as Salesforce does). A locator lives until its last page is read, at
most LOCATOR_TTL_S, and only the newest MAX_LOCATORS are kept; an unknown one answers
400 INVALID_QUERY_LOCATOR.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sandbox.errors import ApiError
from sandbox.ids import BASE62

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_BATCH = 2000
MAX_LOCATORS = 20
LOCATOR_TTL_S = 15 * 60
BATCH_SIZE = re.compile(r"(?:^|[;,\s])batchSize\s*=\s*(\d+)", re.IGNORECASE)
NEXT_PAGE = re.compile(r"^(?P<locator>01g[A-Za-z0-9]{15})-(?P<offset>\d+)$")


@dataclass
class Cursor:
    """A query's whole result, served one batch at a time."""

    records: list[dict[str, Any]]
    batch: int
    version: str
    expires_at: float


def batch_size(headers: dict[str, str]) -> int:
    """The batch size a query request asks for, kept within Salesforce's 200..2,000."""
    match = BATCH_SIZE.search(headers.get("sforce-query-options", ""))
    if not match:
        return DEFAULT_BATCH
    return max(MIN_BATCH, min(MAX_BATCH, int(match.group(1))))


class QueryLocators:
    """Open query cursors by locator (thread-safe; bounded in number and age)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()

    def first_page(self, records: list[dict[str, Any]], batch: int, version: str) -> dict[str, Any]:
        """The query's answer: every record, or the first batch and a locator for the rest."""
        if len(records) <= batch:
            return {"totalSize": len(records), "done": True, "records": records}
        locator = "01g" + "".join(secrets.choice(BASE62) for _ in range(15))
        cursor = Cursor(records, batch, version, time.monotonic() + LOCATOR_TTL_S)
        with self._lock:
            self._drop_expired()
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_LOCATORS:
                self._cursors.popitem(last=False)
        return _page(locator, cursor, 0)

    def next_page(self, locator_and_offset: str) -> dict[str, Any]:
        """`GET query/<locator>-<offset>`: the batch from `offset`; 400 if unknown."""
        match = NEXT_PAGE.match(locator_and_offset)
        with self._lock:
            self._drop_expired()
            cursor = self._cursors.get(match["locator"]) if match else None
            if match is None or cursor is None or int(match["offset"]) >= len(cursor.records):
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            page = _page(match["locator"], cursor, int(match["offset"]))
            if page["done"]:
                del self._cursors[match["locator"]]
        return page

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for locator in [k for k, cursor in self._cursors.items() if cursor.expires_at < now]:
            del self._cursors[locator]


def _page(locator: str, cursor: Cursor, offset: int) -> dict[str, Any]:
    end = offset + cursor.batch
    page: dict[str, Any] = {"totalSize": len(cursor.records), "done": end >= len(cursor.records)}
    if not page["done"]:
        page["nextRecordsUrl"] = f"/services/data/v{cursor.version}/query/{locator}-{end}"
    page["records"] = cursor.records[offset:end]
    return page
