"""The CRM settings form: write-only secrets and the confirmed "pause off".

Two rules live here so that no crafted POST can skip them:

1. Secrets are write-only. Their inputs are always rendered empty; an empty
   input keeps the stored value, a new value replaces it, and the "remove"
   checkbox next to each one clears it.
2. Turning "Pause on export errors" off is refused unless the "I understand…"
   box is ticked in the same POST. Turning it on needs nothing.

Whether the pause field is in the form at all is decided by `shows_pause_field`
(the admin builds its fieldsets from it): only when Export to CRM is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from accounts.fields import secret_state
from accounts.models import CONNECTION_SECRETS, TIMEOUT_MAX_S, TIMEOUT_MIN_S, CRMSettings
from accounts.validators import validate_webhook_url

PAUSE = "pause_on_export_errors"
# Rendered with the pause checkbox: tells the server the field was on the page, so a
# form posted without it (export just ticked, no JavaScript) leaves pause as stored.
PAUSE_SHOWN = "pause_on_export_errors_shown"
CONFIRM_PAUSE_OFF = "confirm_pause_off"
SECRET_FIELDS = (*CONNECTION_SECRETS, "alert_webhook_secret")
# The Connection fieldset, in page order (the admin shows each secret with its "remove" box).
CONNECTION_FIELDS = (
    "login_url",
    "auth_flow",
    "client_id",
    "username",
    *CONNECTION_SECRETS,
    "ca_bundle",
    "api_version",
    "timeout_seconds",
    "daily_api_limit",
    "version_field",
)
# The Notifications fieldset (docs/alerts.md › Alerts), in page order.
NOTIFICATION_FIELDS = (
    "alert_emails",
    "alert_webhook_url",
    "alert_webhook_secret",
    "still_paused_after_hours",
    "error_spike_per_hour",
    "error_spike_percent",
)

PAUSE_OFF_WARNING = (
    "With pause off, exports go on past records Salesforce rejects: each rejected record is "
    "logged as an export error and the records after it are written anyway, including ones "
    "that depend on it. The CRM may become inconsistent, and fixing it is this account's "
    "responsibility."
)
# The warning itself is the confirmation box's help text, right under this error.
PAUSE_OFF_REFUSED = (
    "Pause on export errors was not turned off: read the warning below and tick "
    "“I understand…” to confirm."
)


def shows_pause_field(data: Mapping[str, Any] | None, settings: CRMSettings) -> bool:
    """Is the pause field part of this form? Only when Export to CRM is on.

    Unbound (a page being shown): the stored Export to CRM. Bound (a POST): Export to CRM
    ticked in the POST and the pause field was on the page (its marker was posted).
    """
    if data is None:
        return settings.export_enabled
    return bool(data.get("export_enabled")) and PAUSE_SHOWN in data


class PauseCheckboxInput(forms.CheckboxInput):
    """The pause checkbox plus the hidden marker that says it was on the page."""

    template_name = "accounts/widgets/pause_checkbox.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["shown_name"] = PAUSE_SHOWN
        return context


class WriteOnlyPasswordInput(forms.PasswordInput):
    """Never renders a value; tells the browser not to autofill the admin's own password."""

    def __init__(self) -> None:
        super().__init__(attrs={"autocomplete": "new-password"}, render_value=False)


class WriteOnlyTextarea(forms.Textarea):
    """A textarea (PEM keys span lines) that never renders its value."""

    def __init__(self) -> None:
        super().__init__(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})

    def format_value(self, value: Any) -> None:
        return None


def _secret_field(label: str, widget: forms.Widget) -> forms.CharField:
    return forms.CharField(label=label, required=False, strip=False, widget=widget)


def _clear_field(label: str) -> forms.BooleanField:
    return forms.BooleanField(label=f"Remove the stored {label}", required=False)


class CRMSettingsForm(forms.ModelForm):
    login_url = CRMSettings._meta.get_field("login_url").formfield(assume_scheme="https")
    # The webhook rule runs on the form's field too: a URL Django's own check refuses (a
    # numeric host: "Enter a valid URL.") still gets the reason.
    alert_webhook_url = CRMSettings._meta.get_field("alert_webhook_url").formfield(
        assume_scheme="https", validators=[validate_webhook_url]
    )
    timeout_seconds = CRMSettings._meta.get_field("timeout_seconds").formfield(
        min_value=TIMEOUT_MIN_S, max_value=TIMEOUT_MAX_S
    )
    client_secret = _secret_field("Client secret", WriteOnlyPasswordInput())
    client_secret_clear = _clear_field("client secret")
    private_key = _secret_field("Private key", WriteOnlyTextarea())
    private_key_clear = _clear_field("private key")
    password = _secret_field("Password", WriteOnlyPasswordInput())
    password_clear = _clear_field("password")
    alert_webhook_secret = _secret_field("Webhook signing secret", WriteOnlyPasswordInput())
    alert_webhook_secret_clear = _clear_field("webhook signing secret")
    confirm_pause_off = forms.BooleanField(
        label="I understand, turn pause off",
        required=False,
        help_text=PAUSE_OFF_WARNING,
    )

    class Meta:
        model = CRMSettings
        fields = (
            "export_enabled",
            PAUSE,
            "batch_size",
            "max_records_per_run",
            *CONNECTION_FIELDS,
            *NOTIFICATION_FIELDS,
        )
        widgets = {PAUSE: PauseCheckboxInput, "alert_emails": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            # The stored secret never becomes the field's initial value: nothing to render
            # back, and an empty input is "unchanged", not "changed to empty".
            self.initial.pop(name, None)
            if name in self.fields:
                self.fields[name].help_text = self._secret_help(name)

    def _secret_help(self, name: str) -> str:
        model_help = CRMSettings.column(name).help_text
        state = secret_state(getattr(self.instance, name))
        keep = " Leave empty to keep it." if state == "set" else ""
        return f"{model_help} Currently: {state}.{keep}".strip()

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns
        self._keep_or_clear_secrets(cleaned)
        if self._turns_pause_off(cleaned) and not cleaned.get(CONFIRM_PAUSE_OFF):
            self.add_error(CONFIRM_PAUSE_OFF, PAUSE_OFF_REFUSED)
        return cleaned

    def _keep_or_clear_secrets(self, cleaned: dict[str, Any]) -> None:
        """Empty input → the stored value; "remove" ticked → empty; both given → an error."""
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            clear = cleaned.get(f"{name}_clear")
            if clear and cleaned.get(name):
                self.add_error(name, "Either type a new value or tick “Remove”, not both.")
            elif clear:
                cleaned[name] = ""
            elif not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name)

    def _turns_pause_off(self, cleaned: dict[str, Any]) -> bool:
        # self.instance still holds the stored values: the form copies cleaned data
        # into it only after clean().
        return (
            PAUSE in self.fields
            and self.instance.pause_on_export_errors
            and cleaned.get(PAUSE) is False
        )

    @property
    def turned_pause_off(self) -> bool:
        """After a valid POST: did this form turn pause off (with confirmation)?"""
        return PAUSE in self.changed_data and not self.cleaned_data.get(PAUSE)

    @property
    def changed_data(self) -> list[str]:
        """Changed model fields for the admin history: a ticked "remove" counts as its secret,
        and so does a secret the save forgot (CRMSettings.save); the confirmation box is
        not a setting."""
        changed: list[str] = []
        forgotten = getattr(self.instance, "forgotten_secrets", [])
        for name in [*super().changed_data, *forgotten]:
            if name == CONFIRM_PAUSE_OFF:
                continue
            if name.endswith("_clear") and name.removesuffix("_clear") in SECRET_FIELDS:
                name = name.removesuffix("_clear")
            if name not in changed:
                changed.append(name)
        return changed
