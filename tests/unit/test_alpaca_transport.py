"""PooledSession against requests.Session: the same replies and the same exceptions for
what alpaca-py sends, from a small HTTP server in this process."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from strikeflow.broker_adapters.alpaca.config import Timeouts
from strikeflow.broker_adapters.alpaca.errors import classify
from strikeflow.broker_adapters.alpaca.http import TimeoutSession
from strikeflow.broker_adapters.alpaca.transport import (
    PooledSession,
    as_requests_error,
    query_string,
)
from strikeflow.devfleet.emulator import free_port
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected

TIMEOUTS = Timeouts(1.0, 0.3)


class Venue(BaseHTTPRequestHandler):
    """/echo answers what it was sent; /status/N answers N with an Alpaca error body;
    /drop closes the connection unanswered; /stall answers nothing until released."""

    protocol_version = "HTTP/1.1"
    seen: Counter
    release: threading.Event

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        path = urlsplit(self.path).path
        self.seen[path] += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if path == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if path == "/stall":
            self.release.wait(10)
            return
        status = int(path.rsplit("/", 1)[1]) if path.startswith("/status/") else 200
        reply = {
            "method": self.command,
            "query": urlsplit(self.path).query,
            "content_type": self.headers.get("Content-Type"),
            "key": self.headers.get("APCA-API-KEY-ID"),
            "body": body,
        }
        if status >= 400:
            reply = {"code": 40010001, "message": f"refused with {status}"}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def venue() -> Iterator[tuple[str, Counter]]:
    handler = type("Handler", (Venue,), {"seen": Counter(), "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # serve_forever looks for shutdown() every poll_interval (0.5 s by default)
    poll = {"poll_interval": 0.01}
    thread = threading.Thread(target=server.serve_forever, kwargs=poll, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["pooled", "requests"])
def session(request):
    made = PooledSession(TIMEOUTS) if request.param == "pooled" else TimeoutSession(TIMEOUTS)
    yield made
    made.close()


HEADERS = {"APCA-API-KEY-ID": "key-1", "APCA-API-SECRET-KEY": "secret-1", "User-Agent": "t"}


def test_a_get_sends_its_query_without_the_none_values(venue, session):
    url, _ = venue
    params = {"symbols": "SPY", "limit": 5, "page_token": None, "type": ["call", "put"]}
    reply = session.request("GET", f"{url}/echo", headers=HEADERS, params=params)
    assert reply.status_code == 200
    assert reply.json() == {
        "method": "GET",
        "query": "symbols=SPY&limit=5&type=call&type=put",
        "content_type": None,
        "key": "key-1",
        "body": "",
    }
    assert reply.text == json.dumps(reply.json())


def test_a_post_sends_json(venue, session):
    url, _ = venue
    order = {"symbol": "AAPL", "qty": "1", "side": "buy", "limit_price": 1.25}
    reply = session.request("POST", f"{url}/echo", headers=HEADERS, json=order)
    sent = reply.json()
    assert (sent["method"], sent["content_type"]) == ("POST", "application/json")
    assert json.loads(sent["body"]) == order


def test_an_error_status_raises_the_http_error_alpaca_py_expects(venue, session):
    url, _ = venue
    reply = session.request("POST", f"{url}/status/422", headers=HEADERS, json={})
    assert reply.status_code == 422
    with pytest.raises(requests.HTTPError) as raised:
        reply.raise_for_status()
    assert raised.value.response is reply
    assert reply.json() == {"code": 40010001, "message": "refused with 422"}


def test_a_dropped_connection_is_a_connection_error_and_is_not_retried(venue, session):
    url, seen = venue
    with pytest.raises(requests.ConnectionError):
        session.request("POST", f"{url}/drop", headers=HEADERS, json={"qty": "1"})
    assert seen["/drop"] == 1  # an order POST is never sent twice behind our back


def test_a_venue_that_does_not_answer_is_a_read_timeout(venue, session):
    url, seen = venue
    with pytest.raises(requests.ReadTimeout):
        session.request("GET", f"{url}/stall", headers=HEADERS)
    assert seen["/stall"] == 1


def test_nothing_listening_is_a_connection_error(session):
    with pytest.raises(requests.ConnectionError) as raised:
        session.request("GET", f"http://127.0.0.1:{free_port()}/v2/account", headers=HEADERS)
    assert not isinstance(raised.value, requests.Timeout)


def test_a_session_reuses_its_connection(venue):
    url, _ = venue
    session = PooledSession(TIMEOUTS)
    for _ in range(3):
        session.request("GET", f"{url}/echo", headers=HEADERS)
    pool = session._pools.connection_from_url(url)
    assert pool.num_connections == 1
    session.close()


def test_urllib3_failures_become_what_requests_raises_and_classify_reads():
    refused = NewConnectionError(None, "Failed to establish a new connection: refused")
    cases = {
        ConnectTimeoutError("connect timed out"): requests.ConnectTimeout,
        ReadTimeoutError(None, "/v2/orders", "read timed out"): requests.ReadTimeout,
        refused: requests.ConnectionError,
    }
    for failure, expected in cases.items():
        error = as_requests_error(failure)
        assert type(error) is expected
        assert isinstance(classify(error, "submit"), BrokerUnavailable)
    assert "read timeout" in str(classify(as_requests_error(ReadTimeoutError(None, "/", "x")), "x"))


def test_a_refusal_still_classifies_as_the_venue_refusing(venue):
    from alpaca.common.exceptions import APIError

    url, _ = venue
    reply = PooledSession(TIMEOUTS).request("POST", f"{url}/status/403", headers=HEADERS, json={})
    with pytest.raises(requests.HTTPError) as http_error:
        reply.raise_for_status()
    refused = classify(APIError(reply.text, http_error.value), "submit")
    assert isinstance(refused, OrderRejected)
    assert (refused.status, refused.code) == (403, 40010001)


values = st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 10**6), st.booleans())
params_strategy = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(values, st.lists(values, max_size=3)), max_size=5
)


@given(params_strategy)
def test_the_query_is_encoded_as_requests_encodes_it(params):
    prepared = requests.Request("GET", "http://venue.test/v2/x", params=params).prepare()
    assert query_string(params) == (urlsplit(prepared.url).query)
