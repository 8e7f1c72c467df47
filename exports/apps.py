from __future__ import annotations

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Exports"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from exports import signals  # noqa: F401
        from exports.mapping import checks  # noqa: F401  (the mappings' system checks)
        from exports.mapping.signals import connect

        autodiscover_modules("crm_exports")  # each app's crm_exports.py declares its exports
        connect()
