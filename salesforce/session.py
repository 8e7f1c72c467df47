"""HTTP for the gateway: one `requests.Session` per Gateway with TLS verified against the
account's CA bundle (or the system CAs), the proxy taken explicitly from the environment,
a default timeout, and no redirect ever followed.

A CA bundle is read once per worker process (`shared_tls_context`), not per connection:
loading the system's ~140 CAs costs 15-45 ms of CPU, which urllib3 would otherwise spend on
every new HTTPS connection, i.e. on every small account's run.

`trust_env` is off (that is what makes TLS immune to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE),
so the proxy is taken explicitly from HTTPS_PROXY/https_proxy, honouring NO_PROXY for
the login host.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from salesforce import ca_bundle
from salesforce.errors import AuthError

if TYPE_CHECKING:  # names in requests' type stubs only
    from requests.adapters import _HostParams, _PoolKwargs

_HOST_NAME = re.compile(r"[a-z0-9.-]{1,253}")


class CRMSession(requests.Session):
    """A requests.Session with a default timeout that ignores the environment.

    `trust_env = False` stops requests from replacing `verify` with REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (a long-standing requests behaviour); proxies are then only what the
    caller sets.
    """

    def __init__(self, timeout: float, verify: str | bool, proxies: dict[str, str]) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self.proxies.update(proxies)
        self.default_timeout = timeout
        self.mount("https://", SharedTLSAdapter(shared_tls_context(verify)))

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        kwargs["allow_redirects"] = False  # never: a redirect is an error (refuse_redirect)
        response = super().request(method, url, *args, **kwargs)
        refuse_redirect(response)
        return response


class SharedTLSAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections verify with a CA bundle loaded once per process
    (`context`) instead of loading the bundle's file for each new connection."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self._context = context
        super().__init__()

    def build_connection_pool_key_attributes(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if self._context is not None and verify:
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = self._context
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # checks the path exists
        if self._context is not None and verify:
            conn.ca_certs = conn.ca_cert_dir = None  # the context holds them


def shared_tls_context(verify: str | bool) -> ssl.SSLContext | None:
    """This process's TLS context for a CA bundle file (`ca_bundle.tls_context`); None for
    anything else, or a file that does not load (requests' own handling then says why)."""
    if not isinstance(verify, str):
        return None
    try:
        return ca_bundle.tls_context(verify)
    except (OSError, ssl.SSLError, ValueError):
        return None


def refuse_redirect(response: requests.Response) -> None:
    """A redirect answer is an error naming the host it points to: crmsync never follows
    one (a 307 to http:// would send a login's secrets again, in clear text, to wherever
    it points)."""
    if not response.is_redirect:
        return
    response.close()
    target = urlsplit(urljoin(str(response.url), response.headers.get("Location", ""))).hostname
    named = f"host {target}" if target and _HOST_NAME.fullmatch(target) else "an unusable address"
    raise AuthError(
        f"{urlsplit(str(response.url)).hostname} answered with a redirect (HTTP "
        f"{response.status_code}) to {named}; crmsync never follows redirects. If that is "
        "Salesforce's address of this org, make it the login URL in the CRM settings.",
        "REDIRECT",
    )


def system_ca_file() -> str | bool:
    """The OS trust store's CA file; True (requests' certifi bundle) when there is none."""
    cafile = ssl.get_default_verify_paths().cafile
    return cafile if cafile and os.path.isfile(cafile) else True


# The environment variables the proxy for a URL depends on.
_PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


def https_proxy(login_url: str) -> dict[str, str]:
    """HTTPS_PROXY for the login host unless NO_PROXY exempts it."""
    proxy = _https_proxy(login_url, tuple(os.environ.get(name) for name in _PROXY_ENV))
    return {"https": proxy} if proxy else {}


@functools.lru_cache(maxsize=1024)  # each run's gateway asks: ~0.5 ms of CPU each time
def _https_proxy(login_url: str, environment: tuple[str | None, ...]) -> str | None:
    """The proxy for `login_url` under these values of _PROXY_ENV (the key: a change of
    the environment is a new question)."""
    return requests.utils.get_environ_proxies(login_url).get("https")


def describe_exchange(response: requests.Response, login: bool) -> str:
    """A request and its answer as text, for a person; no token or login secret in it.
    The login request (marked by the caller, whatever its URL) shows neither its form nor
    its answer."""
    request = response.request
    if login:
        return f"> {request.method} {request.url} (login; form and answer not shown)\n< HTTP {response.status_code}"
    headers = {
        k: ("Bearer [redacted]" if k.lower() == "authorization" else v)
        for k, v in request.headers.items()
    }
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    lines = [f"> {request.method} {request.url}"]
    lines += [f"> {k}: {v}" for k, v in headers.items()]
    lines += [f"> {body}" if body else ">", f"< HTTP {response.status_code} {response.reason}"]
    if "Sforce-Limit-Info" in response.headers:
        lines.append(f"< Sforce-Limit-Info: {response.headers['Sforce-Limit-Info']}")
    lines.append(f"< {response.text}")
    return "\n".join(lines)
