"""Whoever edits an account's settings cannot make the server call into its own network:
a webhook is HTTPS (plain HTTP only to loopback, for testing), its host may not resolve to
a private, loopback or link-local address unless the operator allows it, and a redirect
is never followed."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError

from accounts.validators import validate_webhook_url
from exports.alerts.delivery import DeliveryError, post_webhook


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/alerts",  # plain HTTP off loopback
        "ftp://hooks.example.com/alerts",
        "https://10.0.0.7/alerts",
        "https://192.168.1.1/alerts",
        "https://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "https://[fd00::1]/alerts",
        "https://[::ffff:10.0.0.7]/alerts",
        "https://localhost/alerts",
        "http://127.0.0.1:8000/admin/",
        "https://user:pw@hooks.example.com/alerts",
    ],
)
def test_the_settings_refuse_a_url_into_the_servers_network(url):
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


def test_the_settings_take_a_public_https_url_and_loopback_when_allowed(settings):
    validate_webhook_url("https://hooks.example.com/crmsync?team=ops")
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    validate_webhook_url("http://127.0.0.1:9000/hook")
    with pytest.raises(ValidationError):
        validate_webhook_url("http://hooks.example.com/hook")  # still HTTPS off loopback


def test_a_host_name_resolving_to_loopback_is_refused_at_delivery_before_any_request():
    host = socket.gethostname()  # a name of this machine: it resolves to a local address
    with pytest.raises(DeliveryError) as refused:
        post_webhook(f"https://{host}:9/hook", "secret", b"{}")

    assert refused.value.permanent
    assert "private, loopback or link-local" in str(refused.value)


class Hits:
    def __init__(self, status: int, location: str = "") -> None:
        self.count = 0
        hits = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                hits.count += 1
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_redirect_is_not_followed(settings):
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    elsewhere = Hits(200)
    redirecting = Hits(302, location=elsewhere.url)
    try:
        with pytest.raises(DeliveryError) as failed:
            post_webhook(redirecting.url, "secret", b"{}")
    finally:
        redirecting.close()
        elsewhere.close()

    assert failed.value.permanent and "redirect, not followed" in str(failed.value)
    assert (redirecting.count, elsewhere.count) == (1, 0)


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (410, True), (429, False), (502, False)]
)
def test_a_4xx_is_permanent_and_a_5xx_or_429_is_retried(settings, status, permanent):
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    receiver = Hits(status)
    try:
        with pytest.raises(DeliveryError) as failed:
            post_webhook(receiver.url, "secret", b"{}")
    finally:
        receiver.close()

    assert failed.value.permanent is permanent
