"""The account page's intake token (Accounts › account): "Create / rotate intake token" and
"Revoke intake token" (docs/integration.md › The HTTP intake).

- The account page shows whether the account has a token, since when and who made it
  (`intake_token_state`), never the token.
- Each button opens a confirmation page (GET); its POST does it. Creating or rotating
  answers the POST with a page showing the new token once (the response is never cached);
  only its SHA-256 is stored, so no page can show it again. The previous token stops
  working at once.
- Both need the change permission on accounts and the CSRF token, like every admin POST.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse

from accounts import intake_tokens
from accounts.models import Account

log = logging.getLogger(__name__)

TEMPLATE = "accounts/admin/intake_token.html"


class IntakeTokenAdmin(admin.ModelAdmin):
    """What AccountAdmin adds for intake tokens: the state, two buttons, their pages."""

    change_form_template = "accounts/admin/account_change_form.html"
    readonly_fields = ("intake_token_state",)

    @admin.display(description="intake token")
    def intake_token_state(self, account: Account) -> str:
        return intake_tokens.describe(account) if account.pk else "none"

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/intake-token/",
                wrap(self.intake_token_view),
                name="accounts_account_intake_token",
            ),
            path(
                "<int:object_id>/intake-token/revoke/",
                wrap(self.revoke_intake_token_view),
                name="accounts_account_intake_token_revoke",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        account = self.get_object(request, object_id)
        if account is not None:
            context["can_change_intake_token"] = self.has_change_permission(request, account)
            context["has_intake_token"] = hasattr(account, "intake_token")
        return super().change_view(request, object_id, form_url, context)

    def intake_token_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: confirm. POST: make a new token (revoking the old one) and show it once."""
        account = self._account_for_change(request, object_id)
        if request.method == "GET":
            return self._page(request, account, "rotate")
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        token = intake_tokens.make(account, created_by=request.user.get_username())
        log.warning(
            "admin: new intake token for account %s made by %s",
            account.slug,
            request.user.get_username(),
        )
        return self._page(request, account, "shown", token=token)

    def revoke_intake_token_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: confirm. POST: revoke the account's token."""
        account = self._account_for_change(request, object_id)
        if request.method == "GET":
            return self._page(request, account, "revoke")
        if request.method != "POST":
            return HttpResponseNotAllowed(["GET", "POST"])
        if intake_tokens.revoke(account):
            log.warning(
                "admin: intake token of account %s revoked by %s",
                account.slug,
                request.user.get_username(),
            )
            self.message_user(
                request,
                f"The intake token of {account} was revoked: requests with it are refused "
                "(401) from now on.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, f"{account} had no intake token.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))

    def _account_for_change(self, request: HttpRequest, object_id: int) -> Account:
        account = get_object_or_404(Account, pk=object_id)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        return account

    def _page(
        self, request: HttpRequest, account: Account, mode: str, token: str = ""
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "account": account,
            "mode": mode,
            "token": token,
            "state": intake_tokens.describe(account),
            "records_url": _records_url(request, account),
            "title": f"{account} › Intake token",
            "subtitle": None,
        }
        response = TemplateResponse(request, TEMPLATE, context)
        response["Cache-Control"] = "no-store"
        return response


def _records_url(request: HttpRequest, account: Account) -> str:
    """Where the account's records are POSTed (the exports app's intake), if installed."""
    try:
        return request.build_absolute_uri(reverse("intake-records", args=[account.slug]))
    except NoReverseMatch:
        return ""
