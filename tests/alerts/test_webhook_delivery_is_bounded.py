"""A webhook delivery is bounded in time and in what it reads, whatever the receiver does.

- Time: it ends by its deadline (CRMSYNC_WEBHOOK_DEADLINE_S, 10 s), wherever the exchange
  stands. A socket timeout bounds each read, not their sum: a receiver trickling its
  answer a byte at a time must not hold the worker. An answer not complete by then is a
  transient failure, retried with backoff like a timeout.
- Size: only the answer's status line and headers are read, never its body: a receiver
  answering 300 MB costs the worker nothing.

The receivers are real TCP servers on 127.0.0.1 that write their answer byte by byte as
each test says.
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from exports.alerts.delivery import DeliveryRetry, deliver
from exports.models import Notification
from tests.alert_fixtures import SECRET
from tests.conftest import wait_for
from tests.factories import CRMSettingsFactory

pytestmark = pytest.mark.django_db

DEADLINE_S = 1.5
MARGIN_S = 1.5  # thread start-up, the database, a loaded machine
TRICKLE_EVERY_S = 0.25
HUGE_BYTES = 300 * 2**20
CHUNK = b"x" * 2**20


class RawReceiver:
    """Reads one HTTP request, then answers with `answer(connection)`; counts the bytes of
    the answer it managed to send before the client went away."""

    def __init__(self, answer: Callable[[socket.socket, RawReceiver], None]) -> None:
        self.answer = answer
        self.sent = 0
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/crmsync"
        threading.Thread(target=self._serve, daemon=True).start()

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.sent += len(data)

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        try:
            with connection:
                _read_request(connection)
                self.answer(connection, self)
        except OSError:  # the client closed the connection: what these tests expect
            pass
        finally:
            self.done.set()

    def close(self) -> None:
        self.listener.close()


def _read_request(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)


def trickled_head(connection: socket.socket, receiver: RawReceiver) -> None:
    """A complete 200 answer, a byte every TRICKLE_EVERY_S: ~20 s in all."""
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"." * 40 + b"\r\nContent-Length: 0\r\n\r\n"
    for byte in head:
        receiver.send(connection, bytes([byte]))
        time.sleep(TRICKLE_EVERY_S)


def trickled_body(connection: socket.socket, receiver: RawReceiver) -> None:
    """200 at once, then a body of 1,000 bytes a byte every TRICKLE_EVERY_S (given up
    after ~15 s)."""
    receiver.send(connection, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(60):
        receiver.send(connection, b"x")
        time.sleep(TRICKLE_EVERY_S)


def huge_body(connection: socket.socket, receiver: RawReceiver) -> None:
    """200 with a 300 MB body, written as fast as the client takes it."""
    receiver.send(connection, f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BYTES}\r\n\r\n".encode())
    while receiver.sent < HUGE_BYTES:
        receiver.send(connection, CHUNK)


@pytest.fixture
def receiver_for(settings) -> Iterator[Callable[..., RawReceiver]]:
    settings.CRMSYNC_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    settings.CRMSYNC_WEBHOOK_DEADLINE_S = DEADLINE_S
    receivers: list[RawReceiver] = []

    def start(answer: Callable[[socket.socket, RawReceiver], None]) -> RawReceiver:
        receivers.append(RawReceiver(answer))
        return receivers[-1]

    yield start
    for receiver in receivers:
        receiver.close()


def paused_alert_to(url: str) -> Notification:
    crm = CRMSettingsFactory(alert_webhook_url=url, alert_webhook_secret=SECRET)
    return Notification.objects.create(
        account=crm.account,
        event="paused",
        channel="webhook",
        target="http://127.0.0.1",
        payload={"event": "paused", "account": crm.account.slug, "at": "2026-12-01T00:00:00Z"},
    )


def timed_delivery(notification: Notification) -> tuple[str, float]:
    """What `send_notification` gets from one attempt ("retry" for DeliveryRetry), and how
    long the attempt held the worker."""
    started = time.monotonic()
    try:
        outcome = deliver(str(notification.id))
    except DeliveryRetry:
        outcome = "retry"
    return outcome, time.monotonic() - started


def test_a_receiver_trickling_its_answer_is_given_up_at_the_deadline_and_retried(receiver_for):
    receiver = receiver_for(trickled_head)
    notification = paused_alert_to(receiver.url)

    outcome, took = timed_delivery(notification)

    assert took < DEADLINE_S + MARGIN_S, f"the delivery held the worker {took:.1f} s"
    assert outcome == "retry"
    notification.refresh_from_db()
    assert notification.status == "retrying"
    assert f"no complete answer within {DEADLINE_S:g} s" in notification.last_error
    wait_for(receiver.done.is_set, timeout=5, what="the receiver sees the connection closed")


def test_a_receiver_trickling_its_body_is_not_waited_for(receiver_for):
    receiver = receiver_for(trickled_body)
    notification = paused_alert_to(receiver.url)

    outcome, took = timed_delivery(notification)

    assert took < MARGIN_S, f"the delivery held the worker {took:.1f} s"
    assert outcome == "sent"  # the status says it all


def test_a_huge_answer_is_not_read(receiver_for):
    receiver = receiver_for(huge_body)
    notification = paused_alert_to(receiver.url)

    tracemalloc.start()
    try:
        outcome, _ = timed_delivery(notification)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wait_for(receiver.done.is_set, timeout=30, what="the receiver sees the connection closed")

    assert outcome == "sent"
    assert peak < 2**20, f"the delivery held {peak / 2**20:.0f} MiB at its peak"
    # What the receiver could send before the client closed is what the kernel's socket
    # buffers took (up to tens of MB on loopback), not the 300 MB a full read takes.
    assert receiver.sent < HUGE_BYTES // 4, f"{receiver.sent / 2**20:.0f} MiB were sent"
