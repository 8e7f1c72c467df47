"""Who may drive the sandbox org: its control endpoints (`/sandbox/*`) need a token.

The sandbox holds records, rules (with OAuth client secrets) and a write log, and its
control endpoints replace rules, inject faults and delete data. Any local user could
reach 127.0.0.1, so:

1. At every start the org writes a fresh random token to `<data-dir>/control-token`
   (mode 0600); the data directory is made 0700 and its SQLite files 0600, so only the
   user running the sandbox can read them.
2. Every `/sandbox/*` request must carry header `X-Sandbox-Token` with that token
   (compared in constant time): missing → 401, wrong → 403, each with a JSON error that
   says where the token is. The Salesforce endpoints (`/services/...`) are unaffected.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from sandbox.transport import Request, Response

HEADER = "X-Sandbox-Token"
TOKEN_FILE = "control-token"
CONTROL_PREFIX = "/sandbox"


def make_private(data_dir: Path, database: Path) -> None:
    """The data directory 0700 (created if missing) and the database file 0600 (created
    empty if missing, so SQLite's -wal and -shm files take its mode)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (database, database.with_name(database.name + "-wal"),
                 database.with_name(database.name + "-shm")):  # fmt: skip
        if path.exists():
            os.chmod(path, 0o600)


def write_token(data_dir: Path) -> str:
    """A fresh token in `<data-dir>/control-token`, readable by this user only."""
    token = secrets.token_urlsafe(32)
    path = data_dir / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token)
    return token


def read_token(data_dir: Path) -> str:
    """The token a running sandbox org wrote to `data_dir` (for its clients)."""
    return (Path(data_dir) / TOKEN_FILE).read_text().strip()


def is_control(request: Request) -> bool:
    return request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/")


def refusal(request: Request, token: str, data_dir: Path) -> Response | None:
    """None when the request carries the token; else the 401 or 403 to answer."""
    given = request.headers.get(HEADER.lower(), "")
    where = f"the contents of {data_dir / TOKEN_FILE}"
    if not given:
        return Response(
            401,
            {"error": "sandbox_token_required",
             "message": f"The sandbox's control endpoints need header {HEADER}: {where}."},
        )  # fmt: skip
    if not hmac.compare_digest(given.encode(), token.encode()):
        return Response(
            403,
            {"error": "sandbox_token_invalid",
             "message": f"Header {HEADER} does not match {where} (it changes at every start)."},
        )  # fmt: skip
    return None
