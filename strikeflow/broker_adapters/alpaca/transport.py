"""The HTTP session under alpaca-py's clients: requests' interface, urllib3's pool.

alpaca-py calls one method of its session, ``request(method, url, headers=...,
allow_redirects=False, params=... | json=...)``, and reads ``status_code``, ``text``,
``json()`` and ``raise_for_status()`` of the reply. ``requests.Session`` does that on top of
urllib3 with layers alpaca-py never uses (cookies, hooks, auth, environment and proxy
merging, redirects): about as much CPU per call again as the request itself, on every
market-data read and every order. ``PooledSession`` sends the same request through a
urllib3 ``PoolManager`` and hands back a ``requests.Response``, so what alpaca-py and
``errors.classify`` see is unchanged: the same reply object, the same ``HTTPError`` for
a status >= 400, and urllib3's failures raised as the ``requests`` exceptions requests
would raise for them. Proxies are requests' business: with one configured, ``http``
keeps a ``requests.Session``.
"""

from __future__ import annotations

import json as jsonlib
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError as Urllib3SSLError

from strikeflow.broker_adapters.alpaca.config import Timeouts

POOL_SIZE = 10  # connections kept per host, as requests' HTTPAdapter keeps
DEFAULT_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate"}  # requests' own


def ca_bundle() -> str:
    """The CA bundle requests would verify with: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, certifi."""
    return (
        os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or DEFAULT_CA_BUNDLE_PATH
    )


def query_string(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | str | None) -> str:
    """``params`` encoded as requests encodes them: None values left out, a list or tuple
    value repeated under its key, anything else by its ``str``."""
    if params is None:
        return ""
    if isinstance(params, str | bytes):
        return params.decode() if isinstance(params, bytes) else params
    pairs = []
    items = params.items() if isinstance(params, Mapping) else params
    for key, values in items:
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            values = [values]
        pairs += [(key, value) for value in values if value is not None]
    return urlencode(pairs, doseq=True)


class PooledSession:
    """``requests.Session.request`` for alpaca-py, over one urllib3 pool manager that
    never retries nor follows a redirect; every request carries ``timeouts`` unless it
    names its own. Thread-safe, as the pool manager is."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        self._pools = urllib3.PoolManager(
            num_pools=POOL_SIZE,
            maxsize=POOL_SIZE,
            retries=False,
            ca_certs=ca_bundle(),
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Any = None,
        json: Any = None,
        allow_redirects: bool = True,
        timeout: float | tuple[float, float] | None = None,
    ) -> requests.Response:
        query = query_string(params)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        sent = {**DEFAULT_HEADERS, **(headers or {})}
        body = None
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode()
            sent["Content-Type"] = "application/json"
        try:
            reply = self._pools.request(
                method.upper(),
                url,
                body=body,
                headers=sent,
                redirect=allow_redirects,
                timeout=self._timeout(timeout),
            )
        except Urllib3Error as failure:
            raise as_requests_error(failure) from failure
        except OSError as failure:  # a socket error urllib3 let through
            raise requests.ConnectionError(str(failure)) from failure
        return _response(reply, url)

    def _timeout(self, given: float | tuple[float, float] | None) -> urllib3.Timeout:
        given = self.timeouts.as_requests() if given is None else given
        connect, read = given if isinstance(given, tuple) else (given, given)
        return urllib3.Timeout(connect=connect, read=read)

    def close(self) -> None:
        self._pools.clear()


def as_requests_error(failure: Urllib3Error) -> requests.RequestException:
    """The exception requests' HTTPAdapter raises for ``failure``."""
    text = str(failure)
    if isinstance(failure, ConnectTimeoutError) and not isinstance(failure, NewConnectionError):
        return requests.ConnectTimeout(text)
    if isinstance(failure, ReadTimeoutError):
        return requests.ReadTimeout(text)
    if isinstance(failure, Urllib3SSLError):
        return requests.exceptions.SSLError(text)
    if isinstance(failure, NewConnectionError | ProtocolError):
        return requests.ConnectionError(text)
    return requests.ConnectionError(f"{type(failure).__name__}: {text}")


def _response(reply: urllib3.BaseHTTPResponse, url: str) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response.headers = CaseInsensitiveDict(reply.headers)
    response._content = reply.data
    response.encoding = get_encoding_from_headers(response.headers)
    response.reason = reply.reason or ""
    response.url = url
    return response
