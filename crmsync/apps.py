"""The admin's app config: Django's, with the project's admin site (crmsync.admin_site)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "crmsync.admin_site.AdminSite"
