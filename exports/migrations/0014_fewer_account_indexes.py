"""Drop the account foreign key's own index of CapturedKey and of ExportRecord: another
index starts with the account (CapturedKey's unique constraint; ExportRecord's
exportrecord_account_id and exportrecord_extid) and serves every query by account, so each
was one more index to write per row.

Only the index is dropped (found by introspection, on PostgreSQL and SQLite alike): a plain
AlterField would rebuild the foreign key constraint on PostgreSQL (checking every row
again) and the whole table on SQLite."""

import django.db.models.deletion
from django.db import migrations, models

TABLES = (("exports", "capturedkey"), ("exports", "exportrecord"))


def _account_indexes(schema_editor, model):
    """Names of the table's non-unique indexes on the account column alone."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(
            cursor, model._meta.db_table
        )
    return [
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] == ["account_id"]
    ]


def drop_account_indexes(apps, schema_editor):
    for app, name in TABLES:
        model = apps.get_model(app, name)
        for index in _account_indexes(schema_editor, model):
            schema_editor.execute(schema_editor._delete_index_sql(model, index))


def create_account_indexes(apps, schema_editor):
    for app, name in TABLES:
        model = apps.get_model(app, name)
        if not _account_indexes(schema_editor, model):
            field = model._meta.get_field("account")
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_give_up_after_days"),
        ("exports", "0013_key_map_rewrites_in_place"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(drop_account_indexes, create_account_indexes),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="capturedkey",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="exportrecord",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="export_records",
                        to="accounts.account",
                        verbose_name="account",
                    ),
                ),
            ],
        ),
    ]
