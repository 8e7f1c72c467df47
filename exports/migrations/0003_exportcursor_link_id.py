from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("exports", "0002_beat_schedule")]

    operations = [
        migrations.AddField(
            model_name="exportcursor",
            name="link_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Celery task id of the export_batch link that last moved the cursor: "
                "the same link, redelivered or retried after it moved the cursor, goes on from "
                "here.",
                max_length=64,
                verbose_name="last link",
            ),
        ),
    ]
