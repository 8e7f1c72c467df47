"""The intake over real HTTP, as production serves it: gunicorn from the Procfile's `web`
line (tests/web_server.py), on the test database, counting requests in the shared Redis. The
token comes from `manage.py crm_account intake-token` run as a process of its own (its last
line of stdout); the client is this test, over a socket: enqueued, a bad line, a wrong
token, a replayed Idempotency-Key, the rate limit. Neither process logs the token."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from exports.intake import rate
from tests.conftest import wait_for
from tests.factories import AccountFactory
from tests.intake.conftest import NDJSON, ndjson, outbox, record, url
from tests.ops.processes import ProcfileProcess
from tests.processes import REPO, free_port, running
from tests.services import require_redis
from tests.web_server import WebServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RATE = 5


@pytest.fixture
def intake_server(web_env: dict[str, str], tmp_path: Path) -> Iterator[WebServer]:
    """gunicorn as the Procfile runs it (2 workers), with a rate limit of RATE a minute."""
    require_redis()
    port = free_port()
    env = web_env | {"WEB_PORT": str(port), "CRMSYNC_INTAKE_RATE_PER_MINUTE": str(RATE)}
    web = ProcfileProcess("web", env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    with running(web):

        def up() -> bool:
            if not web.alive:
                pytest.fail(f"gunicorn exited early; its log ({web.log_path}):\n{web.tail()}")
            try:
                return requests.get(f"{base}/admin/login/", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=60, what=f"gunicorn answers at {base}")
        yield WebServer(base, web)


def new_token(env: dict[str, str], slug: str) -> tuple[str, str]:
    """`manage.py crm_account intake-token SLUG` as its own process: (the token on its last
    line of stdout, everything else it wrote)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "crm_account", "intake-token", slug],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    *before, token = done.stdout.rstrip("\n").split("\n")
    return token, "\n".join(before) + done.stderr


def send(
    server: WebServer, slug: str, body: bytes, token: str, **headers: str
) -> requests.Response:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment
    return session.post(
        server.url + url(slug),
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": NDJSON, **headers},
        timeout=30,
    )


def test_the_intake_over_http(intake_server, web_env):
    account = AccountFactory(slug="acme")
    token, command_output = new_token(web_env, "acme")
    assert token.startswith("crmsync_") and "shown this once" in command_output
    key = str(uuid.uuid4())

    ok = send(
        intake_server, "acme", ndjson([record(1), record(2)]), token, **{"Idempotency-Key": key}
    )
    replay = send(
        intake_server, "acme", ndjson([record(1), record(2)]), token, **{"Idempotency-Key": key}
    )
    bad = send(intake_server, "acme", ndjson([record(3), {"sobject": "Contact"}]), token)
    wrong = send(intake_server, "acme", ndjson([record(4)]), token[:-2] + "xx")

    assert ok.status_code == 201, ok.text
    assert ok.json()["enqueued"] == 2 and ok.json()["ids"] == sorted(ok.json()["ids"])
    assert (replay.status_code, replay.json()) == (201, ok.json())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert bad.status_code == 400 and bad.json()["line"] == 2
    assert "external_id_field is missing" in bad.json()["problem"]
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert outbox(account) == ["person-1", "person-2"]
    assert "intake.request account=acme status=201" in intake_server.process.log()
    assert token not in intake_server.process.log() + command_output


def test_the_rate_limit_holds_across_gunicorns_workers(intake_server, web_env):
    """RATE requests a minute per token whichever of the 2 workers answers (the count is in
    Redis). Should the clock's minute turn in the middle, the count starts again: try anew
    with a new token (a new count), at most three times."""
    AccountFactory(slug="globex")
    for _ in range(3):
        token, _ = new_token(web_env, "globex")
        started = rate.now()
        answers = [
            send(intake_server, "globex", ndjson([record(n)]), token) for n in range(RATE + 1)
        ]
        if int(started // rate.WINDOW_S) != int(rate.now() // rate.WINDOW_S):
            continue
        assert [a.status_code for a in answers] == [201] * RATE + [429]
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= rate.WINDOW_S
        assert answers[-1].json()["error"] == "rate_limited"
        return
    pytest.fail(f"a minute turned during each of three tries ({time.time()})")
