"""The key map's rewrites in place: a key written again (a record changed) is updated on its
own page (PostgreSQL's HOT update, no index entry) when the page has room, so its pages keep
half of their space free; and its rows are in two indexes fewer (the account's index, which
the unique key's starts with; the tombstones' index holds deleted keys only)."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "exports_salesforcekey"


def room_to_rewrite(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = 50)")


def no_room_kept(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_intaketoken"),
        ("exports", "0012_results_per_call"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="salesforcekey", name="salesforcekey_deleted"),
        migrations.AlterField(
            model_name="salesforcekey",
            name="account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="salesforce_keys",
                to="accounts.account",
                verbose_name="account",
            ),
        ),
        migrations.AddIndex(
            model_name="salesforcekey",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", False)),
                fields=["deleted_at"],
                name="salesforcekey_tombstones",
            ),
        ),
        migrations.RunPython(room_to_rewrite, no_room_kept),
    ]
