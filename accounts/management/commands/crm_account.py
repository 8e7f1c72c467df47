"""`crm_account create SLUG [...]`, `crm_account list` and `crm_account intake-token SLUG`
(accounts.management.intake_token): accounts, their CRM settings and intake tokens.

Secrets never travel on the command line (where `ps` and shell history would keep
them): the client secret and password come from environment variables and the
private key from a file, each named by an option.

Turning "Pause on export errors" off (`--no-pause` on an account where it is on, or a
new one) needs `--i-understand-inconsistency`, as the admin page needs its "I
understand" box; without it nothing is saved (exit status 2). A confirmed change is
logged at WARNING with the operating-system user who made it.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.fields import secret_state
from accounts.forms import PAUSE_OFF_WARNING
from accounts.management import intake_token
from accounts.models import PASSWORD_FLOW_WARNING, Account, CRMSettings
from salesforce.ca_bundle import UNUSABLE, usable_ca_bundle

log = logging.getLogger(__name__)

CONFIRM_PAUSE_OFF = "--i-understand-inconsistency"

# option dest → CRMSettings field, for options whose value is stored as given.
SETTINGS_OPTIONS = {
    "login_url": "login_url",
    "auth_flow": "auth_flow",
    "client_id": "client_id",
    "username": "username",
    "api_version": "api_version",
    "ca_bundle": "ca_bundle",
    "batch_size": "batch_size",
    "max_records_per_run": "max_records_per_run",
    "daily_api_limit": "daily_api_limit",
    "timeout": "timeout_seconds",
    "version_field": "version_field",
    "pause": "pause_on_export_errors",
    "export": "export_enabled",
    "alert_webhook": "alert_webhook_url",
}
# model field → the option that sets it, to name the option in validation errors.
OPTION_FOR_FIELD = {
    field: "--" + dest.replace("_", "-") for dest, field in SETTINGS_OPTIONS.items()
}
OPTION_FOR_FIELD |= {
    "name": "--name",
    "slug": "SLUG",
    "is_active": "--active",
    "client_secret": "--client-secret-env",
    "password": "--password-env",
    "private_key": "--private-key-file",
    "alert_emails": "--alert-email",
    "give_up_after_days": "--give-up-after-days",
    "alert_webhook_secret": "--alert-webhook-secret-env",
}
# What each auth flow needs before a login can succeed: field → option.
FLOW_NEEDS: dict[str, tuple[str, ...]] = {
    CRMSettings.AuthFlow.CLIENT_CREDENTIALS: ("client_id", "client_secret"),
    CRMSettings.AuthFlow.JWT_BEARER: ("client_id", "username", "private_key"),
    CRMSettings.AuthFlow.PASSWORD: ("client_id", "client_secret", "username", "password"),
}
SECRET_FIELDS = {
    "client_secret": "client secret",
    "private_key": "private key",
    "password": "password",
    "alert_webhook_secret": "webhook signing secret",
}


class Command(BaseCommand):
    help = (
        "Create or update an account and its CRM settings (create), list accounts (list), "
        "make an account's HTTP intake token (intake-token)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{create,list,intake-token}"
        )
        create = actions.add_parser(
            "create",
            help="Create an account, or update it if the slug exists; only the options given change.",
        )
        _add_create_arguments(create)
        actions.add_parser(
            "list",
            help="List accounts: slug, name, Export to CRM, Pause on errors, auth flow "
            "(accounts on the deprecated password flow are marked).",
        )
        intake_token.add_parser(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list()
        elif options["action"] == intake_token.ACTION:
            intake_token.run(self, options)
        else:
            self._create(options)

    def _create(self, options: dict[str, Any]) -> None:
        """1. Read the secrets the options name (fail before touching the database).
        2. In one transaction: get or create the account, apply the options to it and
           its CRMSettings, validate both with full_clean(), save. Pause turned off
           without --i-understand-inconsistency: refuse, nothing saved.
        3. Print a one-line summary without secrets, and warnings on stderr for
           settings a login will still miss and for stored secrets the save removed (a
           new login URL, auth flow or CA bundle forgets the Salesforce secrets not given
           again, a new webhook URL its signing secret)."""
        secrets = _read_secrets(options)
        with transaction.atomic():
            account, created = _save_account(options)
            crm, paused_off = _save_settings(account, options, secrets)
        if paused_off:
            log.warning(
                "crm_account: Pause on export errors turned OFF for account %s by %s (%s)",
                account.slug,
                _os_user(),
                CONFIRM_PAUSE_OFF,
            )
        for warning in _forgotten(crm) + _warnings(crm):
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(_summary(account, crm, "created" if created else "updated"))

    def _list(self) -> None:
        accounts = list(Account.objects.select_related("crm_settings").order_by("slug"))
        if not accounts:
            self.stdout.write("no accounts; create one with `manage.py crm_account create SLUG`")
            return
        rows = [("SLUG", "NAME", "ACTIVE", "EXPORT", "PAUSE ON ERRORS", "AUTH FLOW")]
        for account in accounts:
            crm = account.crm_settings
            rows.append(
                (
                    account.slug,
                    account.name,
                    _on_off(account.is_active),
                    _on_off(crm.export_enabled),
                    _on_off(crm.pause_on_export_errors),
                    crm.auth_flow + (" (DEPRECATED)" if crm.uses_password_flow else ""),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        on_password = [a.slug for a in accounts if a.crm_settings.uses_password_flow]
        if on_password:
            self.stderr.write(
                "warning: accounts still on the username-password flow: "
                f"{', '.join(on_password)}. {PASSWORD_FLOW_WARNING}"
            )


def _add_create_arguments(parser: argparse.ArgumentParser) -> None:
    """create's options, in the order --help lists them: the account, the Salesforce
    connection, how the export runs, where alerts go."""
    _add_account_arguments(parser)
    _add_connection_arguments(parser)
    _add_export_arguments(parser)
    _add_alert_arguments(parser)


def _add_account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "slug", metavar="SLUG", help="Unique short name (letters, digits, - and _)."
    )
    parser.add_argument("--name", help="Display name (default for a new account: the slug).")
    parser.add_argument(
        "--active", action=argparse.BooleanOptionalAction, help="Whether the account is active."
    )


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how to log in to Salesforce; secrets by the variable or file holding them."""
    parser.add_argument(
        "--login-url", metavar="URL", help="Salesforce login URL (or the sandbox org's)."
    )
    parser.add_argument(
        "--auth-flow",
        choices=CRMSettings.AuthFlow.values,
        help="OAuth flow: client_credentials (recommended) or jwt_bearer. password is "
        "deprecated: Salesforce retires the username-password flow on February 20, 2027.",
    )
    parser.add_argument("--client-id", metavar="ID", help="The External Client App's consumer key.")
    parser.add_argument(
        "--client-secret-env", metavar="VAR", help="Environment variable holding the client secret."
    )
    parser.add_argument("--username", help="Salesforce username (JWT bearer and password flows).")
    parser.add_argument(
        "--password-env", metavar="VAR", help="Environment variable holding the password."
    )
    parser.add_argument(
        "--private-key-file", metavar="PATH", help="PEM private key file (JWT bearer flow)."
    )
    parser.add_argument("--api-version", metavar="V", help="Salesforce API version, e.g. 62.0.")
    parser.add_argument(
        "--ca-bundle", metavar="PATH", help="CA file to trust (sandbox org, proxy)."
    )


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Call sizes and limits, the version field, pause on errors, exporting on or off."""
    flag = argparse.BooleanOptionalAction
    parser.add_argument("--batch-size", type=int, metavar="N", help="Records per call (1–200).")
    parser.add_argument("--max-records-per-run", type=int, metavar="N", help="Records per run.")
    parser.add_argument("--daily-api-limit", type=int, metavar="N", help="API calls per day.")
    parser.add_argument("--timeout", type=float, metavar="S", help="Request timeout in seconds.")
    parser.add_argument(
        "--give-up-after-days",
        type=_days_or_never,
        metavar="N|never",
        help="The daily re-export gives up on an export error open longer than N days "
        "(it stays visible and can be re-exported by hand); never (the default): keep trying.",
    )
    parser.add_argument(
        "--version-field",
        metavar="FIELD",
        help="A number field of every exported object that crmsync sets to each record's "
        "outbox id, for a validation rule in the org that refuses a lower value "
        '(docs/semantics.md › The version field); "" turns it off.',
    )
    parser.add_argument(
        "--pause",
        action=flag,
        help=f"Pause on export errors (default on). Turning it off needs {CONFIRM_PAUSE_OFF}.",
    )
    parser.add_argument(
        CONFIRM_PAUSE_OFF,
        action="store_true",
        help="Confirm --no-pause: " + PAUSE_OFF_WARNING,
    )
    parser.add_argument("--export", action=flag, help="Export to CRM.")


def _add_alert_arguments(parser: argparse.ArgumentParser) -> None:
    """Email addresses and a signed webhook."""
    parser.add_argument(
        "--alert-email",
        action="append",
        metavar="ADDR",
        help="Email alerts to ADDR (repeat for several; replaces the list; '' clears it).",
    )
    parser.add_argument(
        "--alert-webhook", metavar="URL", help="POST signed alerts to URL (https; '' removes it)."
    )
    parser.add_argument(
        "--alert-webhook-secret-env",
        metavar="VAR",
        help="Environment variable holding the webhook signing secret.",
    )


def _read_secrets(options: dict[str, Any]) -> dict[str, str]:
    """The secrets the options point at: field → value."""
    secrets: dict[str, str] = {}
    if options["client_secret_env"] is not None:
        secrets["client_secret"] = _from_env(options["client_secret_env"], "--client-secret-env")
    if options["password_env"] is not None:
        secrets["password"] = _from_env(options["password_env"], "--password-env")
    if options["private_key_file"] is not None:
        secrets["private_key"] = _private_key(options["private_key_file"])
    if options["alert_webhook_secret_env"] is not None:
        secrets["alert_webhook_secret"] = _from_env(
            options["alert_webhook_secret_env"], "--alert-webhook-secret-env"
        )
    return secrets


def _from_env(variable: str, option: str) -> str:
    value = os.environ.get(variable)
    if value is None:
        raise CommandError(
            f"{option}: the environment variable {variable} is not set; export it with the "
            f"secret (e.g. `read -s {variable}; export {variable}`) and run the command again",
            returncode=2,
        )
    if not value.strip():
        raise CommandError(f"{option}: the environment variable {variable} is empty", returncode=2)
    return value.rstrip("\r\n")


def _private_key(path: str) -> str:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(
            f"--private-key-file: cannot read {path}: {exc.strerror or exc}", returncode=2
        ) from None
    try:
        load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CommandError(
            f"--private-key-file: {path} is not an unencrypted PEM private key ({exc}); "
            "give the key the External Client App's certificate was made from",
            returncode=2,
        ) from None
    return pem.decode("ascii")


def _save_account(options: dict[str, Any]) -> tuple[Account, bool]:
    slug: str = options["slug"]
    account = Account.objects.filter(slug=slug).first()
    created = account is None
    if account is None:
        account = Account(slug=slug, name=slug)
    if options["name"] is not None:
        account.name = options["name"]
    if options["active"] is not None:
        account.is_active = options["active"]
    _full_clean(account)
    account.save()
    return account, created


def _save_settings(
    account: Account, options: dict[str, Any], secrets: dict[str, str]
) -> tuple[CRMSettings, bool]:
    """Apply the options; (the settings, whether this turned pause off)."""
    crm, _ = CRMSettings.objects.get_or_create(account=account)
    turns_pause_off = crm.pause_on_export_errors and options["pause"] is False
    if turns_pause_off and not options["i_understand_inconsistency"]:
        raise CommandError(
            f"--no-pause turns Pause on export errors off for {account.slug}. "
            f"{PAUSE_OFF_WARNING} Add {CONFIRM_PAUSE_OFF} to confirm — nothing was saved.",
            returncode=2,
        )
    for dest, field in SETTINGS_OPTIONS.items():
        if options[dest] is not None:
            setattr(crm, field, options[dest])
    for field, value in secrets.items():
        setattr(crm, field, value)
    if options["give_up_after_days"] is not None:
        crm.give_up_after_days = options["give_up_after_days"] or None  # 0: never
    if options["alert_email"] is not None:
        crm.alert_emails = ", ".join(a for a in options["alert_email"] if a.strip())
    _full_clean(crm)
    crm.save()
    return crm, turns_pause_off


def _full_clean(instance: Account | CRMSettings) -> None:
    """Model validation, as a CommandError that names the options at fault."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        problems = [
            f"{OPTION_FOR_FIELD.get(field, field)}: {' '.join(messages)}"
            for field, messages in exc.message_dict.items()
        ]
        raise CommandError("; ".join(problems) + " — nothing was saved", returncode=2) from None


def _forgotten(crm: CRMSettings) -> list[str]:
    """The stored secrets this save removed, with the options that set them again."""
    if not crm.forgotten_secrets:
        return []
    options = ", ".join(OPTION_FOR_FIELD[name] for name in crm.forgotten_secrets)
    return [
        f"{crm.forgotten_because}, so the stored "
        f"{' and '.join(SECRET_FIELDS[name] for name in crm.forgotten_secrets)} "
        f"{'was' if len(crm.forgotten_secrets) == 1 else 'were'} removed (a secret is only "
        f"sent where it was saved for); give {options} again"
    ]


def _warnings(crm: CRMSettings) -> list[str]:
    """The deprecated password flow, settings the chosen auth flow still needs, and a CA
    bundle this machine lacks."""
    missing = [OPTION_FOR_FIELD[f] for f in FLOW_NEEDS[crm.auth_flow] if not getattr(crm, f)]
    warnings = [PASSWORD_FLOW_WARNING] if crm.uses_password_flow else []
    if missing:
        warnings.append(
            f"the {crm.auth_flow} flow also needs {', '.join(missing)}; "
            "logins to Salesforce fail until they are set"
        )
    if crm.ca_bundle and not usable_ca_bundle(crm.ca_bundle):
        warnings.append(f"--ca-bundle {UNUSABLE}")
    return warnings


def _summary(account: Account, crm: CRMSettings, verb: str) -> str:
    secrets = [
        f"{label} {secret_state(getattr(crm, field))}"
        for field, label in SECRET_FIELDS.items()
        if secret_state(getattr(crm, field)) != "not set"
    ]
    return (
        f"{verb} account {account.slug} ({account.name}): "
        f"export {_on_off(crm.export_enabled)}, pause on errors {_on_off(crm.pause_on_export_errors)}, "
        f"batch {crm.batch_size}, max {crm.max_records_per_run} records/run, "
        f"give up on errors after {crm.give_up_after_days or 'never'}"
        f"{' days' if crm.give_up_after_days else ''}, login {crm.login_url} ({crm.auth_flow}, client id {crm.client_id or '-'}), "
        f"API v{crm.api_version}; secrets: {', '.join(secrets) or 'none set'}; "
        f"alerts: {_alerts(crm)}"
    )


def _alerts(crm: CRMSettings) -> str:
    targets = list(crm.alert_email_list)
    if crm.alert_webhook_url:
        url = urlsplit(crm.alert_webhook_url)  # its path may carry a token: not printed
        targets.append(f"webhook {url.scheme}://{url.netloc.rpartition('@')[2]}")
    return ", ".join(targets) or "none"


def _os_user() -> str:
    try:
        return f"OS user {getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"OS uid {os.getuid()}"


def _days_or_never(value: str) -> int:
    """--give-up-after-days: a number of days (1–3650), or "never" (stored as empty)."""
    if value.strip().lower() == "never":
        return 0
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days or never") from None
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError(f"{days} days: give 1–3650, or never")
    return days


def _on_off(value: bool) -> str:
    return "on" if value else "off"
