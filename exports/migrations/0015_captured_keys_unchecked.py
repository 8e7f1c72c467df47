"""CapturedKey's account: no foreign key constraint in the database. Its check at each
commit was a tenth of a backfill's writing; Django deletes an account's captured keys with
the account (on_delete=CASCADE) all the same."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_intaketoken"),
        ("exports", "0014_fewer_account_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="capturedkey",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.account",
            ),
        ),
    ]
