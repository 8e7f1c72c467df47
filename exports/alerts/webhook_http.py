"""One webhook request, bounded in time and in what it reads, whatever the receiver does.

1. Time: a `Deadline` watches every socket the request opens (a duplicate of its file
   descriptor) and shuts them down when it passes. That wakes the worker wherever the
   exchange stands: connecting, the TLS handshake, sending, or reading the answer. A socket
   timeout alone bounds each read, not their sum: a receiver trickling a byte every few
   seconds would hold the worker for as long as it liked.
2. Size: only the answer's status line and headers are read (`stream=True`, then closed);
   its body never is, so an answer of any size costs nothing.
3. Place: the connection goes to the address the caller checked, while TLS still checks
   the certificate against (and sends SNI for) the webhook's host name: no second DNS
   lookup that could rebind it.
4. Words: urllib3 logs each request's path and query at DEBUG, and a webhook's carry its
   token (a Slack hook's path is one); while a thread sends a webhook, they are cut from
   the records it logs.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

HIDDEN = "/…"


class Deadline:
    """The end of one request, `seconds` from its start (step 1 of the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._passed = False
        self._timer = threading.Timer(seconds, self._shut)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            for watched in self._watched:
                watched.close()
            self._watched.clear()

    @property
    def passed(self) -> bool:
        return self._passed or time.monotonic() >= self._ends_at

    def left(self) -> float:
        return max(0.0, self._ends_at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (now, if it has passed)."""
        with self._lock:
            self._watched.append(sock.dup())  # same connection; closed by __exit__ only
            if self._passed:
                _shut_down(self._watched[-1])

    def _shut(self) -> None:
        with self._lock:
            self._passed = True
            for watched in self._watched:
                _shut_down(watched)


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # the connection is closed already
        pass


def post(url: str, host: str, headers: Mapping[str, str], body: bytes, deadline: Deadline) -> int:
    """POST `body` to `url` (whose host is the checked address; `host` is the webhook's
    name, for TLS) within `deadline`; the answer's status. Redirects are not followed.
    Raises requests.RequestException when there is no answer (`deadline.passed` says
    whether time ran out)."""
    scheme = url.partition("://")[0]
    with requests.Session() as session, _HIDDEN_TARGETS.hiding():
        session.trust_env = False  # no proxy or CA bundle from the environment
        session.mount(f"{scheme}://", _PinnedHost(host, deadline))
        left = deadline.left()
        if not left:
            raise requests.Timeout("the deadline passed before the request")
        response = session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(left, left),
            allow_redirects=False,
            stream=True,
        )
        response.close()  # the body is never read
        return response.status_code


# -- connections watched by a deadline ------------------------------------------------------


class _Watched(HTTPConnection):
    """A urllib3 connection whose socket a Deadline watches from the moment it connects
    (a mixin: its subclasses put it before HTTPConnection or HTTPSConnection)."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _PinnedHost(HTTPAdapter):
    """Connects to the URL's (checked) address, its sockets watched by `deadline`, while TLS
    checks the certificate against (and sends SNI for) the webhook's host name."""

    def __init__(self, host: str, deadline: Deadline) -> None:
        self._host = host
        self._deadline = deadline
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs |= {"server_hostname": self._host, "assert_hostname": self._host}
        super().init_poolmanager(*args, **kwargs)
        # The pool passes keyword arguments it does not know on to its connections.
        self.poolmanager.pool_classes_by_scheme = {
            "http": partial(_WatchedHTTPPool, deadline=self._deadline),
            "https": partial(_WatchedHTTPSPool, deadline=self._deadline),
        }


# -- the path and query stay out of the logs -------------------------------------------------


class _HiddenTargets(logging.Filter):
    """In the thread sending a webhook, urllib3's records show "/…" for the request target
    (its one argument that starts with "/": the path and query), step 4 of the module
    docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    @contextmanager
    def hiding(self) -> Iterator[None]:
        self._local.on = True
        try:
            yield
        finally:
            self._local.on = False

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._local, "on", False) and isinstance(record.args, tuple):
            record.args = tuple(
                HIDDEN if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


_HIDDEN_TARGETS = _HiddenTargets()
logging.getLogger("urllib3.connectionpool").addFilter(_HIDDEN_TARGETS)
