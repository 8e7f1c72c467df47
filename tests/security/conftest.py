"""Security tests reuse the chaos rig (real worker processes) where they need real logs,
and the admin tests' users and CRM settings (with known secrets) for the admin pages."""

from tests.admin.conftest import crm_settings, super_client, superuser  # noqa: F401
from tests.chaos.conftest import chaos, chaos_account, chaos_database, chaos_redis  # noqa: F401
