"""The host project with a mistaken mapping installed (app `broken`): `manage.py check`
must refuse it."""

from shopsite.settings import *  # noqa: F403
from shopsite.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "broken"]
