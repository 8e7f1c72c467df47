"""`crm_demo`: the demo behind `make demo` (see exports/tools/demo.py for the story).

1. Send crmsync's and Celery's logs to <CRMSYNC_VAR_DIR>/crmsync.log, so the terminal
   shows the story and the progress bars, not thousands of batch lines.
2. Start a sandbox org in this process (data under <CRMSYNC_VAR_DIR>/sandbox) and allow
   logins to it (CRMSYNC_EXTRA_LOGIN_HOSTS, for this process).
3. Run the demo; a step that did not do what it says → "DEMO FAILED: ..." and exit 1.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from pathlib import Path
from typing import Any

from celery.signals import setup_logging
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.tools.demo_data import SMALL, Plan
from exports.tools.runner import RunTimeout
from salesforce.login_hosts import with_origin_of

log = logging.getLogger("exports.demo")
LOGGERS = ("exports", "accounts", "crmsync", "celery", "kombu")


class Command(BaseCommand):
    help = "The demo behind `make demo`: a sandbox org, a demo account, the pipeline end to end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sandbox-dir",
            type=Path,
            default=Path(settings.VAR_DIR) / "sandbox",
            help="the sandbox org's data directory",
        )
        parser.add_argument(
            "--small", action="store_true", help="a few hundred records instead of ~6,000"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (apps.is_installed("sandbox") and apps.is_installed("crmsync.example")):
            raise CommandError(
                "the demo runs on a development machine (CRMSYNC_DEV=1: the sandbox org and "
                "the example host app are installed there); `make demo` sets it"
            )
        # The demo's modules use the example app's models: imported once it is installed.
        from exports.tools.demo import Demo, DemoFailed, run_demo
        from sandbox.server import SandboxOrg

        log_path = Path(settings.VAR_DIR) / "crmsync.log"
        _log_to_file(log_path)
        org = SandboxOrg(options["sandbox_dir"]).start()
        # The demo's account logs in to its own sandbox org (CRMSYNC_EXTRA_LOGIN_HOSTS, for
        # this process: the worker is a thread of it).
        settings.CRMSYNC_EXTRA_LOGIN_HOSTS = with_origin_of(
            org.url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS
        )
        self.stdout.write(
            "crmsync demo: SQLite, the embedded Celery broker (a worker thread in this "
            f"process),\nand a sandbox Salesforce org at {org.url}.\n"
            f"Logs, one line per run and per batch: {_shown(log_path)}\n"
        )
        demo = Demo(
            org.url,
            Path(org.ca_path),
            out=self.stdout.write,
            plan=SMALL if options["small"] else Plan(),
            show_progress=not options["no_progress"],
            cli=_cli(),
        )
        try:
            run_demo(demo)
        except (DemoFailed, RunTimeout) as exc:
            self.stderr.write(f"\nDEMO FAILED: {exc}\nLogs: {_shown(log_path)}")
            sys.exit(1)
        except Exception as exc:  # a bug, not a demo claim: the traceback goes to the log
            log.exception("the demo crashed")
            self.stderr.write(
                f"\nDEMO FAILED: unexpected {type(exc).__name__}: {exc}\n"
                f"The traceback is in {_shown(log_path)}; please report it."
            )
            sys.exit(1)
        finally:
            org.stop()
        self.stdout.write("\nDemo OK: every step did what it says.")


def _log_to_file(path: Path) -> None:
    """Our loggers and Celery's into one file.

    Written into settings.LOGGING too: Celery's Django fixup runs django.setup() when a
    worker starts, which applies settings.LOGGING again. A `setup_logging` receiver stops
    Celery's own worker logging set-up (it would log to stderr)."""
    setup_logging.connect(_keep_logging_as_configured, weak=False)
    level = os.environ.get("CRMSYNC_LOG_LEVEL", "INFO")
    settings.LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "plain"}
        },
        "loggers": {
            name: {
                "handlers": ["file"],
                "level": "WARNING" if name in ("celery", "kombu") else level,
                "propagate": False,
            }
            for name in LOGGERS
        },
    }
    logging.config.dictConfig(settings.LOGGING)


def _keep_logging_as_configured(**kwargs: Any) -> None:
    """A `setup_logging` receiver: while one is connected Celery configures no logging."""


def _shown(path: Path) -> str:
    """A path as a person would type it here: relative to the current directory if inside."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cli() -> str:
    """How to run manage.py against the demo's database, as a copy-pasteable prefix."""
    python = _shown(Path(sys.executable)) if Path(sys.executable).is_absolute() else "python"
    prefix = f"{python} manage.py"
    if Path(settings.VAR_DIR).resolve() != (Path(settings.BASE_DIR) / "var").resolve():
        prefix = f"CRMSYNC_VAR_DIR={_shown(Path(settings.VAR_DIR))} {prefix}"
    if os.environ.get("DATABASE_URL"):
        prefix = f"DATABASE_URL=... {prefix}"
    if settings.CRMSYNC_DEV and not os.environ.get("DJANGO_SECRET_KEY"):
        prefix = f"CRMSYNC_DEV=1 {prefix}"  # the demo's keys are this machine's dev keys
    return prefix
