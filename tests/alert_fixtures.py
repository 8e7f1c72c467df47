"""A real webhook receiver for alert tests, and the settings that let alerts reach it.

`webhook_receiver` is an http.server on 127.0.0.1 (a thread of the test process) that
does what a careful receiver does: checks `X-Crmsync-Signature` against the shared
secret, rejects a stale or wrong signature with 401, and keeps each delivery id once
(a redelivery is answered 200 and not kept again). `fail_next` makes it answer 503 that
many times first. Alerts go to loopback only with CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS,
which `alerts_to_receiver` turns on, with the locmem email backend and no retry delay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET = "whsec-test-4f1c"
MAX_AGE_S = 300


def verify(secret: str, header: str, raw: bytes, now: float | None = None) -> bool:
    """What the README tells receivers to do with X-Crmsync-Signature."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts:
        return False
    if abs((now or time.time()) - int(parts["t"])) > MAX_AGE_S:
        return False
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + raw, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []  # kept, once per delivery id
        self.raw: list[bytes] = []
        self.attempts = 0
        self.fail_next = 0
        self.rejected = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/crmsync"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        with self.lock:
            return [d["event"] for d in self.deliveries]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(receiver.receive(self.headers, raw))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def receive(self, headers: Any, raw: bytes) -> int:
        with self.lock:
            self.attempts += 1
            if self.fail_next:
                self.fail_next -= 1
                return 503
            if headers.get("Content-Type") != "application/json" or not verify(
                SECRET, headers.get("X-Crmsync-Signature", ""), raw
            ):
                self.rejected += 1
                return 401
            body = json.loads(raw)
            if all(d["id"] != body["id"] for d in self.deliveries):
                self.deliveries.append(body)
                self.raw.append(raw)
            return 200


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def alerts_to_receiver(settings: Any, webhook_receiver: Receiver) -> Receiver:
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CRMSYNC_ALERT_RETRY_BACKOFF_S = 0.2
    settings.CRMSYNC_ALERT_EMAILS = ""
    return webhook_receiver
