"""Security tests reuse the chaos rig (real worker processes) where they need real logs."""

from tests.chaos.conftest import chaos, chaos_account, chaos_redis  # noqa: F401
