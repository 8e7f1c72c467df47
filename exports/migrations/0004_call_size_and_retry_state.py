from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("exports", "0003_exportcursor_link_id")]

    operations = [
        migrations.AddField(
            model_name="exportcursor",
            name="records_per_call",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="What the next call carries, adapted to the org (Apex CPU limit, slow calls) under the batch size ceiling; empty: the ceiling.",
                null=True,
                verbose_name="records per call",
            ),
        ),
        migrations.AddField(
            model_name="exportcursor",
            name="retry_only",
            field=models.JSONField(
                blank=True,
                help_text="Pause off: the records of the last call that failed transiently; the retry sends only these. Kept here, not in the task message, so a message cannot skip records.",
                null=True,
                verbose_name="records to retry",
            ),
        ),
        migrations.AddField(
            model_name="exportcursor",
            name="retry_until_id",
            field=models.BigIntegerField(
                blank=True,
                help_text="The last record of the call being retried: once the retried records go through, the cursor moves here.",
                null=True,
                verbose_name="retried call ends at",
            ),
        ),
    ]
