"""A scan refused by the data plan (a 403 naming the feed setting) ends once with that
reason: no retry, and no minute-bars fallback for the daily closes, which only a venue
without daily bars (a 422) gets."""

from __future__ import annotations

import pytest

from strikeflow.domain.enums import BarTimeframe
from strikeflow.domain.errors import OrderRejected
from strikeflow.services.scan import scan
from tests.unit.test_scan_service import AT, FakeMarket, context, session, surge
from tests.unit.test_scan_task import celery_app, runtime, send  # noqa: F401  (fixtures)

PLAN_REFUSAL = OrderRejected(
    "stock bars",
    403,
    None,
    "subscription does not permit querying recent SIP data; the data plan does not cover"
    " this stock feed: set STRIKEFLOW_ALPACA_STOCK_FEED=iex, or subscribe to SIP data",
)


class DailyRefused(FakeMarket):
    """Minute bars served; daily bars refused with ``refusal``."""

    def __init__(self, refusal: OrderRejected, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refusal = refusal

    def stock_bars(self, symbols, timeframe, start, end):
        if BarTimeframe(timeframe) is BarTimeframe.DAY:
            self.calls.append((tuple(symbols), BarTimeframe.DAY, start, end))
            raise self.refusal
        return super().stock_bars(symbols, timeframe, start, end)


def surging_market(cls=FakeMarket, *args) -> FakeMarket:
    closes, volumes = surge(+1)
    return cls(*args, {"SPY": session("SPY", closes, volumes)})


def test_a_plan_refusal_of_the_minute_bars_ends_the_scan_with_its_reason():
    market = surging_market()
    market.fail_bars = PLAN_REFUSAL
    ctx = context(market)
    with pytest.raises(OrderRejected, match="STRIKEFLOW_ALPACA_STOCK_FEED=iex"):
        scan(ctx, AT)
    assert len(market.calls) == 1
    assert ctx.lock.held == {}  # given back: the next minute may run
    assert len(ctx.lock.released) == 1


def test_a_plan_refusal_of_the_daily_bars_is_not_worked_around_with_minute_bars():
    market = surging_market(DailyRefused, PLAN_REFUSAL)
    with pytest.raises(OrderRejected, match="STRIKEFLOW_ALPACA_STOCK_FEED=iex"):
        scan(context(market), AT)
    timeframes = [c[1] for c in market.calls]
    assert timeframes == [BarTimeframe.MINUTE, BarTimeframe.DAY]  # no minute-bars retry


def test_a_venue_without_daily_bars_still_gets_minute_bars_for_the_trend():
    unserved = OrderRejected("stock bars", 422, None, "timeframe '1Day' is not served")
    market = surging_market(DailyRefused, unserved)
    outcome = scan(context(market), AT)
    assert outcome.skipped is None
    timeframes = [c[1] for c in market.calls]
    assert timeframes == [BarTimeframe.MINUTE, BarTimeframe.DAY, BarTimeframe.MINUTE]


def test_the_task_fails_once_with_the_reason_and_no_retry(celery_app, runtime, monkeypatch):  # noqa: F811
    market = runtime.scan.market
    asked: list[BarTimeframe] = []

    def refused(symbols, timeframe, start, end):
        asked.append(BarTimeframe(timeframe))
        raise PLAN_REFUSAL

    monkeypatch.setattr(market, "stock_bars", refused)
    with pytest.raises(Exception, match=r"OrderRejected.*STRIKEFLOW_ALPACA_STOCK_FEED=iex"):
        send(celery_app, at=AT.isoformat())  # the memory backend rebuilds it as Exception
    assert asked == [BarTimeframe.MINUTE]
    assert runtime.sent == []
