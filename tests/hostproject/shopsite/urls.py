"""crmsync's pages (its admin pages under admin/, /metrics, the HTTP intake) beside the
project's own."""

from django.urls import include, path

urlpatterns = [
    path("", include("crmsync.urls")),
]
