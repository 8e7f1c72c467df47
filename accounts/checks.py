"""`manage.py check --deploy` warns when a production box runs with development keys."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def development_switch_is_off(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if not settings.CRMSYNC_DEV:
        return []
    return [
        Warning(
            "CRMSYNC_DEV (or DJANGO_DEBUG) is on: missing keys come from var/dev-keys.env "
            "and the HTTPS settings default to off.",
            hint="In production set DJANGO_SECRET_KEY and CRMSYNC_ENCRYPTION_KEY and leave "
            "CRMSYNC_DEV and DJANGO_DEBUG unset (docs/configuration.md).",
            id="crmsync.W001",
        )
    ]
