"""`manage.py check --deploy --fail-level WARNING` passes with production's environment
(keys set, nothing else): Secure cookies, HSTS, the https:// redirect and the proxy's
TLS header are the defaults. A development switch left on in production is a warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
DEV_VARS = ("CRMSYNC_DEV", "DJANGO_DEBUG", "DJANGO_HTTPS", "DJANGO_SECURE_PROXY_SSL_HEADER")


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DEV_VARS}
    return env | {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CRMSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "crmsync.example.com",
        "CRMSYNC_VAR_DIR": str(tmp_path),
        **extra,
    }


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_production_settings_pass_with_no_warning(tmp_path: Path) -> None:
    process = check_deploy(production_env(tmp_path))

    assert process.returncode == 0, process.stderr
    assert "no issues" in process.stdout


def test_the_development_switch_fails_it(tmp_path: Path) -> None:
    process = check_deploy(production_env(tmp_path, CRMSYNC_DEV="1"))

    assert process.returncode != 0
    assert "crmsync.W001" in process.stderr
