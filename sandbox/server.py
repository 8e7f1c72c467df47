"""The sandbox org: a local stand-in for a Salesforce org over real HTTPS (docs/sandbox-rules.md).

    org = SandboxOrg(Path("var/sandbox"), port=0, rules={...}).start()
    org.url      # https://127.0.0.1:PORT  (use as login_url and instance_url)
    org.ca_path  # var/sandbox/ca.pem      (trust this CA, e.g. requests' verify=)
    org.control_token  # header X-Sandbox-Token of /sandbox/* (also in var/sandbox/control-token)
    org.stop()

State (records, write log, tokens) lives in SQLite under the data directory and survives
a restart; the CA and server certificate are generated there on first start and reused.
The directory is private to the user running the org (0700, files 0600), and a new
control token is written there at every start (control.py).
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

from sandbox.api import Api
from sandbox.auth import Tokens
from sandbox.certs import ensure_certificates
from sandbox.control import make_private, write_token
from sandbox.delete import Deleter
from sandbox.faults import Faults
from sandbox.paging import QueryLocators
from sandbox.rules import Rules, parse_rules
from sandbox.stats import Stats
from sandbox.store import Store
from sandbox.transport import SandboxHTTPServer
from sandbox.upsert import Upserter

HOST = "127.0.0.1"


class SandboxOrg:
    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        rules: dict[str, Any] | None = None,
        latency_ms: int = 0,
    ) -> None:
        """Check the rules now (RulesError on a bad document); nothing listens until start()."""
        self.data_dir = Path(data_dir)
        self.requested_port = port
        self.faults = Faults(default_latency_ms=latency_ms)
        self.stats = Stats()
        self.query_locators = QueryLocators()
        self.rules: Rules = Rules()
        self.apply_rules(parse_rules(rules or {}))
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "ca.pem"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox org is not running; call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def apply_rules(self, rules: Rules) -> None:
        """Replace the rules and reset the faults to the rules' `faults` (or defaults)."""
        self.rules = rules
        self.faults.replace(rules.faults)

    def start(self) -> SandboxOrg:
        """Open the store, load the certificates, and serve HTTPS in a background thread."""
        if self._server is not None:
            return self
        make_private(self.data_dir, self.data_dir / "sandbox.sqlite3")
        self.control_token = write_token(self.data_dir)
        certs = ensure_certificates(self.data_dir)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(certs.server_cert, certs.server_key)
        self.store = Store(self.data_dir / "sandbox.sqlite3", on_deleted=self.stats.count_deleted)
        self.tokens = Tokens(self.store)
        self.upserter = Upserter(self.store, self.faults, lambda name: self.rules.for_object(name))
        self.deleter = Deleter(self.store, self.faults, lambda name: self.rules.for_object(name))
        self._stopping.clear()
        api = Api(self, self._stopping)
        port = self.requested_port
        self._server = SandboxHTTPServer((HOST, port), tls, api.dispatch)
        self.requested_port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"sandbox-org-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, wake stalled requests, close the store."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.store.lock:
            self.store.close()

    def __enter__(self) -> SandboxOrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
