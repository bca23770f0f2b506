"""Orders dispatched while the market is closed (DispatchPolicy.off_hours): refused with
the next open by default, sent for the venue to hold under ``queue``; closing trades
alike; the session read from a clock reading cached until the next session edge."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    InstrumentType,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import DispatchRejected, InvalidPolicy
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import MarketClock
from strikeflow.domain.orders import OrderIntent
from strikeflow.services.dispatch_policy import DispatchPolicy
from strikeflow.services.market_hours import MarketHours
from tests.integration.record_factories import recommendation
from tests.unit.dispatch_runs import run_all, run_to_size, setup

# Thursday 19 November 2026: 17:00 in New York, after the close; Friday's open.
EVENING = datetime(2026, 11, 19, 17, 0, tzinfo=NEW_YORK)
FRIDAY_OPEN = datetime(2026, 11, 20, 9, 30, tzinfo=NEW_YORK)
SWING_STOCK = {"instrument_type": InstrumentType.STOCK, "strategy_type": StrategyType.SWING_TRADE}


def after_the_close(policy: DispatchPolicy | None = None, rec_overrides=SWING_STOCK):
    ctx, market, store, _switch, broker, _rec = setup(
        rec_overrides=rec_overrides, policy=policy or DispatchPolicy()
    )
    ctx.now.at = EVENING
    market.quote_stock("XYZ", "100")  # stamped at the new now
    market.is_open, market.next_open = False, FRIDAY_OPEN
    return ctx, market, store, broker


def test_by_default_an_order_after_the_close_is_refused_naming_the_next_open():
    ctx, _market, _store, broker = after_the_close()
    next_open = r"market closed: off_hours=refuse .* next open Fri 2026-11-20 09:30 New York"
    with pytest.raises(DispatchRejected, match=next_open) as refused:
        run_to_size(ctx)
    decision = refused.value.explain["off_hours"]
    assert decision == {"policy": "refuse", "next_open": FRIDAY_OPEN.isoformat()}
    assert "orders=0" in repr(broker)  # nothing sent


def test_the_same_order_in_session_is_sized():
    ctx, market, _store, _broker = after_the_close()
    market.is_open = True
    assert run_to_size(ctx).quantity > 0


def test_under_queue_the_order_is_submitted_for_the_venue_to_hold():
    ctx, _market, store, broker = after_the_close(DispatchPolicy(off_hours="queue"))
    out = run_all(ctx)
    assert out.status is RecommendationStatus.EXECUTED
    assert "orders=1" in repr(broker)
    assert [e.ticker for e in store.executions.values()] == ["XYZ"]


def test_a_closing_trade_follows_the_same_rule():
    ctx, market, store, broker = after_the_close()
    market.is_open = True
    broker.submit(OrderIntent("sf-held", "XYZ", Action.BUY, Decimal(7)))
    market.is_open = False
    bearish = {**SWING_STOCK, "action": Action.SELL}
    store.add(recommendation("rec-2", ticker="XYZ", created_at=EVENING, **bearish))
    with pytest.raises(DispatchRejected, match="market closed"):
        run_to_size(ctx, "rec-2")
    assert "orders=1," in repr(broker)  # only the setup's order: nothing was sent


def test_the_session_is_read_once_between_two_session_edges():
    ctx, market, _store, _broker = after_the_close()
    for _ in range(3):
        with pytest.raises(DispatchRejected, match="market closed"):
            run_to_size(ctx)
    assert market.clock_reads == 1
    ctx.now.at = FRIDAY_OPEN + timedelta(minutes=5)
    market.quote_stock("XYZ", "100")
    market.is_open, market.close_at = True, FRIDAY_OPEN + timedelta(hours=6, minutes=30)
    assert run_to_size(ctx).quantity > 0  # past the edge: read again, now open
    assert market.clock_reads == 2


def test_an_unknown_off_hours_rule_is_an_invalid_policy():
    with pytest.raises(InvalidPolicy, match="off_hours"):
        DispatchPolicy(off_hours="sometimes")  # type: ignore[arg-type]


class CountingClock:
    def __init__(self, reading: MarketClock) -> None:
        self.reading, self.reads = reading, 0

    def clock(self) -> MarketClock:
        self.reads += 1
        return self.reading


def test_market_hours_reads_again_before_the_reading_and_at_the_edge():
    closes = FRIDAY_OPEN + timedelta(hours=6, minutes=30)
    venue = CountingClock(MarketClock(FRIDAY_OPEN, True, FRIDAY_OPEN + timedelta(days=3), closes))
    hours = MarketHours(venue)  # type: ignore[arg-type]
    assert hours.at(FRIDAY_OPEN).is_open
    assert hours.at(closes - timedelta(seconds=1)).is_open
    assert venue.reads == 1
    hours.at(closes)
    hours.at(FRIDAY_OPEN - timedelta(seconds=1))
    assert venue.reads == 3
