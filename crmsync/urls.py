from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from exports.intake.views import records_view
from exports.reporting.metrics import metrics_view
from exports.views_admin import status_urls
from exports.views_skip import skip_urls
from exports.views_story import story_urls

urlpatterns = [
    # Before admin.site.urls, whose catch-all would answer 404 under /admin/exports/.
    path("admin/exports/status/", include(status_urls)),
    path("admin/exports/", include([*story_urls, *skip_urls])),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/accounts/<slug:slug>/records", records_view, name="intake-records"),
]
