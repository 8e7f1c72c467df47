"""HTTPS plumbing: a threading HTTP/1.1 server that does TLS per connection.

- Keep-alive (`protocol_version = "HTTP/1.1"`), `TCP_NODELAY`, and each response written
  with one `sendall` (status line, headers and body together): a Python server that
  writes headers and body separately pays Nagle + delayed-ACK (~40 ms a request).
- The TLS handshake happens in the connection's own thread, so a slow or failing
  client never blocks `accept()`.
- Open connections are tracked so `stop()` can close idle keep-alive connections too.
- Request bodies may be chunked and gzip/deflate-compressed; answers are gzipped when the
  client asks (bodies.py).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox.bodies import GZIP_MIN_BYTES, BodyError, accepts_gzip, compress, decode_body, read_body

if TYPE_CHECKING:
    from sandbox.apex import CpuMeter

log = logging.getLogger("sandbox")


NOT_PARSED: Any = object()  # Request.parsed of a request whose body has not been decoded


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes  # a composite subrequest's: the whole composite's (its own is `parsed`)
    # A composite subrequest arrives decoded: its `body` from the composite's JSON (or None).
    parsed: Any = NOT_PARSED
    # Inside an allOrNone composite: sObject Collections run all-or-none whatever they say.
    all_or_none: bool = False
    # The Apex transaction it belongs to (an allOrNone composite's); None: its own.
    cpu: CpuMeter | None = None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able; None means no body
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # an already encoded JSON body (takes precedence over `body`)
    record_errors: bool = False  # a 200 whose per-record results include a failure
    server_ms: float = 0  # Apex CPU time spent, answered late by faults.server_time_scale

    def json(self) -> str:
        """The body as JSON text ("null" when there is none)."""
        if self.raw is not None:
            return self.raw
        return "null" if self.body is None else json.dumps(self.body)

    def encode(self, gzip: bool = False) -> bytes:
        """Status line, headers and body in one piece; the body gzipped when `gzip` (the
        client accepts it) and it is at least GZIP_MIN_BYTES long."""
        payload = b"" if self.raw is None and self.body is None else self.json().encode()
        reason = (
            HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else ""
        )
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Date: {formatdate(usegmt=True)}",
            "Content-Type: application/json;charset=UTF-8",
            "Vary: Accept-Encoding",
        ]
        if gzip and len(payload) >= GZIP_MIN_BYTES:
            payload = compress(payload)
            lines.append("Content-Encoding: gzip")
        lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def query_params(query: str) -> dict[str, str]:
    """A URL's query string as {name: last value}."""
    return {key: values[-1] for key, values in parse_qs(query).items()}


Dispatch = Callable[[Request], Response]


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext, dispatch: Dispatch) -> None:
        super().__init__(address, _Handler)
        self.tls = tls
        self.dispatch = dispatch
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Do the TLS handshake in this connection's thread, then serve it."""
        try:
            request.settimeout(300)
            tls_socket = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        with self._connections_lock:
            self._connections.add(tls_socket)
        try:
            _Handler(tls_socket, client_address, self)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.debug("connection from %s ended: %s", client_address, exc)
        finally:
            with self._connections_lock:
                self._connections.discard(tls_socket)
            try:
                tls_socket.close()
            except OSError:
                pass

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def handle_one_request(self) -> None:
        """Read one request, dispatch it, write the response in one piece."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536 or not self.parse_request():
            self.close_connection = True
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        gzip = accepts_gzip(headers.get("accept-encoding", ""))
        try:
            request = self._read_request(headers)
        except BodyError as exc:
            body = [{"message": str(exc), "errorCode": "JSON_PARSER_ERROR"}]
            self.close_connection = self.close_connection or exc.fatal
            headers_out = {"Connection": "close"} if exc.fatal else {}
            self.wfile.write(Response(exc.status, body, headers_out).encode(gzip))
            return
        response = self.server.dispatch(request)
        self.wfile.write(response.encode(gzip))

    def _read_request(self, headers: dict[str, str]) -> Request:
        """The request with its body read (chunked or not) and decoded; BodyError if bad."""
        body = read_body(
            self.rfile, headers.get("transfer-encoding", ""), headers.get("content-length")
        )
        if body and headers.get("content-encoding"):
            body = decode_body(body, headers["content-encoding"])
        parts = urlsplit(self.path)
        return Request(self.command, parts.path, query_params(parts.query), headers, body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)
