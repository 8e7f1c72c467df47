from __future__ import annotations

from django.apps import AppConfig


class ExampleConfig(AppConfig):
    name = "crmsync.example"
    label = "example"
    verbose_name = "Example host app"
    default_auto_field = "django.db.models.BigAutoField"
