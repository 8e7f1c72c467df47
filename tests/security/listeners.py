"""Real servers on 127.0.0.1 for the security tests: a hostile HTTPS server that answers
what the test says, and an "internal" plain-HTTP service holding something secret.

Both record every request they get (method, path, headers, body), so a test proves that
nothing reached them, or that what reached them carried no secret. The HTTPS one uses a
CA and certificate made by the sandbox's own `ensure_certificates` (its `ca_path` goes in
an account's "CA bundle"), so TLS succeeds and only crmsync's own rules can stop a request.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sandbox.certs import ensure_certificates

INTERNAL_SECRET = "internal-service-body-Zk42"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]
Responder = Callable[[Seen], Answer]


@dataclass
class Listener:
    url: str
    ca_path: Path | None
    seen: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def host_port(self) -> str:
        return self.url.split("://", 1)[1]

    def everything_received(self) -> bytes:
        """Every request line, header and body it got, as bytes (to grep for a secret)."""
        parts = []
        for request in self.seen:
            parts.append(f"{request.method} {request.path}".encode())
            parts += [f"{k}: {v}".encode() for k, v in request.headers.items()]
            parts.append(request.body)
        return b"\n".join(parts)


def _handler(listener: Listener, respond: Responder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            listener.seen.append(seen)
            status, headers, body = respond(seen)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


@contextmanager
def listening(respond: Responder, tls_dir: Path | None = None) -> Iterator[Listener]:
    """A server on a free 127.0.0.1 port answering every request with `respond(seen)`;
    HTTPS with certificates in `tls_dir` when given, else plain HTTP."""
    listener = Listener(url="", ca_path=None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(listener, respond))
    server.daemon_threads = True
    scheme = "http"
    if tls_dir is not None:
        certs = ensure_certificates(tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        listener.ca_path = certs.ca_cert
        scheme = "https"
    listener.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def json_answer(status: int, body: str, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, body.encode()


def internal_service(seen: Seen) -> Answer:
    """What an internal service behind the firewall answers: something nobody outside
    should read."""
    return json_answer(200, f'{{"secret": "{INTERNAL_SECRET}", "DailyApiRequests": {{}}}}')
