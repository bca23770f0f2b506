"""The scan use case over hand-written fakes of its ports: crafted sessions of 1-minute
bars in, recommendations (and what to send) out; the clock, the minute's claim, the
no-short skip, the cooldown and the daily trend around the rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    BarTimeframe,
    InstrumentType,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import MarketClock, StockBar
from strikeflow.domain.orders import PositionSnapshot
from strikeflow.services.scan import ScanContext, SessionBarsSoFar, lock_key, scan
from strikeflow.signals.rules import RULE_DAY_TRADE, RULE_STOCK, RULE_SWING
from strikeflow.signals.rules_file import default_rules

AT = datetime(2026, 11, 19, 10, 45, 20, tzinfo=NEW_YORK)  # a Thursday, in session
OPEN = datetime(2026, 11, 19, 9, 30, tzinfo=NEW_YORK)
CLOSE = datetime(2026, 11, 19, 16, 0, tzinfo=NEW_YORK)
ONE = timedelta(minutes=1)
PAST_DATES = [datetime(2026, 11, d, tzinfo=NEW_YORK) for d in (10, 11, 12, 13, 16, 17, 18)]


def bar(ticker: str, at: datetime, close: float, volume: int = 1_000) -> StockBar:
    price = Decimal(str(round(close, 4)))
    return StockBar(ticker, at.astimezone(UTC), price, price, price, price, volume)


def session(ticker: str, closes: Sequence[float], volumes: Sequence[int] | None = None):
    """Bars from 09:30, one a minute, the last one ending at the scanned minute."""
    return session_at(ticker, closes, volumes or [1_000] * len(closes), AT)


def session_at(ticker: str, closes, volumes, at: datetime) -> list[StockBar]:
    start = at.replace(second=0) - ONE * len(closes)
    return [
        bar(ticker, start + i * ONE, c, v)
        for i, (c, v) in enumerate(zip(closes, volumes, strict=True))
    ]


def minutes_to(at: datetime) -> int:
    return int((at.replace(second=0) - OPEN) // ONE)


def flat(price: float = 100.0, at: datetime = AT) -> list[float]:
    return [price] * minutes_to(at)


def surge(sign: float, at: datetime = AT) -> tuple[list[float], list[int]]:
    """Flat, then the last 5 minutes move 3 % in ``sign``'s direction, the last on 10x volume."""
    n = minutes_to(at)
    closes = [100.0] * (n - 5) + [100.0 * (1 + sign * 0.006 * k) for k in range(1, 6)]
    volumes = [1_000] * (n - 1) + [10_000]
    return closes, volumes


def drift(sign: float) -> tuple[list[float], list[int]]:
    """A mild move: +/-1 % over 5 minutes on 2.5x volume, enough for STOCK, not a day trade."""
    n = minutes_to(AT)
    closes = [100.0] * (n - 5) + [100.0 * (1 + sign * 0.002 * k) for k in range(1, 6)]
    volumes = [1_000] * (n - 1) + [2_500]
    return closes, volumes


class FakeMarket:
    """MarketData with a settable clock and crafted bars; records every bars call."""

    def __init__(self, minute_bars: Mapping[str, list[StockBar]], is_open: bool = True) -> None:
        self.minute_bars = {t: list(b) for t, b in minute_bars.items()}
        self.daily_bars: dict[str, list[StockBar]] = {}
        self.serves_daily = True
        self.is_open = is_open
        self.now = AT
        self.calls: list[tuple[tuple[str, ...], BarTimeframe, datetime, datetime]] = []
        self.fail_bars: BaseException | None = None

    def clock(self) -> MarketClock:
        next_open = datetime(2026, 11, 20, 9, 30, tzinfo=NEW_YORK)
        return MarketClock(self.now, self.is_open, next_open, CLOSE)

    def stock_bars(self, symbols, timeframe, start, end):
        self.calls.append((tuple(symbols), BarTimeframe(timeframe), start, end))
        if self.fail_bars is not None:
            raise self.fail_bars
        if timeframe is BarTimeframe.DAY:
            if not self.serves_daily:
                raise OrderRejected("stock bars", 422, None, "timeframe '1Day' is not served")
            source = self.daily_bars
        else:
            source = self.minute_bars
        return {
            s: [b for b in source.get(s, []) if start <= b.time and b.time + ONE <= end]
            for s in symbols
        }

    def minute_calls(self):
        return [c for c in self.calls if c[1] is BarTimeframe.MINUTE]


class FakeBroker:
    def __init__(self, positions: Sequence[PositionSnapshot] = ()) -> None:
        self.held = list(positions)
        self.asked = 0

    def positions(self) -> list[PositionSnapshot]:
        self.asked += 1
        return list(self.held)


class FakeInbox:
    """The store's insert: the first row under an id wins, later ones get it back."""

    def __init__(self) -> None:
        self.rows: dict = {}

    def insert(self, rec):
        new = rec.id not in self.rows
        self.rows.setdefault(rec.id, rec)
        return self.rows[rec.id], new

    def mark(self, rec_id: str, status: RecommendationStatus) -> None:
        self.rows[rec_id] = dataclasses.replace(self.rows[rec_id], status=status)


class FakeLock:
    def __init__(self) -> None:
        self.held: dict[str, float] = {}
        self.released: list[str] = []

    def claim(self, key: str, ttl_s: float) -> bool:
        if key in self.held:
            return False
        self.held[key] = ttl_s
        return True

    def release(self, key: str) -> None:
        self.released.append(key)
        self.held.pop(key, None)


class FakeCooldown:
    def __init__(self) -> None:
        self.stamps: dict[str, datetime] = {}

    def last_recorded(self, keys):
        return {k: self.stamps[k] for k in keys if k in self.stamps}

    def record(self, stamps):
        self.stamps.update(stamps)


def context(market: FakeMarket, broker: FakeBroker | None = None, rules=None) -> ScanContext:
    return ScanContext(
        market=market,
        broker=broker or FakeBroker(),
        store=FakeInbox(),
        lock=FakeLock(),
        cooldown=FakeCooldown(),
        rules=rules or default_rules(),
        watchlist=tuple(market.minute_bars),
        now=lambda: market.now,
    )


def by_ticker(ctx: ScanContext, ids: Sequence[str]) -> dict:
    return {ctx.store.rows[i].ticker: ctx.store.rows[i] for i in ids}


def test_a_surge_with_momentum_is_a_call_day_trade_and_its_negative_a_put():
    up, up_vol = surge(+1)
    down, down_vol = surge(-1)
    market = FakeMarket(
        {
            "SPY": session("SPY", up, up_vol),
            "QQQ": session("QQQ", down, down_vol),
            "AAPL": session("AAPL", flat()),
        }
    )
    ctx = context(market)
    out = scan(ctx, AT)
    recs = by_ticker(ctx, out.recommendations)
    assert set(recs) == {"SPY", "QQQ"}  # flat AAPL has no signal
    assert (recs["SPY"].instrument_type, recs["SPY"].action) == (InstrumentType.CALL, Action.BUY)
    assert (recs["QQQ"].instrument_type, recs["QQQ"].action) == (InstrumentType.PUT, Action.SELL)
    for rec in recs.values():
        assert rec.rule_id == RULE_DAY_TRADE
        assert rec.strategy_type is StrategyType.DAY_TRADE
        assert rec.confidence > 0.7
        assert rec.features["volume_ratio"] > 3.0
        assert rec.status is RecommendationStatus.PENDING
    assert set(out.to_send) == set(out.recommendations)
    # one batched minute-bars call for the whole watchlist, from the session's open
    (call,) = market.minute_calls()
    assert call[0] == ("SPY", "QQQ", "AAPL")
    assert call[2] == OPEN
    assert call[3] == AT.replace(second=0)
    assert out.bar_minute == (AT.replace(second=0) - ONE).astimezone(UTC)


def test_a_weak_signal_is_stock():
    closes, volumes = drift(+1)
    ctx = context(FakeMarket({"MSFT": session("MSFT", closes, volumes)}))
    out = scan(ctx, AT)
    (rec,) = by_ticker(ctx, out.recommendations).values()
    assert (rec.instrument_type, rec.action, rec.rule_id) == (
        InstrumentType.STOCK,
        Action.BUY,
        RULE_STOCK,
    )
    assert rec.strategy_type is None
    assert 0.4 <= rec.confidence <= 0.7
    assert out.to_send == (rec.id,)


def rising_days(ticker: str, step: float = 0.02) -> list[StockBar]:
    """Daily bars of a steady rise, one per past session (stamped at midnight New York)."""
    return [bar(ticker, d, 90.0 * (1 + step) ** k) for k, d in enumerate(PAST_DATES)]


def test_a_sustained_trend_is_a_swing_option():
    market = FakeMarket({"NVDA": session("NVDA", flat(110.0))})
    market.daily_bars = {"NVDA": rising_days("NVDA")}
    ctx = context(market)
    out = scan(ctx, AT)
    (rec,) = by_ticker(ctx, out.recommendations).values()
    assert rec.rule_id == RULE_SWING
    assert rec.strategy_type is StrategyType.SWING_TRADE
    assert rec.instrument_type is InstrumentType.CALL
    assert rec.features["trend_consistency"] == 1.0
    (daily,) = [c for c in market.calls if c[1] is BarTimeframe.DAY]
    assert daily[3] == OPEN  # past sessions only: today's partial day is no close


def test_the_trend_comes_from_minute_bars_when_the_venue_serves_no_daily_bars():
    market = FakeMarket({"NVDA": session("NVDA", flat(110.0))})
    market.serves_daily = False
    closes = [90.0 * 1.02**k for k in range(len(PAST_DATES))]
    for day, close in zip(PAST_DATES, closes, strict=True):
        last = day.replace(hour=15, minute=59)
        market.minute_bars["NVDA"] += [
            bar("NVDA", last - ONE, close * 0.99),
            bar("NVDA", last, close),
        ]
    market.minute_bars["NVDA"].sort(key=lambda b: b.time)
    ctx = context(market)
    (rec,) = by_ticker(ctx, scan(ctx, AT).recommendations).values()
    assert rec.rule_id == RULE_SWING
    expected = (closes[-1] / closes[-1 - default_rules().features.trend_days]) - 1
    assert rec.features["trend_return"] == pytest.approx(expected, rel=1e-5)


def test_the_daily_closes_are_fetched_once_a_day():
    market = FakeMarket({"NVDA": session("NVDA", flat(110.0, AT + 3 * ONE))})
    market.daily_bars = {"NVDA": rising_days("NVDA")}
    ctx = context(market)
    for k in range(3):
        scan(ctx, AT + k * ONE)
    assert [c[1] for c in market.calls].count(BarTimeframe.DAY) == 1
    assert len(market.minute_calls()) == 3


def test_the_same_minute_twice_gives_one_set_of_recommendations():
    closes, volumes = surge(+1)
    market = FakeMarket({"SPY": session("SPY", closes, volumes)})
    ctx = context(market)
    first = scan(ctx, AT)
    assert len(first.to_send) == 1
    again = scan(ctx, AT.replace(second=55))  # the same minute
    assert again.skipped
    assert "already scanned" in again.skipped
    assert again.recommendations == again.to_send == ()
    assert len(market.minute_calls()) == 1
    assert len(ctx.store.rows) == 1


def test_a_repeat_after_the_claim_expired_finds_the_same_ids_and_sends_nothing_twice():
    closes, volumes = surge(+1)
    ctx = context(FakeMarket({"SPY": session("SPY", closes, volumes)}))
    first = scan(ctx, AT)
    ctx.store.mark(first.to_send[0], RecommendationStatus.DISPATCHED)  # what the task does
    ctx.lock.held.clear()  # the claim expired
    again = scan(ctx, AT)
    assert again.recommendations == first.recommendations
    assert again.to_send == ()


def test_a_recommendation_stored_but_never_sent_is_sent_by_the_repeat():
    closes, volumes = surge(+1)
    ctx = context(FakeMarket({"SPY": session("SPY", closes, volumes)}))
    first = scan(ctx, AT)  # say the process died before the chain went out
    ctx.lock.held.clear()
    assert scan(ctx, AT).to_send == first.to_send


def test_a_closed_market_means_no_scan():
    closes, volumes = surge(+1)
    market = FakeMarket({"SPY": session("SPY", closes, volumes)}, is_open=False)
    ctx = context(market)
    out = scan(ctx, AT)
    assert out.skipped.startswith("market closed")
    assert "next open 2026-11-20T09:30:00-05:00" in out.skipped
    assert market.calls == []
    assert ctx.lock.held == {}
    assert ctx.store.rows == {}


def test_a_minute_after_the_close_or_before_the_first_bar_is_not_scanned():
    closes, volumes = surge(+1)
    market = FakeMarket({"SPY": session("SPY", closes, volumes)})
    ctx = context(market)
    assert "after the session's close" in scan(ctx, CLOSE + 2 * ONE).skipped
    assert "no completed bar" in scan(ctx, OPEN + timedelta(seconds=30)).skipped
    assert market.calls == []


def test_a_bearish_stock_signal_with_no_position_is_skipped_with_its_reason():
    closes, volumes = drift(-1)
    broker = FakeBroker()
    ctx = context(FakeMarket({"TSLA": session("TSLA", closes, volumes)}), broker)
    out = scan(ctx, AT)
    assert out.recommendations == out.to_send == ()
    (skip,) = out.skipped_signals
    assert skip.ticker == "TSLA"
    assert "no position to close" in skip.reason
    assert "no shorting" in skip.reason
    stored = ctx.store.rows[skip.recommendation_id]  # recorded, so a user sees why
    assert stored.status is RecommendationStatus.REJECTED
    assert stored.status_reason == skip.reason
    assert broker.asked == 1


def test_a_bearish_stock_signal_on_a_held_ticker_is_a_sell():
    closes, volumes = drift(-1)
    held = PositionSnapshot("TSLA", Decimal("10"), Decimal("101"))
    broker = FakeBroker([held])
    ctx = context(FakeMarket({"TSLA": session("TSLA", closes, volumes)}), broker)
    out = scan(ctx, AT)
    (rec,) = by_ticker(ctx, out.recommendations).values()
    assert (rec.instrument_type, rec.action) == (InstrumentType.STOCK, Action.SELL)
    assert out.skipped_signals == ()


def test_positions_are_not_asked_for_when_no_signal_could_be_a_short():
    closes, volumes = surge(+1)
    broker = FakeBroker()
    scan(context(FakeMarket({"SPY": session("SPY", closes, volumes)}), broker), AT)
    assert broker.asked == 0


def test_a_ticker_that_keeps_its_momentum_is_recommended_once_per_cooldown():
    market = FakeMarket({"SPY": [], "QQQ": []})
    ctx = context(market)
    cooldown = ctx.rules.cooldown.minutes
    assert cooldown == 15
    sent: dict[int, tuple[str, ...]] = {}
    for k in range(21):
        # every minute the last five bars are a fresh 3 % surge on 10x volume
        at = AT + k * ONE
        c, v = surge(+1, at)
        market.minute_bars["SPY"] = session_at("SPY", c, v, at)
        d, w = surge(-1, at)
        market.minute_bars["QQQ"] = session_at("QQQ", d, w, at)
        # This market rewrites its last five bars every minute, as no venue does: the
        # scan reads the session whole each time, as a new worker process would.
        ctx.bars = SessionBarsSoFar()
        out = scan(ctx, at)
        sent[k] = out.to_send
        if k and k < cooldown:
            assert set(out.cooling) == {"SPY", "QQQ"}
    assert len(sent[0]) == 2
    assert all(sent[k] == () for k in range(1, cooldown))
    assert len(sent[cooldown]) == 2  # 15 bar minutes later, both again


def test_the_cooldown_is_per_action_and_can_be_turned_off():
    market = FakeMarket({"SPY": []})
    off = dataclasses.replace(
        default_rules(), cooldown=dataclasses.replace(default_rules().cooldown, minutes=0)
    )
    ctx, ctx_off = context(market), context(market, rules=off)
    actions = []
    for k, sign in enumerate((+1, -1, +1)):
        at = AT + k * ONE
        c, v = surge(sign, at)
        market.minute_bars["SPY"] = session_at("SPY", c, v, at)
        ctx.bars = ctx_off.bars = SessionBarsSoFar()  # rewritten bars: read whole
        out = scan(ctx, at)
        actions.append([ctx.store.rows[i].action for i in out.to_send])
        assert len(scan(ctx_off, at).to_send) == 1
    # BUY, then a reversal (SELL is another key), then BUY again within 15 min: cooling
    assert actions == [[Action.BUY], [Action.SELL], []]


def test_a_failed_fetch_gives_the_minute_back_for_the_retry():
    closes, volumes = surge(+1)
    market = FakeMarket({"SPY": session("SPY", closes, volumes)})
    ctx = context(market)
    market.fail_bars = BrokerUnavailable("stock bars", "timed out")
    with pytest.raises(BrokerUnavailable):
        scan(ctx, AT)
    assert ctx.lock.released == [lock_key(ctx.watchlist, AT.replace(second=0))]
    market.fail_bars = None
    assert len(scan(ctx, AT).to_send) == 1


def test_tickers_without_bars_are_listed_and_the_rest_still_scanned():
    closes, volumes = surge(+1)
    market = FakeMarket({"SPY": session("SPY", closes, volumes), "ZZZZ": []})
    ctx = context(market)
    out = scan(ctx, AT)
    assert out.without_bars == ("ZZZZ",)
    assert len(out.recommendations) == 1
    only_missing = context(FakeMarket({"ZZZZ": []}))
    out = scan(only_missing, AT)
    assert out.without_bars == ("ZZZZ",)
    assert out.recommendations == ()


def test_the_minute_claim_names_the_watchlist_and_the_minute():
    key = lock_key(("SPY", "QQQ"), AT)
    assert key == lock_key(("QQQ", "SPY"), AT.replace(second=1))
    assert key.startswith("strikeflow:scan:")
    assert key.endswith(":20261119T1545Z")
    assert key != lock_key(("SPY",), AT)
    assert key != lock_key(("SPY", "QQQ"), AT + ONE)


def test_the_outcome_is_json():
    import json

    closes, volumes = drift(-1)
    out = scan(context(FakeMarket({"TSLA": session("TSLA", closes, volumes)})), AT)
    data = json.loads(json.dumps(out.to_json()))
    assert data["minute"] == "2026-11-19T15:45:00+00:00"
    assert data["skipped"] is None
    assert data["skipped_signals"][0]["ticker"] == "TSLA"


def test_each_scan_asks_only_for_the_minutes_since_the_last_and_reads_the_same_session():
    """The session's bars are kept: the next scan asks for the minutes since the last
    one (and two before them again), and its features are those of the whole session
    read afresh."""
    closes, volumes = surge(+1)
    market = FakeMarket({"SPY": session("SPY", closes, volumes), "AAPL": session("AAPL", flat())})
    no_cooldown = dataclasses.replace(
        default_rules(), cooldown=dataclasses.replace(default_rules().cooldown, minutes=0)
    )
    ctx = context(market, rules=no_cooldown)
    scan(ctx, AT - 2 * ONE)
    later = scan(ctx, AT)
    first_call, second_call = market.minute_calls()
    assert first_call[2] == OPEN
    assert second_call[2] == (AT - 2 * ONE).replace(second=0) - 2 * ONE
    fresh = context(market, rules=no_cooldown)
    again = scan(fresh, AT)
    assert [fresh.store.rows[i].features for i in again.recommendations] == [
        ctx.store.rows[i].features for i in later.recommendations
    ]
    assert later.recommendations


def test_the_next_session_is_read_afresh_not_on_the_last_ones_bars():
    no_cooldown = dataclasses.replace(
        default_rules(), cooldown=dataclasses.replace(default_rules().cooldown, minutes=0)
    )
    up, up_vol = surge(+1)
    market = FakeMarket({"SPY": session("SPY", up, up_vol)})
    ctx = context(market, rules=no_cooldown)
    assert scan(ctx, AT).recommendations
    tomorrow = AT + timedelta(days=1)
    down, down_vol = surge(-1, tomorrow)
    market.minute_bars["SPY"] = session_at("SPY", down, down_vol, tomorrow)
    day = timedelta(days=1)
    market.clock = lambda: MarketClock(tomorrow, True, OPEN + 2 * day, CLOSE + day)
    later = scan(ctx, tomorrow)
    fresh = context(market, rules=no_cooldown)
    again = scan(fresh, tomorrow)
    assert later.recommendations
    assert [ctx.store.rows[i].features for i in later.recommendations] == [
        fresh.store.rows[i].features for i in again.recommendations
    ]
    assert market.minute_calls()[-2][2] == OPEN + timedelta(days=1)  # from the open again
