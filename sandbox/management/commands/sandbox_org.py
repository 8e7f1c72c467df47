"""`sandbox_org --port P --data-dir D [--rules FILE] [--latency-ms N]`: the local sandbox org.

Runs in the foreground until SIGINT or SIGTERM. Prints the URL (use it as the account's
login URL, listed in CRMSYNC_EXTRA_LOGIN_HOSTS), the CA file (use it as the account's CA
bundle) and the file holding the control token (header X-Sandbox-Token of /sandbox/*). A bad rules file stops it
before it listens, with exit status 2 and a message naming the problem.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.rules import RulesError, load_rules_file
from sandbox.server import SandboxOrg


class Command(BaseCommand):
    help = "Run the local Salesforce sandbox org over HTTPS on 127.0.0.1 until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8443, help="port on 127.0.0.1 (0: any free port)"
        )
        parser.add_argument(
            "--data-dir", type=Path, required=True, help="where state and the CA live"
        )
        parser.add_argument("--rules", type=Path, help="rules file (JSON, docs/sandbox-rules.md)")
        parser.add_argument(
            "--latency-ms",
            type=int,
            help="added to every request (overrides faults.latency_ms of the rules file)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """1. Check the rules file. 2. Start the org. 3. Wait for a signal. 4. Stop cleanly."""
        latency_ms = options["latency_ms"]
        if latency_ms is not None and latency_ms < 0:
            raise CommandError("--latency-ms must be 0 or more", returncode=2)
        rules: dict[str, Any] = {}
        if options["rules"] is not None:
            try:
                rules = load_rules_file(options["rules"]).raw
            except RulesError as exc:
                raise CommandError(
                    f"{exc}. Fix the rules file and start again.", returncode=2
                ) from None
        if latency_ms is not None:
            rules = {**rules, "faults": {**rules.get("faults", {}), "latency_ms": latency_ms}}
        try:
            org = SandboxOrg(
                options["data_dir"], port=options["port"], rules=rules, latency_ms=latency_ms or 0
            )
        except RulesError as exc:
            raise CommandError(f"{exc}. Fix the option and start again.", returncode=2) from None
        self._start(org, options)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Sandbox org listening on {org.url}")
        self.stdout.write(f"CA certificate: {org.ca_path}")
        self.stdout.write(
            f"Control endpoints (/sandbox/*): header X-Sandbox-Token with the contents of "
            f"{org.data_dir / 'control-token'}"
        )
        self.stdout.write(
            f"Allow logins to it: CRMSYNC_EXTRA_LOGIN_HOSTS={org.url.removeprefix('https://')}"
        )
        self.stdout.flush()
        while not stop.wait(0.5):
            pass
        org.stop()
        self.stdout.write("Sandbox org stopped.")

    def _start(self, org: SandboxOrg, options: dict[str, Any]) -> None:
        try:
            org.start()
        except sqlite3.Error as exc:
            raise CommandError(
                f"cannot open the sandbox's database in {options['data_dir']}: {exc}."
                " Use another --data-dir, or move this one away to start empty.",
                returncode=2,
            ) from None
        except OSError as exc:
            raise CommandError(
                f"cannot start on 127.0.0.1:{options['port']} with data in {options['data_dir']}:"
                f" {exc.strerror or exc}. Pick another --port (0 picks a free one) or --data-dir.",
                returncode=2,
            ) from None
