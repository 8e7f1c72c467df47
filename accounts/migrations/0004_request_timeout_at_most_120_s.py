# The Salesforce request timeout is 0.1 to 120 seconds: in the model's validators and as a
# check constraint. Other expiries follow from it (the login lock, the org slots and the
# send claim in the shared cache); an unbounded one (1e17) made Redis refuse them. A stored
# value outside the bounds is brought to the nearest bound first.

import accounts.validators
import django.core.validators
from django.db import migrations, models


def into_bounds(apps, schema_editor):
    CRMSettings = apps.get_model("accounts", "CRMSettings")
    CRMSettings.objects.filter(timeout_seconds__gt=120).update(timeout_seconds=120)
    CRMSettings.objects.filter(timeout_seconds__lt=0.1).update(timeout_seconds=0.1)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_password_flow_deprecated'),
    ]

    operations = [
        migrations.AlterField(
            model_name='crmsettings',
            name='timeout_seconds',
            field=models.FloatField(default=30.0, help_text='Longest wait for one Salesforce request before it is retried (0.1–120 s).', validators=[accounts.validators.validate_finite, django.core.validators.MinValueValidator(0.1), django.core.validators.MaxValueValidator(120)], verbose_name='request timeout (s)'),
        ),
        migrations.RunPython(into_bounds, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='crmsettings',
            constraint=models.CheckConstraint(condition=models.Q(('timeout_seconds__gte', 0.1), ('timeout_seconds__lte', 120)), name='crmsettings_timeout_0_1_to_120_s', violation_error_message='The request timeout must be 0.1 to 120 seconds.'),
        ),
    ]
