"""Keys fail closed: with DEBUG off and no development switch, a missing
DJANGO_SECRET_KEY or CRMSYNC_ENCRYPTION_KEY stops every process at start (manage.py, the
Celery worker, the web server's WSGI module) with a message naming the variable; the
encryption key must be a real Fernet key, never derived from anything else. On a
development machine (CRMSYNC_DEV=1) keys come from var/dev-keys.env, private to its user
and ignored by git, the same for every process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
KEY_VARS = ("DJANGO_SECRET_KEY", "CRMSYNC_ENCRYPTION_KEY", "CRMSYNC_DEV", "DJANGO_DEBUG")
PRINT_KEYS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.SECRET_KEY); print(','.join(settings.CRMSYNC_ENCRYPTION_KEYS))"
)
ENTRY_POINTS = {
    "manage.py": [sys.executable, "manage.py", "check"],
    "celery worker": [CELERY, "-A", "crmsync", "worker", "--pool", "solo", "-c", "1"],
    "wsgi": [sys.executable, "-c", "import crmsync.wsgi"],
}


def run(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    base |= {"CRMSYNC_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "crmsync.settings"}
    return subprocess.run(
        argv, cwd=REPO, env=base | env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("argv", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_no_secret_key_stops_every_process(argv: list[str], tmp_path: Path) -> None:
    process = run(argv, tmp_path, CRMSYNC_ENCRYPTION_KEY=Fernet.generate_key().decode())

    assert process.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in process.stderr


@pytest.mark.parametrize("argv", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_no_encryption_key_stops_every_process(argv: list[str], tmp_path: Path) -> None:
    process = run(argv, tmp_path, DJANGO_SECRET_KEY="s" * 50)

    assert process.returncode != 0
    assert "CRMSYNC_ENCRYPTION_KEY is not set" in process.stderr


def test_a_passphrase_is_not_an_encryption_key(tmp_path: Path) -> None:
    passphrase = "correct-horse-battery-staple"
    process = run(
        ENTRY_POINTS["manage.py"],
        tmp_path,
        DJANGO_SECRET_KEY="s" * 50,
        CRMSYNC_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},{passphrase}",
    )

    assert process.returncode != 0
    assert "CRMSYNC_ENCRYPTION_KEY: key 2 of 2 is not a Fernet key" in process.stderr
    assert passphrase not in process.stderr


def test_the_keys_given_are_the_keys_used(tmp_path: Path) -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    process = run(
        [sys.executable, "-c", PRINT_KEYS],
        tmp_path,
        DJANGO_SECRET_KEY="k" * 50,
        CRMSYNC_ENCRYPTION_KEY=f" {new} , {old} ",
    )

    assert process.stdout.splitlines() == ["k" * 50, f"{new},{old}"], process.stderr


def test_a_development_machine_shares_one_private_key_file(tmp_path: Path) -> None:
    first = run([sys.executable, "-c", PRINT_KEYS], tmp_path, CRMSYNC_DEV="1")
    second = run([sys.executable, "-c", PRINT_KEYS], tmp_path, CRMSYNC_DEV="1")

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # every process of the machine: the same keys
    secret_key, encryption_key = first.stdout.splitlines()
    Fernet(encryption_key.encode())  # a real Fernet key
    assert encryption_key not in (secret_key, "")
    keys_file = REPO / "var" / "dev-keys.env"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    ignored = subprocess.run(["git", "check-ignore", "-q", str(keys_file)], cwd=REPO, check=False)
    assert ignored.returncode == 0  # never committed
