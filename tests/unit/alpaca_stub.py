"""A scripted Alpaca trading API in this process: POST /v2/orders answers what the test
sets, the client_order_id lookup answers an order or 404, and every request is counted
by method and path, so a test can say "exactly one POST, no lookup"."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts

KEY, SECRET = "stub-key-id", "stub-secret-key"
LOOKUP = "/v2/orders:by_client_order_id"
NOT_FOUND = (404, '{"code":40410000,"message":"order not found"}')


def order_json(client_order_id: str, symbol: str = "AAPL", qty: str = "1") -> dict[str, Any]:
    """An order as Alpaca renders it, with the fields alpaca-py requires."""
    at = "2026-11-19T15:45:00.123456Z"
    return {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": client_order_id,
        "created_at": at,
        "updated_at": at,
        "submitted_at": at,
        "filled_at": None,
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "asset_class": "us_equity",
        "qty": qty,
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "simple",
        "order_type": "market",
        "type": "market",
        "side": "buy",
        "time_in_force": "day",
        "limit_price": None,
        "status": "accepted",
        "extended_hours": False,
        "legs": None,
        "position_intent": "buy_to_open",
    }


@dataclass
class StubVenue:
    """What the stub answers (``submit_reply``, ``orders`` by client_order_id,
    ``other_reply`` to any other route) and what it was asked (``seen``: (method, path)
    → count; ``posted``: the order bodies)."""

    url: str = ""
    submit_reply: tuple[int, str] = (200, "")
    other_reply: tuple[int, str] = (404, '{"code":40410000,"message":"endpoint not found"}')
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: Counter = field(default_factory=Counter)
    posted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def posts(self) -> int:
        return self.seen[("POST", "/v2/orders")]

    @property
    def lookups(self) -> int:
        return self.seen[("GET", LOOKUP)]

    def reply(self, method: str, target: str, body: bytes) -> tuple[int, str]:
        parts = urlsplit(target)
        with self.lock:
            self.seen[(method, parts.path)] += 1
            if method == "POST" and parts.path == "/v2/orders":
                self.posted.append(json.loads(body or b"{}"))
                return self.submit_reply
            if method == "GET" and parts.path == LOOKUP:
                cid = parse_qs(parts.query).get("client_order_id", [""])[0]
                order = self.orders.get(cid)
                return (200, json.dumps(order)) if order is not None else NOT_FOUND
            return self.other_reply


def _handler(venue: StubVenue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, text = venue.reply(self.command, self.path, self.rfile.read(length))
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def stub_venue() -> Iterator[StubVenue]:
    venue = StubVenue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(venue))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    venue.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield venue
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def stub_adapter(url: str, paper: bool = True) -> AlpacaAdapter:
    config = AlpacaConfig(
        Secret(KEY), Secret(SECRET), base_url=url, timeouts=Timeouts(2.0, 5.0), paper=paper
    )
    return AlpacaAdapter(config)
