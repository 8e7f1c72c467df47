"""Bodies as any HTTP/1.1 client sends them: `Transfer-Encoding: chunked` and
`Content-Encoding: gzip`/`deflate` request bodies are read on every resource (the token
endpoint included), and answers are gzipped when `Accept-Encoding` asks for it.

Before: a chunked token form answered `unsupported_grant_type`, a chunked JSON body
JSON_PARSER_ERROR "Expecting value", a gzip body "The request body is not UTF-8"."""

from __future__ import annotations

import gzip
import json
import zlib
from urllib.parse import urlencode

import pytest

from tests.sandbox_fixtures import sandbox_session

API = "/services/data/v59.0"
URI = f"{API}/composite/sobjects/Contact/ExtId__c"


def in_chunks(data: bytes, size: int = 7):
    """A generator body: requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def contacts_body(*keys: str) -> bytes:
    records = [{"attributes": {"type": "Contact"}, "ExtId__c": k, "LastName": k} for k in keys]
    return json.dumps({"allOrNone": False, "records": records}).encode()


@pytest.fixture
def http(sandbox):
    session = sandbox_session(sandbox.ca_path)
    yield session
    session.close()


def bearer(sandbox) -> dict[str, str]:
    token = sandbox.login()["access_token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_a_chunked_token_request_logs_in(sandbox, http):
    form = urlencode(
        {"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox"}
    ).encode()

    response = http.post(
        f"{sandbox.url}/services/oauth2/token",
        data=in_chunks(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def test_a_chunked_json_body_is_read(sandbox, http):
    response = http.patch(
        f"{sandbox.url}{URI}", data=in_chunks(contacts_body("a", "b")), headers=bearer(sandbox)
    )

    assert response.status_code == 200, response.text
    assert [r["success"] for r in response.json()] == [True, True]
    assert [w["external_id"] for w in sandbox.writes()] == ["a", "b"]


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_a_compressed_json_body_is_read(sandbox, http, coding, encode):
    headers = {**bearer(sandbox), "Content-Encoding": coding}

    response = http.patch(f"{sandbox.url}{URI}", data=encode(contacts_body("a")), headers=headers)

    assert response.status_code == 200, response.text
    assert [w["external_id"] for w in sandbox.writes()] == ["a"]


def test_a_gzip_body_sent_in_chunks_is_read(sandbox, http):
    headers = {**bearer(sandbox), "Content-Encoding": "gzip"}
    body = in_chunks(gzip.compress(contacts_body("a")), size=5)

    response = http.patch(f"{sandbox.url}{URI}", data=body, headers=headers)

    assert response.status_code == 200, response.text


def test_a_gzip_token_request_logs_in(sandbox, http):
    form = urlencode(
        {"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox"}
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}

    response = http.post(
        f"{sandbox.url}/services/oauth2/token", data=gzip.compress(form), headers=headers
    )

    assert response.status_code == 200, response.text


def test_a_body_that_is_not_gzip_is_a_clear_400_and_the_connection_goes_on(sandbox, http):
    headers = {**bearer(sandbox), "Content-Encoding": "gzip"}

    bad = http.patch(f"{sandbox.url}{URI}", data=b"not gzip at all", headers=headers)
    good = http.get(f"{sandbox.url}{API}/limits", headers=bearer(sandbox))

    assert bad.status_code == 400
    (error,) = bad.json()
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert "not valid gzip data" in error["message"]
    assert good.status_code == 200


def test_answers_are_gzipped_when_the_client_asks(sandbox, http):
    headers = {**bearer(sandbox), "Accept-Encoding": "gzip, deflate"}
    keys = [f"k{i}" for i in range(50)]

    response = http.patch(
        f"{sandbox.url}{URI}", data=contacts_body(*keys), headers=headers, stream=True
    )

    assert response.headers["Content-Encoding"] == "gzip"
    raw = response.raw.read(decode_content=False)
    assert len(raw) == int(response.headers["Content-Length"])
    results = json.loads(gzip.decompress(raw))
    assert len(results) == 50 and all(r["success"] for r in results)


@pytest.mark.parametrize("accept", ["identity", "gzip;q=0", ""])
def test_answers_are_plain_when_the_client_does_not_ask(sandbox, http, accept):
    headers = {**bearer(sandbox), "Accept-Encoding": accept}
    keys = [f"k{i}" for i in range(50)]

    response = http.patch(
        f"{sandbox.url}{URI}", data=contacts_body(*keys), headers=headers, stream=True
    )

    assert "Content-Encoding" not in response.headers
    assert len(json.loads(response.raw.read(decode_content=False))) == 50


def test_simple_salesforce_gets_gzip_answers_and_reads_them(sandbox):
    sf = sandbox.salesforce()
    records = json.loads(contacts_body(*(f"k{i}" for i in range(50))))["records"]

    response = sf.session.patch(
        f"{sandbox.url}{URI}", json={"records": records}, headers=sf.headers
    )

    assert response.headers["Content-Encoding"] == "gzip"
    assert len(response.json()) == 50
