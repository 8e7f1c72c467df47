"""A small Django project that installs crmsync's apps beside its own (`shop`): how a team
adopts crmsync inside its project (docs/integration.md › Installed into your project).

Its Celery app is made here, before anything imports crmsync, as Celery's Django guide has
it: crmsync then sends its tasks through this app and creates none of its own.
"""

from shopsite.celery import app as celery_app

__all__ = ["celery_app"]
