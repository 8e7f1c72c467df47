"""The captured keys' statements (`exports.captured.CapturedKey`): read a chunk's keys,
save their digests, change them only where they are still as read, and leave a tombstone
for a key whose row went before it was ever enqueued while a backfill may have read it.

A tombstone is a captured key with no digests (`{}`): "never enqueued" to every plan, and
a row a backfill's checked write cannot insert (`captured_since`). Capture writes one for a
deleted (or excluded) row whose key was never enqueued, while a backfill of the row's
export for its account is running: the backfill may have read the row before it went, and
its chunk must not enqueue it after the deletion enqueued nothing. The chunk rolls back and
is read again without the row.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, connection
from django.utils import timezone

from exports import jsontext
from exports.captured import BackfillProgress, CapturedKey
from exports.json_rows import bound_cursor

StateKey = tuple[int, str, str]  # (account id, export name, key)

# A backfill counts as running while its progress was written this recently (each chunk
# writes it, and so does its start): far longer than a chunk takes from its read to its
# write, and an abandoned backfill stops costing deletions a tombstone after it.
RUNNING_WITHIN = timedelta(hours=1)


class ChangedSinceRead(Exception):
    """A checked `write` found a key a save captured, changed or forgot after the rows it was
    planned from were read: the plan's records may hold older values than the save's."""


def mark_vanished(keys: list[StateKey]) -> int:
    """Tombstones for `keys` (rows gone, their keys never enqueued) of the exports and
    accounts a backfill is running for; the number of keys that needed one. Call it with
    the keys' accounts locked (as an enqueue locks them) and their captured state read
    after the lock: a backfill's chunk commits either before (the state read shows its
    keys, a deletion is enqueued instead) or after (it finds the tombstone). A backfill
    starts under the same lock, so one that this finds not running reads its first chunk
    after the deletion commits."""
    pairs = {(a, e) for a, e, _ in keys}
    running = set(
        BackfillProgress.objects.filter(
            account_id__in={a for a, _ in pairs},
            export__in={e for _, e in pairs},
            finished_at=None,
            updated_at__gte=timezone.now() - RUNNING_WITHIN,
        ).values_list("account_id", "export")
    )
    marks = [
        CapturedKey(account_id=a, export=e, key=k, digests={})
        for a, e, k in dict.fromkeys(keys)
        if (a, e) in running
    ]
    if marks:
        CapturedKey.objects.bulk_create(marks, ignore_conflicts=True)
    return len(marks)


def known_digests(wanted: list[StateKey]) -> dict[StateKey, dict[str, str]]:
    """The rows come back as one JSON array (decoded once, not a row and its digests at a
    time: a backfill reads thousands of keys a chunk)."""
    table = CapturedKey._meta.db_table
    if connection.vendor == "postgresql":
        keys_sql = "jsonb_array_elements(%s::jsonb) AS k(v)"
        account = "(k.v ->> 0)::bigint"
        rows = "json_agg(json_build_array(c.account_id, c.export, c.key, c.digests))::text"
    else:
        keys_sql = "(SELECT value AS v FROM json_each(%s)) AS k"
        account = "k.v ->> 0"
        rows = "json_group_array(json_array(c.account_id, c.export, c.key, json(c.digests)))"
    sql = (
        f"SELECT {rows} FROM {table} c JOIN {keys_sql}"  # noqa: S608
        f" ON c.account_id = {account} AND c.export = k.v ->> 1 AND c.key = k.v ->> 2"
    )
    with bound_cursor() as cursor:
        cursor.execute(sql, [jsontext.dumps(wanted)])
        (found,) = cursor.fetchone()
    return {(a, e, k): d for a, e, k, d in jsontext.loads(found or "[]")}


def captured_since(exc: Exception) -> bool:
    """Is `exc` a checked `write`'s insert of a key captured since it was read?"""
    text = str(exc)
    return isinstance(exc, IntegrityError) and (
        "one_captured_key" in text or f"{CapturedKey._meta.db_table}." in text
    )


def save_digests(keep: str, upsert: bool = True) -> None:
    """Upsert (account id, export, key, digests) rows in one statement, the rows as one JSON
    parameter whose digests go in as they are (no text within the text); not `upsert`:
    insert them (a key there already raises IntegrityError)."""
    table = CapturedKey._meta.db_table
    if connection.vendor == "postgresql":
        select = (
            "SELECT (v ->> 0)::bigint, v ->> 1, v ->> 2, v -> 3"
            " FROM jsonb_array_elements(%s::jsonb) AS r(v) WHERE true"
        )
    else:
        select = (
            "SELECT value ->> 0, value ->> 1, value ->> 2, value -> 3 FROM json_each(%s) WHERE true"
        )
    with bound_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, export, key, digests) {select}"  # noqa: S608
            + (_UPSERT if upsert else ""),
            [keep],
        )


def as_read(change: str, rows: str, expected: int) -> None:
    """A checked write's captured keys, each changed only where its digests are still those
    read: "update" sets the digests of `rows` (account id, export, key, new digests, the
    digests read), "delete" deletes `rows` (account id, export, key, the digests read).
    ChangedSinceRead when fewer than `expected` were."""
    table = CapturedKey._meta.db_table
    read = 4 if change == "update" else 3
    if connection.vendor == "postgresql":
        rows_sql = "jsonb_array_elements(%s::jsonb) AS r(v)"
        match = (
            "c.account_id = (r.v ->> 0)::bigint AND c.export = r.v ->> 1 AND c.key = r.v ->> 2"
            f" AND c.digests = r.v -> {read}"
        )
        sql = (
            f"UPDATE {table} c SET digests = r.v -> 3 FROM {rows_sql} WHERE {match}"  # noqa: S608
            if change == "update"
            else f"DELETE FROM {table} c USING {rows_sql} WHERE {match}"  # noqa: S608
        )
        sql = f"WITH done AS ({sql} RETURNING 1) SELECT count(*) FROM done"
    else:
        match = (
            f"{table}.account_id = r.value ->> 0 AND {table}.export = r.value ->> 1"
            f" AND {table}.key = r.value ->> 2"
            f" AND json({table}.digests) = json(r.value -> {read})"
        )
        sql = (
            f"UPDATE {table} SET digests = json(r.value -> 3) FROM json_each(%s) AS r"  # noqa: S608
            f" WHERE {match}"
            if change == "update"
            else f"DELETE FROM {table} WHERE EXISTS"  # noqa: S608
            f" (SELECT 1 FROM json_each(%s) AS r WHERE {match})"
        )
    with bound_cursor() as cursor:
        cursor.execute(sql, [rows])
        done = cursor.fetchone()[0] if connection.vendor == "postgresql" else cursor.rowcount
    if done != expected:
        raise ChangedSinceRead(f"{expected - done} of {expected} captured keys changed since read")


_UPSERT = " ON CONFLICT (account_id, export, key) DO UPDATE SET digests = EXCLUDED.digests"
