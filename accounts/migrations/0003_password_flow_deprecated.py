# The username-password flow is deprecated (Salesforce retires it on February 20, 2027);
# help texts name the External Client App. Choices and help texts only: no schema change.

import accounts.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_notification_settings'),
    ]

    operations = [
        migrations.AlterField(
            model_name='crmsettings',
            name='auth_flow',
            field=models.CharField(choices=[('client_credentials', 'OAuth client credentials (recommended)'), ('jwt_bearer', 'OAuth JWT bearer'), ('password', 'Username and password (deprecated, retired February 20, 2027)')], default='client_credentials', help_text='How crmsync logs in, through an External Client App in Salesforce: client credentials (recommended) or JWT bearer. The username-password flow is deprecated: Salesforce retires it on February 20, 2027.', max_length=32, verbose_name='auth flow'),
        ),
        migrations.AlterField(
            model_name='crmsettings',
            name='client_id',
            field=models.CharField(blank=True, help_text='The consumer key of the External Client App.', max_length=255, verbose_name='client id'),
        ),
        migrations.AlterField(
            model_name='crmsettings',
            name='password',
            field=accounts.fields.EncryptedTextField(blank=True, help_text='Password (with security token) for the deprecated username-password flow.', verbose_name='password'),
        ),
        migrations.AlterField(
            model_name='crmsettings',
            name='private_key',
            field=accounts.fields.EncryptedTextField(blank=True, help_text='PEM private key for the JWT bearer flow (of the certificate uploaded to the External Client App).', verbose_name='private key'),
        ),
    ]
