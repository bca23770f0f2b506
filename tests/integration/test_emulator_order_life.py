"""An order's life at the emulator through unmodified alpaca-py: replaced by
``replace_order_by_id``, filled in parts, its activities read from
/v2/account/activities (parsed by alpaca-py's own activity models), and a held contract
exercised with ``exercise_options_position``."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.requests import OptionChainRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import NonTradeActivity, TradeActivity
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest

from strikeflow.domain.occ import parse_occ
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle


def serve(partial_fill_rate: float) -> Iterator[tuple[TradingClient, EmulatorHandle]]:
    options = EmulatorOptions(
        seed=42, start=START, api_key=KEY, secret_key=SECRET, partial_fill_rate=partial_fill_rate
    )
    with running_emulator(options) as url:
        yield TradingClient(KEY, SECRET, paper=True, url_override=url), EmulatorHandle(url)


@pytest.fixture
def whole() -> Iterator[tuple[TradingClient, EmulatorHandle]]:
    yield from serve(0.0)


@pytest.fixture
def parts() -> Iterator[tuple[TradingClient, EmulatorHandle]]:
    yield from serve(1.0)


def activities(handle: EmulatorHandle, path: str = "", **params) -> list[dict]:
    reply = handle.session.get(f"{handle.url}/v2/account/activities{path}", params=params)
    reply.raise_for_status()
    return reply.json()


def resting_buy(trading: TradingClient, cid: str):
    return trading.submit_order(
        LimitOrderRequest(
            symbol="MSFT", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
            limit_price=1.00, client_order_id=cid,
        )
    )  # fmt: skip


def test_replace_order_by_id(whole):
    trading, emulator = whole
    old = resting_buy(trading, "life-1")
    emulator.advance(seconds=2)
    assert trading.get_order_by_id(old.id).status == OrderStatus.NEW
    new = trading.replace_order_by_id(
        old.id, ReplaceOrderRequest(qty=2, limit_price=1.50, client_order_id="life-2")
    )
    assert new.id != old.id
    assert new.replaces == old.id
    assert (new.qty, new.limit_price, new.client_order_id) == ("2", "1.5", "life-2")
    ended = trading.get_order_by_id(old.id)
    assert ended.status == OrderStatus.REPLACED
    assert ended.replaced_by == new.id
    assert ended.replaced_at is not None
    assert float(trading.get_account().buying_power) == 100_000 - 3
    with pytest.raises(APIError) as again:
        trading.replace_order_by_id(old.id, ReplaceOrderRequest(qty=3))
    assert (again.value.status_code, again.value.code) == (422, 42210000)
    with pytest.raises(APIError) as duplicate:
        trading.replace_order_by_id(new.id, ReplaceOrderRequest(qty=3, client_order_id="life-1"))
    assert (duplicate.value.status_code, duplicate.value.code) == (422, 40010001)
    raw = emulator.session.get(f"{emulator.url}/v2/orders/{old.id}").json()
    assert (raw["replaces"], raw["replaced_by"]) == (None, str(new.id))


def test_partial_fills_and_their_activities(parts):
    trading, emulator = parts
    order = trading.submit_order(
        MarketOrderRequest(symbol="NVDA", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    emulator.advance(seconds=2)
    first = trading.get_order_by_id(order.id)
    assert first.status == OrderStatus.PARTIALLY_FILLED
    assert 0 < float(first.filled_qty) < 10
    for _ in range(12):
        if trading.get_order_by_id(order.id).status == OrderStatus.FILLED:
            break
        emulator.advance(seconds=2)
    assert trading.get_order_by_id(order.id).filled_qty == "10"

    fills = [TradeActivity(**a) for a in activities(emulator, "/FILL", direction="asc")]
    assert len(fills) >= 2
    assert sum(f.qty for f in fills) == 10
    assert [f.cum_qty for f in fills][-1] == 10
    assert fills[-1].leaves_qty == 0
    assert {str(f.order_id) for f in fills} == {str(order.id)}
    assert [f.type.value for f in fills] == ["partial_fill"] * (len(fills) - 1) + ["fill"]
    page = activities(emulator, page_size=1, direction="asc")
    nxt = activities(emulator, page_size=1, direction="asc", page_token=page[0]["id"])
    assert [page[0]["id"], nxt[0]["id"]] == [f.id for f in fills[:2]]
    bad = emulator.session.get(f"{emulator.url}/v2/account/activities/NOPE")
    assert (bad.status_code, bad.json()["code"]) == (422, 40010001)


def test_exercise_options_position_delivers_shares(whole):
    trading, emulator = whole
    options = OptionHistoricalDataClient(KEY, SECRET, url_override=emulator.url)
    chain = options.get_option_chain(OptionChainRequest(underlying_symbol="AAPL"))
    calls = sorted(
        (s for s in chain if parse_occ(s).right == "C" and parse_occ(s).expiration > START.date()),
        key=lambda s: (parse_occ(s).expiration, parse_occ(s).strike),
    )
    call, later = calls[:2]  # the lowest strikes: deep in the money, within the cash
    for symbol in (call, later):
        trading.submit_order(
            MarketOrderRequest(
                symbol=symbol, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    emulator.advance(seconds=2)
    cash = Decimal(trading.get_account().cash)
    assert trading.exercise_options_position(call) is None
    held = {p.symbol: p.qty for p in trading.get_all_positions()}
    assert held == {later: "1", "AAPL": "100"}
    strike = parse_occ(call).strike
    assert Decimal(trading.get_account().cash) == cash - strike * 100
    opexc, optrd = activities(emulator, direction="asc", activity_types="OPEXC,OPTRD")
    assert NonTradeActivity(**opexc).symbol == call
    assert NonTradeActivity(**optrd).net_amount == float(-strike * 100)
    with pytest.raises(APIError) as gone:
        trading.exercise_options_position(call)
    assert gone.value.status_code == 404
    emulator.advance(to="2026-11-19T17:00:00-05:00")  # the market has closed
    with pytest.raises(APIError) as closed:
        trading.exercise_options_position(later)
    assert closed.value.status_code == 422
    assert "outside market hours" in str(closed.value)
