"""The rest of the emulator's Alpaca endpoints through unmodified alpaca-py (no raw_data):
stock snapshots, option latest quotes and trades, an order by id, cancelling one and all,
and one position by symbol."""

from __future__ import annotations

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.requests import (
    OptionChainRequest,
    OptionLatestQuoteRequest,
    OptionLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from tests.integration.emulator import START


def test_stock_snapshots(stocks):
    snaps = stocks.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "SPY"]))
    assert set(snaps) == {"AAPL", "SPY"}
    for snap in snaps.values():
        assert 0 < snap.latest_quote.bid_price < snap.latest_quote.ask_price
        assert snap.latest_trade.price > 0
        assert snap.minute_bar.timestamp < START  # the last completed minute
        assert snap.minute_bar.low <= snap.minute_bar.close <= snap.minute_bar.high


def test_option_latest_quotes_and_trades(options_data):
    chain = options_data.get_option_chain(OptionChainRequest(underlying_symbol="AAPL"))
    traded = sorted(s for s, snap in chain.items() if snap.latest_trade is not None)[:3]
    assert traded, "some AAPL contracts have traded by 10:45"
    quotes = options_data.get_option_latest_quote(
        OptionLatestQuoteRequest(symbol_or_symbols=traded)
    )
    trades = options_data.get_option_latest_trade(
        OptionLatestTradeRequest(symbol_or_symbols=traded)
    )
    assert set(quotes) == set(trades) == set(traded)
    for symbol in traded:
        assert quotes[symbol].bid_price == chain[symbol].latest_quote.bid_price
        assert quotes[symbol].ask_price == chain[symbol].latest_quote.ask_price
        assert trades[symbol].price == chain[symbol].latest_trade.price


def resting_buy(trading, cid: str):
    return trading.submit_order(
        LimitOrderRequest(
            symbol="MSFT",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=1.00,  # far below the market: it rests
            client_order_id=cid,
        )
    )


def test_an_order_by_id_and_cancelling_it(trading, emulator):
    order = resting_buy(trading, "rest-1")
    assert trading.get_order_by_id(order.id).client_order_id == "rest-1"
    trading.cancel_order_by_id(order.id)
    assert trading.get_order_by_id(order.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as refused:
        trading.cancel_order_by_id(order.id)  # already closed
    assert refused.value.status_code == 422
    assert float(trading.get_account().buying_power) == 100_000  # its reserve is released


def test_cancelling_every_open_order(trading):
    ids = {resting_buy(trading, f"rest-{i}").id for i in range(3)}
    responses = trading.cancel_orders()
    assert {str(r.id) for r in responses} == {str(i) for i in ids}
    assert all(r.status == 200 for r in responses)
    assert all(trading.get_order_by_id(i).status == OrderStatus.CANCELED for i in ids)


def test_one_position_by_symbol(trading, emulator):
    trading.submit_order(
        MarketOrderRequest(symbol="NVDA", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    emulator.advance(seconds=2)
    position = trading.get_open_position("NVDA")
    assert position.symbol == "NVDA"
    assert position.qty == "3"
    assert float(position.cost_basis) == pytest.approx(3 * float(position.avg_entry_price))
    with pytest.raises(APIError) as missing:
        trading.get_open_position("AAPL")
    assert missing.value.status_code == 404
