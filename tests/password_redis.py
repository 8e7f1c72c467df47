"""A redis-server of a test's own that needs a password, set up as docs/operations.md › Deployment ›
Redis AUTH and TLS says: `requirepass`, or an ACL user with the default user switched
off, optionally over TLS only (a private CA: sandbox.certs). `url_for(db)` carries
the credentials (and the TLS options) the way CELERY_BROKER_URL and CRMSYNC_CACHE_URL do in
production; nothing touches the machine's Redis on 6379."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.certs import ensure_certificates
from tests.conftest import wait_for
from tests.processes import free_port

# What crmsync's ACL user may do (docs/operations.md › Deployment): every key and channel, every
# command but the dangerous ones (FLUSHALL, CONFIG, KEYS, DEBUG, SHUTDOWN, ...).
ACL_RULES = "~* &* +@all -@dangerous"


class PasswordRedis:
    """`redis-server --requirepass PASSWORD` (or `--user USER on >PASSWORD ...` and
    `--user default off`), with `tls` on a TLS port only; no persistence."""

    def __init__(self, directory: Path, password: str, user: str = "", tls: bool = False):
        self.directory = directory
        self.password = password
        self.user = user
        self.port = free_port()
        self.certs = ensure_certificates(directory / "tls") if tls else None
        self.process: subprocess.Popen[bytes] | None = None

    def url_for(self, db: int) -> str:
        if self.certs is None:
            return f"redis://{self.user}:{self.password}@127.0.0.1:{self.port}/{db}"
        tls = f"ssl_cert_reqs=required&ssl_ca_certs={self.certs.ca_cert}"
        return f"rediss://{self.user}:{self.password}@127.0.0.1:{self.port}/{db}?{tls}"

    @property
    def url(self) -> str:
        return self.url_for(0)

    def argv(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        argv = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.directory)]
        if self.certs is None:
            argv += ["--port", str(self.port)]
        else:
            argv += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            argv += ["--tls-cert-file", str(self.certs.server_cert)]
            argv += ["--tls-key-file", str(self.certs.server_key)]
            argv += ["--tls-ca-cert-file", str(self.certs.ca_cert)]
        if self.user:  # each word of the ACL line its own argument (redis-server joins them)
            user = [self.user, "on", f">{self.password}", *ACL_RULES.split()]
            return [*argv, "--user", *user, "--user", "default", "off"]
        return [*argv, "--requirepass", self.password]

    def start(self) -> PasswordRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.argv(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, 10, what=f"the private redis-server on port {self.port}")
        return self

    def client(self, db: int = 0, *, with_password: bool = True) -> redis.Redis:
        tls: dict[str, Any] = {}
        if self.certs is not None:
            tls = {"ssl": True, "ssl_ca_certs": str(self.certs.ca_cert)}
        if not with_password:
            return redis.Redis(port=self.port, db=db, **tls)
        return redis.Redis(
            port=self.port, db=db, username=self.user or None, password=self.password, **tls
        )

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"redis-server exited at start: {' '.join(self.argv())}")
        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def refuses_without_password(self) -> bool:
        client = self.client(with_password=False)
        try:
            client.ping()
        except redis.AuthenticationError:
            return True
        except redis.ResponseError as exc:  # NOAUTH Authentication required.
            return "NOAUTH" in str(exc)
        finally:
            client.close()
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None
