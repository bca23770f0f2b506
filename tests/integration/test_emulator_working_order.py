"""An option order worked up a ladder through unmodified alpaca-py: the shipped day-trade
entry policy (domain/working.py) prices each step from a fresh quote, each step replaces
the order (PATCH /v2/orders/{id}), and the emulator fills a limit resting inside the spread
by its seeded model (venue_fills.InsideFills). Two emulators of the same seed driven the
same way end the same way."""

from __future__ import annotations

from decimal import Decimal

from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.requests import OptionChainRequest, OptionLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, ReplaceOrderRequest

from strikeflow.domain.enums import Action, StrategyType
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.working import Purpose, Touch, cap, moved_too_far, price_at_step
from strikeflow.signals.rules_file import default_rules
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle

SEED = 4  # the call it picks fills at the third step: two replacements
POLICY = default_rules().working.policy(StrategyType.DAY_TRADE, Purpose.ENTRY)


def touch(data: OptionHistoricalDataClient, symbol: str) -> Touch:
    quote = data.get_option_latest_quote(OptionLatestQuoteRequest(symbol_or_symbols=symbol))
    return Touch(Decimal(str(quote[symbol].bid_price)), Decimal(str(quote[symbol].ask_price)))


def a_call_with_room_inside(data: OptionHistoricalDataClient) -> str:
    """The first AAPL call (by expiry, then strike) quoted at least 4 cents wide under $10."""
    chain = data.get_option_chain(OptionChainRequest(underlying_symbol="AAPL"))
    for symbol in sorted(chain, key=lambda s: (parse_occ(s).expiration, parse_occ(s).strike)):
        quote = chain[symbol].latest_quote
        if parse_occ(symbol).right != "C" or parse_occ(symbol).expiration <= START.date():
            continue
        wide = quote is not None and quote.ask_price - quote.bid_price >= 0.04
        if wide and quote.bid_price > 0 and quote.ask_price < 10:
            return symbol
    raise AssertionError("no AAPL call quoted 4 cents wide or more under $10")


def work_one_order(inside_fill_rate: float) -> dict:
    """Work a one-contract buy by the policy; what happened (the emulator's own ids)."""
    options = EmulatorOptions(
        seed=SEED, start=START, api_key=KEY, secret_key=SECRET, partial_fill_rate=0.0,
        inside_fill_rate=inside_fill_rate,
    )  # fmt: skip
    with running_emulator(options) as url:
        trading = TradingClient(KEY, SECRET, paper=True, url_override=url)
        data = OptionHistoricalDataClient(KEY, SECRET, url_override=url)
        clock = EmulatorHandle(url)
        symbol = a_call_with_room_inside(data)
        decision = touch(data, symbol)
        limit = price_at_step(POLICY, decision, decision, 0, Action.BUY, underlying="AAPL")
        order = trading.submit_order(
            LimitOrderRequest(
                symbol=symbol, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                limit_price=float(limit), client_order_id="work-0",
            )
        )  # fmt: skip
        sent, replaced = [limit], []
        for step in range(1, POLICY.steps + 1):
            clock.advance(seconds=POLICY.interval_s)
            if trading.get_order_by_id(order.id).status == OrderStatus.FILLED:
                break
            if step == POLICY.steps:  # the hold, then the end: cancel
                clock.advance(seconds=POLICY.hold_s)
                if trading.get_order_by_id(order.id).status != OrderStatus.FILLED:
                    trading.cancel_order_by_id(order.id)
                break
            fresh = touch(data, symbol)
            assert moved_too_far(decision, fresh, POLICY.max_move_pct) is None
            limit = price_at_step(
                POLICY, decision, fresh, step, Action.BUY, previous=limit, underlying="AAPL"
            )
            if limit == sent[-1]:
                continue
            new = trading.replace_order_by_id(
                order.id,
                ReplaceOrderRequest(limit_price=float(limit), client_order_id=f"work-{step}"),
            )
            replaced.append(order.id)
            order = new
            sent.append(limit)
        final = trading.get_order_by_id(order.id)
        ended = [trading.get_order_by_id(old) for old in replaced]
        return {
            "symbol": symbol,
            "decision": decision,
            "sent": sent,
            "status": final.status,
            "price": final.filled_avg_price,
            "filled_at": final.filled_at,
            "replaced": [(o.status, str(o.replaced_by)) for o in ended],
            "chain": [str(o) for o in replaced] + [str(final.id)],
        }


def test_a_worked_order_fills_inside_the_spread_and_the_run_repeats():
    first = work_one_order(inside_fill_rate=0.2)
    assert first["status"] == OrderStatus.FILLED
    price = Decimal(first["price"])
    assert price in first["sent"]  # a resting limit fills at its limit
    assert price < first["decision"].ask  # inside the spread: better than paying the ask
    assert price <= cap(POLICY, first["decision"], Action.BUY)
    assert all(status == OrderStatus.REPLACED for status, _ in first["replaced"])
    assert [by for _, by in first["replaced"]] == first["chain"][1:]
    assert work_one_order(inside_fill_rate=0.2) == first
