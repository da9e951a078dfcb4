"""HTTP and login plumbing under exchangelib: certificate checks per endpoint, faster
response reading, bounded throttling waits, OAuth2 tokens handed back to be kept.
"""

# exchangelib has no type information: the classes specialised here subclass Any.

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from exchangelib import FaultTolerance, OAuth2AuthorizationCodeCredentials
from exchangelib import errors as ews_errors
from exchangelib.protocol import BaseProtocol

_TLS_POLICIES: dict[str, bool | str] = {}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class EwsHTTPAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter, with each endpoint's own certificate check and faster
    response reading.

    exchangelib mounts one adapter class for every server (``HTTP_ADAPTER_CLS``); its
    ``NoVerifyHTTPAdapter`` would turn verification off for all of them. This one turns it
    off (or points it to a CA file) only for the endpoints registered in ``_TLS_POLICIES``
    and verifies everything else as usual.

    exchangelib also feeds every response to its XML parser through
    ``response.iter_content()``, whose default chunk is one byte: about a second of CPU per
    3 MB of XML, more than the parsing itself. Responses built here iterate in 64 KiB chunks.
    """

    def _verify(self, url: str, verify: bool | str) -> bool | str:
        return _TLS_POLICIES.get(_origin(url), verify)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """Apply the endpoint's policy."""
        super().cert_verify(conn, url, self._verify(url, verify), cert)

    def get_connection_with_tls_context(
        self, request: Any, verify: bool | str, proxies: Any = None, cert: Any = None
    ) -> Any:
        """Apply the endpoint's policy (requests >= 2.32.3)."""
        return super().get_connection_with_tls_context(
            request, self._verify(request.url, verify), proxies=proxies, cert=cert
        )

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        """A response whose ``iter_content()`` reads 64 KiB at a time by default."""
        response = super().build_response(req, resp)
        iter_content = response.iter_content

        def chunks(chunk_size: int | None = 65536, decode_unicode: bool = False) -> Any:
            if decode_unicode:
                return iter_content(chunk_size=chunk_size, decode_unicode=True)
            return iter_content(chunk_size=chunk_size)

        response.iter_content = chunks  # type: ignore[method-assign]
        return response


def _install_adapter() -> None:
    # Only replace the stock adapter: an application that set its own keeps it.
    if BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter:
        BaseProtocol.HTTP_ADAPTER_CLS = EwsHTTPAdapter


class BoundedFaultTolerance(FaultTolerance):
    """exchangelib's FaultTolerance with a bounded *total* wait, and 401 read right.

    FaultTolerance checks each back-off against ``max_wait`` on its own, so a server that
    keeps answering ErrorServerBusy with a short BackOffMilliseconds is retried forever.
    Here the back-offs since the last good answer add up, and past ``max_wait``
    RateLimitError ends the request. Exchange may also answer 401 to slow a client down,
    which FaultTolerance retries: before any good answer a 401 means wrong credentials.
    """

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_wait=max_wait)
        self.waited = 0.0
        self.answered = False

    def back_off(self, seconds: float | None) -> None:
        """Wait ``seconds`` before the next request, unless patience is exhausted."""
        wait = self.DEFAULT_BACKOFF if seconds is None else seconds
        if self.waited + wait > self.max_wait:
            raise ews_errors.RateLimitError("Max timeout reached", wait=self.waited + wait)
        self.waited += wait
        super().back_off(wait)

    def raise_response_errors(self, response: requests.Response) -> None:
        """As FaultTolerance; a 401 before the first good answer is a login failure."""
        if response.status_code == 401 and not self.answered:
            raise ews_errors.UnauthorizedError(f"Invalid credentials for {response.url}")
        super().raise_response_errors(response)
        if response.status_code == 200:
            self.answered = True
            self.waited = 0.0


class _TokenKeepingCredentials(OAuth2AuthorizationCodeCredentials):
    """Authorization-code credentials that hand every refreshed token to a callback."""

    def __init__(self, on_token: Callable[[dict], None] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_token = on_token

    def on_token_auto_refreshed(self, access_token: dict) -> None:
        """Keep the new token (exchangelib calls this after a refresh)."""
        super().on_token_auto_refreshed(access_token)
        if self._on_token is not None:
            self._on_token(dict(access_token))
