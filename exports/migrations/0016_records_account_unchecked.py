"""ExportRecord's account: no foreign key constraint in the database. Its check of every
record at commit was a fifth of PostgreSQL's work for an enqueue; every enqueue locks the
account's row and refuses a missing account, and Django deletes an account's records with
it (on_delete=CASCADE) all the same."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_intaketoken"),
        ("exports", "0015_captured_keys_unchecked"),
    ]

    operations = [
        migrations.AlterField(
            model_name="exportrecord",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="export_records",
                to="accounts.account",
                verbose_name="account",
            ),
        ),
    ]
