"""The token endpoint: client credentials, password and JWT bearer logins, and refusals."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
KEY = "any 32-byte key: the sandbox does not verify JWT signatures"


def unsigned_jwt(claims: dict) -> str:
    """A JWT built by hand, so claims PyJWT would refuse to encode can be sent too."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def token_request(sandbox, **form):
    return sandbox.session.post(f"{sandbox.url}/services/oauth2/token", data=form)


def assert_usable(sandbox, body: dict) -> None:
    assert body["instance_url"] == sandbox.url
    assert body["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature"} <= set(body)
    limits = sandbox.session.get(
        f"{sandbox.url}/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert limits.status_code == 200


def test_client_credentials_login(sandbox):
    response = token_request(
        sandbox, grant_type="client_credentials", client_id="sandbox", client_secret="sandbox"
    )

    assert response.status_code == 200
    assert_usable(sandbox, response.json())


def test_password_login_for_any_user_of_a_listed_client(sandbox):
    sandbox.set_rules({"auth": {"clients": {"crmsync": "s3cret"}}})

    response = token_request(
        sandbox,
        grant_type="password",
        client_id="crmsync",
        client_secret="s3cret",
        username="ops@example.com",
        password="pw",
    )

    assert response.status_code == 200
    assert_usable(sandbox, response.json())


def test_jwt_bearer_login(sandbox):
    claims = {
        "iss": "sandbox",
        "sub": "ops@example.com",
        "aud": sandbox.url,
        "exp": int(time.time()) + 180,
    }
    assertion = jwt.encode(
        claims, "any key: the sandbox does not verify signatures", algorithm="HS256"
    )

    response = token_request(sandbox, grant_type=JWT_GRANT, assertion=assertion)

    assert response.status_code == 200
    assert_usable(sandbox, response.json())


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"iss": "stranger", "sub": "u", "exp": 4_000_000_000}, "invalid_client_id"),
        ({"iss": "sandbox", "exp": 4_000_000_000}, "invalid_grant"),
        ({"iss": "sandbox", "sub": "u", "exp": 1_000_000}, "invalid_grant"),
        ({"iss": ["sandbox"], "sub": "u", "exp": 4_000_000_000}, "invalid_client_id"),
    ],
    ids=["unknown-issuer", "no-subject", "expired", "issuer-not-a-string"],
)
def test_jwt_bearer_refusals(sandbox, claims, error):
    assertion = unsigned_jwt(claims)

    response = token_request(sandbox, grant_type=JWT_GRANT, assertion=assertion)

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_wrong_secret_is_invalid_client(sandbox):
    response = token_request(
        sandbox, grant_type="client_credentials", client_id="sandbox", client_secret="wrong"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


def test_unknown_client_id_is_invalid_client_id(sandbox):
    response = token_request(
        sandbox, grant_type="client_credentials", client_id="nobody", client_secret="sandbox"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_id"


def test_unsupported_grant_type(sandbox):
    response = token_request(sandbox, grant_type="authorization_code", code="x")

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
