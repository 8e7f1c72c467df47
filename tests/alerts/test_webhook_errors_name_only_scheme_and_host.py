"""A webhook URL's path and query carry its token (a Slack hook is
https://hooks.slack.com/services/T000/B000/XXXX): a failed delivery names the webhook by
scheme, host and port only — in the Notification's last error and in every log line, at
every level, whatever failed (no listener, an error status, no answer in time)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exports.alerts.delivery import DeliveryRetry, deliver
from exports.models import Notification
from tests.alert_fixtures import SECRET
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db

TOKEN_PATH = "/services/T0SECRET/B0SECRET/XXXXsecretXXXX"
TOKEN_QUERY = "token=qs-SECRET-42"


def secret_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{TOKEN_PATH}?{TOKEN_QUERY}"


def leaks(text: str) -> bool:
    return any(part in text for part in ("T0SECRET", "B0SECRET", "XXXXsecretXXXX", "qs-SECRET"))


@pytest.fixture
def answering_503() -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def nobody_listening() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def never_answering() -> Iterator[int]:
    """Accepts the connection and reads the request, then says nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize("receiver", ["nobody_listening", "answering_503", "never_answering"])
def test_a_failed_delivery_never_shows_the_path_or_query(receiver, request, settings, caplog):
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    settings.CRMSYNC_WEBHOOK_DEADLINE_S = 1
    port = request.getfixturevalue(receiver)
    crm = CRMSettingsFactory(alert_webhook_url=secret_url(port), alert_webhook_secret=SECRET)
    notification = Notification.objects.create(
        account=crm.account,
        event="paused",
        channel="webhook",
        target=f"http://127.0.0.1:{port}",
        payload={"event": "paused", "account": crm.account.slug},
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(DeliveryRetry):
        deliver(str(notification.id))

    notification.refresh_from_db()
    assert notification.status == "retrying"
    assert f"http://127.0.0.1:{port}" in notification.last_error
    assert not leaks(notification.last_error), notification.last_error
    assert caplog.records, "the failure is logged"
    for record in caplog.records:
        logged = record.getMessage() + (caplog.text if record.exc_info else "")
        assert not leaks(logged), f"{record.name}: {logged}"
