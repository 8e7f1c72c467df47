from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from exports.demo import Demo, DemoFailed, run_demo


class Command(BaseCommand):
    help = "The demo behind `make demo`: a sandbox org, a demo account, the pipeline end to end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sandbox-dir", default=str(Path(settings.VAR_DIR) / "sandbox"))

    def handle(self, *args: Any, **options: Any) -> None:
        from crmsync.sandbox.server import SandboxOrg

        org = SandboxOrg(Path(options["sandbox_dir"])).start()
        self.stdout.write(f"Sandbox org at {org.url} (CA {org.ca_path})")
        try:
            run_demo(Demo(org.url, Path(org.ca_path), out=self.stdout.write))
        except DemoFailed as exc:
            self.stderr.write(f"DEMO FAILED: {exc}")
            sys.exit(1)
        finally:
            org.stop()
        self.stdout.write("\nDemo OK.")
