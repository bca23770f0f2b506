"""Alpaca's documented response shapes (tests/data/alpaca_shapes) through the adapter.

Each fixture is fed to the function the adapter parses it with: alpaca-py's own model
then ``parsing`` for the trading API and stock data, ``parsing`` alone for the raw JSON
of option contracts and snapshots. The last tests serve the fixtures over HTTP to the
real adapter (real alpaca-py clients), so that paging and error bodies go the whole way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.models import BarSet
from alpaca.data.models import Quote as AlpacaQuote
from alpaca.trading.enums import OrderStatus
from alpaca.trading.models import Clock, Order, Position, TradeAccount

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts
from strikeflow.broker_adapters.alpaca.errors import classify, read_api_error
from strikeflow.domain.enums import Action, BarTimeframe, ExecutionMode, ExecutionStatus, Right
from strikeflow.domain.errors import OrderRejected
from strikeflow.domain.market import ExpiryWindow

SHAPES = Path(__file__).resolve().parents[1] / "data" / "alpaca_shapes"
D = Decimal
KEY, SECRET = "shape-key-id", "shape-secret-key"


def shape(name: str) -> dict[str, Any]:
    return json.loads((SHAPES / f"{name}.json").read_text())


def body(name: str) -> Any:
    return shape(name)["body"]


def test_every_fixture_names_its_source_and_its_endpoint():
    files = sorted(SHAPES.glob("*.json"))
    assert len(files) >= 12
    readme = (SHAPES.parent / "README.md").read_text()
    for path in files:
        data = json.loads(path.read_text())
        assert data["source"].startswith("https://"), path.name
        assert data["endpoint"], path.name
        assert data["status"] in (200, 401), path.name
        assert path.name in readme, f"{path.name} is not described in tests/data/README.md"


# -- orders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qty", "filled", "avg", "limit", "status"),
    [
        ("order_numbers_as_strings", D(2), D(2), D("2.15"), D("2.2"), ExecutionStatus.FILLED),
        (
            "order_numbers_as_numbers",
            D(3),
            D(1),
            D("2.15"),
            D("2.2"),
            ExecutionStatus.PARTIALLY_FILLED,
        ),
    ],
)
def test_an_order_reads_the_same_with_numbers_as_strings_or_as_numbers(
    name, qty, filled, avg, limit, status
):
    order = parsing.broker_order(Order(**body(name)), ExecutionMode.PAPER)
    assert (order.qty, order.filled_qty, order.filled_avg_price) == (qty, filled, avg)
    assert order.limit_price == limit
    assert str(order.limit_price) == "2.2"  # never 2.2000000000000002: through str
    assert order.status is status
    assert (order.side, order.symbol) == (Action.BUY, "AAPL261218C00190000")
    assert order.position_intent == "buy_to_open"
    assert order.submitted_at.tzinfo is not None


def test_a_replaced_order_and_its_replacement_name_each_other():
    old, new = Order(**body("order_replaced")), Order(**body("order_replacement"))
    assert old.status is OrderStatus.REPLACED
    assert str(old.replaced_by) == str(new.id) == "f4d1c0b2-7a6e-4c3b-8d9e-1a2b3c4d5e6f"
    assert str(new.replaces) == str(old.id)
    superseded = parsing.broker_order(old, ExecutionMode.PAPER)
    assert superseded.status is ExecutionStatus.REPLACED  # final: the new order carries on
    assert not superseded.is_open
    assert superseded.broker_status == "replaced"
    assert (superseded.replaced_by, superseded.replaces) == (str(new.id), None)
    assert superseded.filled_avg_price is None
    working = parsing.broker_order(new, ExecutionMode.PAPER)
    assert working.status is ExecutionStatus.SUBMITTED
    assert working.limit_price == D("2.1")
    assert working.is_open
    assert working.replaces == str(old.id)


# -- account, positions, clock ---------------------------------------------------------------


def test_the_documented_account_reads_as_decimals():
    account = parsing.account_snapshot(TradeAccount(**body("account")))
    assert account.account_id == "1d9eed04-be39-4e01-9b84-a48ac5bbafcf"
    assert account.status == "ACTIVE"
    assert (account.cash, account.buying_power) == (D("122086.5"), D("245432.61"))
    assert account.options_buying_power == D("122716.305")
    assert account.equity == D("123346.11")
    assert account.options_level == 2


def test_positions_with_an_option_on_the_empty_exchange():
    stock, option = (parsing.position_snapshot(Position(**p)) for p in body("positions"))
    assert (stock.symbol, stock.qty, stock.avg_entry_price) == ("AAPL", D(5), D("100.0"))
    assert stock.unrealized_pl == D("100.0")
    assert (option.symbol, option.qty) == ("AAPL261218C00190000", D(2))
    assert (option.market_value, option.unrealized_pl) == (D(290), D(-140))


def test_the_clock_keeps_its_offsets():
    clock = parsing.market_clock(Clock(**body("clock")))
    assert clock.is_open
    assert clock.next_close == datetime(2026, 11, 19, 21, 0, tzinfo=UTC)
    assert clock.timestamp.utcoffset().total_seconds() == -5 * 3600


# -- stock data -------------------------------------------------------------------------------


def test_a_latest_stock_quote_reads_to_the_cent():
    raw = body("stock_latest_quotes")["quotes"]["AAPL"]
    quote = parsing.stock_quote(AlpacaQuote("AAPL", raw))
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
        D("190.17"),
        D("190.21"),
        2,
        3,
    )
    assert quote.time == datetime(2026, 11, 19, 15, 44, 59, 815231, tzinfo=UTC)


def test_bars_read_with_their_trade_count_and_vwap():
    bars = BarSet(body("stock_bars")["bars"]).data["AAPL"]
    first = parsing.stock_bar(bars[0])
    assert (first.open, first.close, first.volume, first.trades) == (
        D("190.12"),
        D("190.18"),
        1118,
        65,
    )
    assert first.vwap == D("190.1357")


# -- options (raw JSON) -----------------------------------------------------------------------


def test_contracts_with_null_open_interest_and_an_adjusted_multiplier():
    listed = [parsing.listed_contract(c) for c in body("option_contracts_page")["option_contracts"]]
    traded, untraded, adjusted = listed
    assert (traded.open_interest, traded.multiplier, traded.strike) == (237, 100, D(190))
    assert (traded.expiration, traded.right) == (date(2026, 12, 18), Right.CALL)
    assert untraded.open_interest == 0  # null: never traded, nothing open
    assert (adjusted.multiplier, adjusted.underlying) == (150, "AAPL")
    last = body("option_contracts_last_page")["option_contracts"][0]
    assert parsing.listed_contract(last).open_interest == 0  # "0"


def test_snapshots_with_and_without_greeks_daily_bar_or_trade():
    snaps = body("option_chain_snapshots")["snapshots"]
    full = parsing.option_quote("AAPL261218C00190000", snaps["AAPL261218C00190000"])
    assert (full.bid, full.ask, full.last, full.volume) == (D("14.4"), D("14.7"), D("14.55"), 431)
    assert full.implied_vol == 0.2813
    assert full.greeks.delta == 0.6521
    assert full.time == datetime(2026, 11, 19, 15, 44, 59, 930567, tzinfo=UTC)
    bare = parsing.option_quote("AAPL261218C00350000", snaps["AAPL261218C00350000"])
    assert (bare.greeks, bare.implied_vol, bare.volume) == (None, None, None)
    assert (bare.bid, bare.ask, bare.last) == (D(0), D("0.05"), D("0.03"))
    quiet = parsing.option_quote("AAPL261218P00190000", snaps["AAPL261218P00190000"])
    assert (quiet.last, quiet.greeks, quiet.volume) == (None, None, None)
    assert (quiet.bid, quiet.ask) == (D("3.0"), D("3.2"))


# -- errors ---------------------------------------------------------------------------------


def test_a_401_without_a_code_is_a_refusal_with_its_message():
    fixture = shape("error_401")
    response = requests.Response()
    response.status_code = fixture["status"]
    error = APIError(json.dumps(fixture["body"]), requests.HTTPError(response=response))
    read = read_api_error(error)
    assert (read.status, read.code) == (401, None)
    assert read.message.endswith("unauthorized.")
    refused = classify(error, "account")
    assert isinstance(refused, OrderRejected)
    assert (refused.status, refused.code) == (401, None)
    assert refused.message.endswith("unauthorized.")


# -- the adapter over HTTP ---------------------------------------------------------------------


class ShapeVenue:
    """Serves the fixtures at their paths; a page_token selects a page's fixture."""

    def __init__(self) -> None:
        self.url = ""
        self.tokens_seen: list[str] = []
        self.unauthorized = False

    def reply(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if self.unauthorized:
            error = shape("error_401")
            return error["status"], error["body"]
        token = query.get("page_token", [None])[0]
        if token:
            self.tokens_seen.append(token)
        if path == "/v2/options/contracts":
            return 200, body("option_contracts_last_page" if token else "option_contracts_page")
        if path == "/v1beta1/options/snapshots/AAPL":
            return 200, body("option_chain_snapshots")
        if path == "/v2/stocks/bars":
            return 200, {"bars": {}, "next_page_token": None} if token else body("stock_bars")
        if path == "/v2/orders:by_client_order_id":
            cid = query["client_order_id"][0]
            for name in ("order_numbers_as_strings", "order_numbers_as_numbers"):
                if body(name)["client_order_id"] == cid:
                    return 200, body(name)
            return 404, {"code": 40410000, "message": "order not found"}
        routes = {
            "/v2/account": "account",
            "/v2/positions": "positions",
            "/v2/clock": "clock",
            "/v2/stocks/quotes/latest": "stock_latest_quotes",
        }
        if path in routes:
            return 200, body(routes[path])
        return 404, {"code": 40410000, "message": f"no route {path}"}


@pytest.fixture
def venue() -> Iterator[ShapeVenue]:
    served = ShapeVenue()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, payload = served.reply(parts.path, parse_qs(parts.query))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def adapter(venue) -> Iterator[AlpacaAdapter]:
    config = AlpacaConfig(
        Secret(KEY), Secret(SECRET), base_url=venue.url, timeouts=Timeouts(2.0, 5.0)
    )
    made = AlpacaAdapter(config)
    yield made
    made.close()


def test_the_chain_walks_the_base64_token_and_merges_the_snapshots(venue, adapter):
    chain = adapter.option_chain("AAPL", ExpiryWindow(date(2026, 12, 1), date(2026, 12, 31)))
    assert venue.tokens_seen == ["MTAwMA=="]  # sent back as it came, undecoded
    by_symbol = {c.symbol: c for c in chain}
    # The adjusted contract has no snapshot: it is left out, not priced at zero.
    assert set(by_symbol) == {
        "AAPL261218C00190000",
        "AAPL261218C00350000",
        "AAPL261218P00190000",
    }
    untraded = by_symbol["AAPL261218C00350000"]
    assert (untraded.open_interest, untraded.greeks, untraded.volume) == (0, None, 0)
    assert by_symbol["AAPL261218C00190000"].volume == 431


def test_the_trading_shapes_through_the_adapter(adapter):
    account = adapter.account()
    assert account.options_buying_power == D("122716.305")
    assert [p.qty for p in adapter.positions()] == [D(5), D(2)]
    assert adapter.clock().is_open
    numbers = adapter.order_by_client_id(body("order_numbers_as_numbers")["client_order_id"])
    assert (numbers.qty, numbers.filled_qty, numbers.filled_avg_price) == (D(3), D(1), D("2.15"))
    assert adapter.order_by_client_id("sf-open-unknown") is None


def test_the_stock_shapes_through_the_adapter(venue, adapter):
    assert adapter.stock_quote("AAPL").ask == D("190.21")
    start = datetime(2026, 11, 19, 15, 44, tzinfo=UTC)
    bars = adapter.stock_bars(["AAPL"], BarTimeframe.MINUTE, start, start.replace(minute=46))
    assert [b.close for b in bars["AAPL"]] == [D("190.18"), D("190.3")]
    assert venue.tokens_seen == ["QUFQTHxNfDIwMjYtMTEtMTlUMTU6NDU6MDAuMDAwMDAwMDAwWg=="]


def test_a_401_without_a_code_through_the_adapter(venue, adapter):
    venue.unauthorized = True
    with pytest.raises(OrderRejected) as refused:
        adapter.account()
    assert (refused.value.status, refused.value.code) == (401, None)
    assert refused.value.message.endswith("unauthorized.")


@pytest.mark.parametrize(("filled", "expected"), [("0", "accepted"), ("2", "partially_filled")])
def test_done_for_day_is_still_open_not_canceled(filled, expected):
    """A gtc order between sessions: it is worked again at the next open."""
    reply = {
        **body("order_numbers_as_strings"),
        "status": "done_for_day",
        "filled_qty": filled,
        "filled_avg_price": None if filled == "0" else "1.05",
        "filled_at": None,
    }
    order = parsing.broker_order(Order(**reply), ExecutionMode.PAPER)
    assert order.status.value == expected
    assert order.broker_status == "done_for_day"
