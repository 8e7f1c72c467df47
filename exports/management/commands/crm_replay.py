"""`crm_replay --account SLUG [--record ID] [--sandbox [URL]]`: reproduce a paused export.

Sends one record (by default the account's paused record) as a single upsert and shows
the HTTP request and Salesforce's answer, secrets redacted. crmsync's cursor, runs and
errors are never changed. Targets:

- no `--sandbox`: the account's configured org (the record is written if it is accepted);
- `--sandbox URL`: a running sandbox org (e.g. `make run`'s, https://127.0.0.1:8443),
  trusting `--ca` (default: <CRMSYNC_VAR_DIR>/sandbox/ca.pem);
- `--sandbox` alone: a throwaway sandbox org started in this process, with the rules of
  `--rules FILE` (e.g. the validation rule you suspect).

A sandbox org named here (or started here) is an allowed login host for this command
only, as if listed in CRMSYNC_EXTRA_LOGIN_HOSTS; it gets the sandbox's own client
credentials, never the account's secrets.

Exit status: 0 when Salesforce answered (accepted or rejected), 1 when it could not be
reached or refused the login, 2 on bad input.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from exports.models import ExportRecord
from exports.tools.replay import (
    ReplayError,
    SandboxTarget,
    describe_result,
    open_error,
    pick_record,
    replay,
    settings_for,
)
from salesforce.client import GatewayError
from salesforce.login_hosts import LoginHostRefused, with_origin_of

LOCAL = "local"


class Command(BaseCommand):
    help = (
        "Send one record (default: the account's paused record) to Salesforce or a sandbox "
        "org verbosely, showing the request and the answer. Never changes the cursor or errors."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug")
        parser.add_argument("--record", type=int, help="record id (default: the paused record)")
        parser.add_argument(
            "--sandbox",
            nargs="?",
            const=LOCAL,
            metavar="URL",
            help="replay against a sandbox org at URL; alone: start a throwaway one here",
        )
        parser.add_argument(
            "--ca",
            type=Path,
            default=Path(settings.VAR_DIR) / "sandbox" / "ca.pem",
            help="CA file of the sandbox org at --sandbox URL",
        )
        parser.add_argument(
            "--rules", type=Path, help="rules file for the throwaway sandbox (--sandbox alone)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"no account with slug {options['account']!r}", returncode=2)
        try:
            record = pick_record(account, options["record"])
        except ReplayError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self._describe_record(record)
        with self._target(options) as sandbox:
            if sandbox is not None:
                _allow_login_host(sandbox.url)
            crm = settings_for(account, sandbox)
            self.stdout.write(f"Replaying to {crm.login_url}\n")
            try:
                result = replay(record, crm, self.stdout.write, configured_org=sandbox is None)
            except ReplayError as exc:
                raise CommandError(str(exc), returncode=2) from None
            except GatewayError as exc:
                raise CommandError(f"replay failed: {exc.message}", returncode=1) from None
        self.stdout.write("\n" + describe_result(result))
        self.stdout.write("(crmsync's cursor and errors were not changed.)")

    def _describe_record(self, record: ExportRecord) -> None:
        self.stdout.write(f"Record #{record.id}: {record.sobject} {record.external_id}")
        error = open_error(record)
        if error is not None:
            self.stdout.write(f"Open error #{error.id}: {error.error_code}: {error.message}")

    @contextmanager
    def _target(self, options: dict[str, Any]) -> Iterator[SandboxTarget | None]:
        """None: the configured org; else the sandbox org to use (started here if local)."""
        url = options["sandbox"]
        if url is None:
            if options["rules"] is not None:
                raise CommandError("--rules needs --sandbox (alone)", returncode=2)
            yield None
        elif url != LOCAL:
            if not options["ca"].is_file():
                raise CommandError(
                    f"CA file {options['ca']} not found; pass the sandbox org's ca.pem with --ca",
                    returncode=2,
                )
            yield SandboxTarget(url.rstrip("/"), options["ca"])
        else:
            with _local_sandbox(options["rules"]) as target:
                yield target


def _allow_login_host(url: str) -> None:
    """Let this process log in to the sandbox org at `url` (an https://host:port origin)."""
    try:
        hosts = with_origin_of(url, settings.CRMSYNC_EXTRA_LOGIN_HOSTS)
    except LoginHostRefused as refused:
        raise CommandError(f"--sandbox: the URL {refused.reason}", returncode=2) from None
    settings.CRMSYNC_EXTRA_LOGIN_HOSTS = hosts


@contextmanager
def _local_sandbox(rules_path: Path | None) -> Iterator[SandboxTarget]:
    """A throwaway sandbox org (empty, in a temporary directory) for one replay."""
    from sandbox.rules import RulesError, load_rules_file
    from sandbox.server import SandboxOrg

    rules: dict[str, Any] = {}
    if rules_path is not None:
        try:
            rules = load_rules_file(rules_path).raw
        except RulesError as exc:
            raise CommandError(f"{exc}. Fix the rules file and try again.", returncode=2) from None
    with tempfile.TemporaryDirectory(prefix="crm-replay-") as data_dir:
        org = SandboxOrg(Path(data_dir), rules=rules).start()
        try:
            yield SandboxTarget(org.url, Path(org.ca_path))
        finally:
            org.stop()
