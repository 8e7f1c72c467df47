"""The admin site: Django's, with the admin pages that are no model's changelist listed
with the models of their app (the index, the app's page and the side bar).

Exports › Export status (exports.views_admin) is one: it is listed for the staff who may
see it. `AdminConfig` (crmsync.apps) makes this class the default site, `admin.site`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

EXPORTS = "exports"


class AdminSite(admin.AdminSite):
    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        """Django's list, Export status among the models of Exports (whoever may see the
        page may see export cursors, so the app is listed)."""
        # Imported here: exports.views_admin wraps its views with this site as it loads.
        from exports.views_admin import index_entry as export_status_entry

        app_list = super().get_app_list(request, app_label)
        entry = export_status_entry(request) if app_label in (None, EXPORTS) else None
        for app in app_list:
            if entry is not None and app["app_label"] == EXPORTS:
                app["models"].append(entry)
                app["models"].sort(key=lambda model: model["name"])
        return app_list
