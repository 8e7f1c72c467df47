"""The outbox's index of a record's key: exportrecord_extid, a B-tree of (account, object,
external id, id), gives way to exportrecord_key, an index of `UPPER(external_id) || ' '
|| account_id` (`exports.models.RecordKey`): a hash index on PostgreSQL, a B-tree on
SQLite. A backfill's random keys made the B-tree cost ~7 µs of PostgreSQL's CPU a record
and outgrow the shared buffers (107 MB at a million records; the hash index: 36 MB); the
case-insensitive lookups (a key's story, re-exports) could not use it anyway."""

from django.db import migrations

EXPRESSION = "((UPPER(CAST(external_id AS TEXT)) || ' ' || CAST(account_id AS TEXT)))"


def create(apps, schema_editor):
    using = " USING hash" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX exportrecord_key ON exports_exportrecord{using} {EXPRESSION}"
    )


def drop(apps, schema_editor):
    schema_editor.execute("DROP INDEX exportrecord_key")


class Migration(migrations.Migration):
    dependencies = [("exports", "0016_records_account_unchecked")]

    operations = [
        migrations.RemoveIndex(model_name="exportrecord", name="exportrecord_extid"),
        migrations.RunPython(create, drop),
    ]
