"""The rules on crafted features and bars: each branch, each threshold at its edge, ids."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from strikeflow.domain.enums import (
    Action,
    InstrumentType,
    RecommendationSource,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import InvalidMarketData, InvalidRecord
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import MAX_ID
from strikeflow.signals.features import Bars, Features
from strikeflow.signals.ids import recommendation_id
from strikeflow.signals.rules import (
    RULE_DAY_TRADE,
    RULE_STOCK,
    RULE_SWING,
    decide,
    intraday_confidence,
    recommend,
    to_recommendation,
)
from strikeflow.signals.rules_file import default_rules

MINUTE = datetime(2026, 11, 19, 10, 45, tzinfo=NEW_YORK)
RULES = default_rules()

# With the default confidence model every component is full (1.0) at: volume_ratio 5,
# |momentum| 0.03, RSI 50 +/- 20, VWAP distance 0.01 (each in the signal's direction).
STRONG_UP = {"volume_ratio": 5.0, "momentum": 0.03, "rsi": 70.0, "vwap_distance": 0.01}
STRONG_DOWN = {"volume_ratio": 5.0, "momentum": -0.03, "rsi": 30.0, "vwap_distance": -0.01}
# Every component half full: 0.5*(0.35 + 0.35 + 0.15 + 0.15) = confidence 0.5.
HALF_UP = {"volume_ratio": 3.0, "momentum": 0.015, "rsi": 60.0, "vwap_distance": 0.005}


def feats(**values: float) -> Features:
    """One ticker's features: neutral unless given."""
    base = {
        "volume_ratio": 1.0,
        "momentum": 0.0,
        "vwap_distance": 0.0,
        "rsi": 50.0,
        "trend_return": 0.0,
        "trend_consistency": 0.0,
    }
    base.update(values)
    return Features(**{k: np.array([v], dtype=np.float64) for k, v in base.items()})


def one(values: dict, rules=RULES, held=frozenset(), sentiment=None):
    decisions = decide(["XYZ"], feats(**values), rules, held, sentiment)
    assert len(decisions) <= 1
    return decisions[0] if decisions else None


def confidence(values: dict, sentiment: float = 0.0) -> float:
    return float(intraday_confidence(feats(**values), np.array([sentiment]), RULES.confidence)[0])


def with_rule(section: str, **changes):
    return dataclasses.replace(
        RULES, **{section: dataclasses.replace(getattr(RULES, section), **changes)}
    )


class FixedSentiment:
    def __init__(self, scores):
        self._scores = scores
        self.asked: list[list[str]] = []

    def scores(self, tickers):
        self.asked.append(list(tickers))
        return self._scores


# --- confidence -----------------------------------------------------------------------------


def test_confidence_is_the_weighted_mean_of_the_components():
    assert confidence(STRONG_UP) == pytest.approx(1.0)
    assert confidence(STRONG_DOWN) == pytest.approx(1.0)
    assert confidence(HALF_UP) == pytest.approx(0.5)
    # RSI and VWAP against the move count nothing: 0.35*0.5 + 0.35*0.5 = 0.35
    against = {**HALF_UP, "rsi": 40.0, "vwap_distance": -0.005}
    assert confidence(against) == pytest.approx(0.35)
    # no momentum, no direction, no confidence, whatever the volume
    assert confidence({**STRONG_UP, "momentum": 0.0}) == 0.0


def test_sentiment_moves_confidence_toward_or_against_the_signal():
    # sentiment_weight 0.1: 0.5 + 0.1 * (+1) = 0.6, 0.5 + 0.1 * (-1) = 0.4
    assert confidence(HALF_UP, sentiment=1.0) == pytest.approx(0.6)
    assert confidence(HALF_UP, sentiment=-1.0) == pytest.approx(0.4)
    # clipped to [0, 1]
    assert confidence(STRONG_UP, sentiment=1.0) == 1.0


# --- day trade ------------------------------------------------------------------------------


def test_a_strong_up_surge_is_a_day_trade_call():
    d = one(STRONG_UP)
    assert (d.rule_id, d.action, d.instrument_type) == (RULE_DAY_TRADE, Action.BUY, "CALL")
    assert d.strategy_type is StrategyType.DAY_TRADE
    assert d.confidence == pytest.approx(1.0)
    assert "day-trade CALL" in d.reason
    assert d.skipped is None


def test_a_strong_down_surge_is_a_day_trade_put_even_with_no_position():
    d = one(STRONG_DOWN)
    assert (d.rule_id, d.action, d.instrument_type) == (RULE_DAY_TRADE, Action.SELL, "PUT")
    assert d.skipped is None  # buying a put to open is not a short


def test_volume_ratio_must_be_above_the_threshold():
    assert one({**STRONG_UP, "volume_ratio": 3.0}).rule_id == RULE_STOCK  # 3.0 is not > 3.0
    assert one({**STRONG_UP, "volume_ratio": 3.0001}).rule_id == RULE_DAY_TRADE


def test_momentum_must_be_above_the_threshold_either_way():
    assert one({**STRONG_UP, "momentum": 0.02}).rule_id == RULE_STOCK  # 0.02 is not > 0.02
    assert one({**STRONG_UP, "momentum": 0.0201}).rule_id == RULE_DAY_TRADE
    assert one({**STRONG_DOWN, "momentum": -0.02}).rule_id == RULE_STOCK
    assert one({**STRONG_DOWN, "momentum": -0.0201}).instrument_type is InstrumentType.PUT


def test_confidence_must_be_above_the_threshold():
    values = {**STRONG_UP, "volume_ratio": 4.0}  # 0.35*0.75 + 0.65 = 0.9125
    conf = confidence(values)
    assert one(values, with_rule("day_trade", min_confidence=conf)).rule_id == RULE_STOCK
    lower = with_rule("day_trade", min_confidence=conf - 1e-9)
    assert one(values, lower).rule_id == RULE_DAY_TRADE


def test_day_trades_can_be_switched_off():
    assert one(STRONG_UP, with_rule("day_trade", enabled=False)).rule_id == RULE_STOCK


def test_a_sentiment_provider_can_lift_a_signal_into_a_day_trade():
    values = {**STRONG_UP, "rsi": 50.0, "vwap_distance": 0.0, "volume_ratio": 4.0}
    # 0.35*0.75 + 0.35*1 = 0.6125 -> STOCK; + 0.1 * 1.0 = 0.7125 > 0.7 -> day trade
    assert one(values).rule_id == RULE_STOCK
    provider = FixedSentiment({"XYZ": 1.0})
    d = one(values, sentiment=provider)
    assert d.rule_id == RULE_DAY_TRADE
    assert d.confidence == pytest.approx(0.7125)
    assert d.sentiment == 1.0
    assert provider.asked == [["XYZ"]]
    # a bearish view holds it back
    assert one(values, sentiment=FixedSentiment({"XYZ": -1.0})).confidence == pytest.approx(0.5125)


def test_without_a_provider_sentiment_is_neutral_and_not_recorded():
    assert one(STRONG_UP).sentiment is None
    assert one(STRONG_UP, sentiment=FixedSentiment({})).sentiment == 0.0


@pytest.mark.parametrize("bad", [1.5, -1.01, float("nan"), "up", True])
def test_a_provider_score_outside_minus_one_one_is_refused(bad):
    with pytest.raises(InvalidMarketData, match="sentiment for XYZ"):
        one(STRONG_UP, sentiment=FixedSentiment({"XYZ": bad}))


# --- swing ----------------------------------------------------------------------------------

TREND_UP = {"trend_return": 0.06, "trend_consistency": 0.8}


def test_a_sustained_trend_is_a_swing_option():
    d = one(TREND_UP)
    assert (d.rule_id, d.action, d.instrument_type) == (RULE_SWING, Action.BUY, "CALL")
    assert d.strategy_type is StrategyType.SWING_TRADE
    # 0.5 * (0.06 / 0.10) + 0.5 * 0.8 = 0.7
    assert d.confidence == pytest.approx(0.7)
    down = one({"trend_return": -0.08, "trend_consistency": 1.0})
    assert (down.action, down.instrument_type) == (Action.SELL, InstrumentType.PUT)
    assert down.skipped is None


def test_swing_thresholds_at_their_edges():
    assert one({**TREND_UP, "trend_return": 0.05}) is None  # 0.05 is not > 0.05
    assert one({**TREND_UP, "trend_return": 0.0501}).rule_id == RULE_SWING
    assert one({**TREND_UP, "trend_consistency": 0.79}) is None
    assert one({**TREND_UP, "trend_consistency": 0.8}).rule_id == RULE_SWING  # >= 0.8


def test_a_day_trade_wins_over_a_swing_and_a_swing_over_stock():
    assert one({**STRONG_UP, **TREND_UP}).rule_id == RULE_DAY_TRADE
    assert one({**HALF_UP, **TREND_UP}).rule_id == RULE_SWING
    assert one({**HALF_UP, **TREND_UP}, with_rule("swing", enabled=False)).rule_id == RULE_STOCK


# --- stock ----------------------------------------------------------------------------------


def test_a_weak_signal_is_stock_and_says_why_it_is_not_an_option():
    d = one(HALF_UP)
    assert (d.rule_id, d.action, d.instrument_type) == (RULE_STOCK, Action.BUY, "STOCK")
    assert d.strategy_type is None
    assert d.confidence == pytest.approx(0.5)
    assert "confidence 0.50 <= 0.70" in d.reason
    assert "volume_ratio 3.00 <= 3.00" in d.reason
    assert "|momentum| 1.50% <= 2.00%" in d.reason


def test_stock_needs_its_minimum_confidence():
    conf = confidence(HALF_UP)
    assert one(HALF_UP, with_rule("stock", min_confidence=conf)).rule_id == RULE_STOCK  # >=
    assert one(HALF_UP, with_rule("stock", min_confidence=conf + 1e-9)) is None


def test_no_momentum_is_no_signal_whatever_the_volume():
    assert one({**STRONG_UP, "momentum": 0.0}) is None


def test_a_bearish_stock_signal_without_a_position_is_skipped_with_its_reason():
    bearish = {**HALF_UP, "momentum": -0.015, "rsi": 40.0, "vwap_distance": -0.005}
    d = one(bearish)
    assert (d.action, d.instrument_type) == (Action.SELL, InstrumentType.STOCK)
    assert "no position to close" in d.skipped
    assert "XYZ" in d.skipped
    rec = to_recommendation(d, MINUTE, now=MINUTE)
    assert rec.status is RecommendationStatus.REJECTED
    assert rec.status_reason == d.skipped


def test_a_bearish_stock_signal_closes_a_held_position_or_shorts_when_allowed():
    bearish = {**HALF_UP, "momentum": -0.015, "rsi": 40.0, "vwap_distance": -0.005}
    assert one(bearish, held={"XYZ"}).skipped is None
    assert one(bearish, held={"ABC"}).skipped is not None
    assert one(bearish, with_rule("stock", allow_short=True)).skipped is None


def test_a_bullish_stock_signal_needs_no_position():
    assert one(HALF_UP).skipped is None


def test_decide_keeps_ticker_order_and_drops_tickers_without_a_signal():
    rows = [STRONG_UP, {}, HALF_UP, STRONG_DOWN]
    names = ["AAA", "BBB", "CCC", "DDD"]
    stacked = {k: np.array([feats(**r).row(0)[k] for r in rows]) for k in feats().row(0)}
    decisions = decide(names, Features(**stacked), RULES)
    assert [(d.ticker, d.rule_id) for d in decisions] == [
        ("AAA", RULE_DAY_TRADE),
        ("CCC", RULE_STOCK),
        ("DDD", RULE_DAY_TRADE),
    ]
    with pytest.raises(InvalidMarketData, match="3 tickers but features for 4"):
        decide(names[:3], Features(**stacked), RULES)


# --- from bars to records -------------------------------------------------------------------


def crafted_bars(move: float, surge: float, minutes: int = 30) -> Bars:
    """Quiet alternating bars at 100, then a last bar moved by ``move`` on ``surge``x volume."""
    close = 100.0 + 0.01 * (np.arange(minutes) % 2)
    close[-1] = close[-2] * (1 + move)
    volume = np.full(minutes, 1_000.0)
    volume[-1] = 1_000.0 * surge
    return Bars(close=close, volume=volume)


def test_surge_plus_momentum_bars_give_a_call_and_the_mirror_a_put():
    up, down, weak = (
        crafted_bars(0.03, 10),
        crafted_bars(-0.03, 10),
        crafted_bars(0.015, 3),
    )
    batch = Bars(
        close=np.stack([up.close, down.close, weak.close]),
        volume=np.stack([up.volume, down.volume, weak.volume]),
    )
    recs = recommend(["UP", "DOWN", "WEAK"], batch, MINUTE, now=MINUTE)
    got = {r.ticker: (r.instrument_type, r.strategy_type, r.action) for r in recs}
    assert got == {
        "UP": (InstrumentType.CALL, StrategyType.DAY_TRADE, Action.BUY),
        "DOWN": (InstrumentType.PUT, StrategyType.DAY_TRADE, Action.SELL),
        "WEAK": (InstrumentType.STOCK, None, Action.BUY),
    }
    up_rec = recs[0]
    assert up_rec.source is RecommendationSource.SCAN
    assert up_rec.status is RecommendationStatus.PENDING
    assert up_rec.rule_id == RULE_DAY_TRADE
    assert up_rec.features["volume_ratio"] == pytest.approx(10.0)
    assert up_rec.features["momentum"] == pytest.approx(0.03, rel=1e-3)
    assert up_rec.id == recommendation_id("UP", RULE_DAY_TRADE, MINUTE)
    assert up_rec.created_at == MINUTE


def test_a_sustained_daily_trend_gives_a_swing_from_bars():
    quiet = crafted_bars(0.0, 1)
    daily = 100 * 1.02 ** np.arange(6)  # +2% a day for 5 days: +10.4%, every day along
    recs = recommend(["TRND"], Bars(quiet.close, quiet.volume, daily_close=daily), MINUTE)
    assert [(r.rule_id, r.instrument_type) for r in recs] == [(RULE_SWING, InstrumentType.CALL)]
    assert recs[0].features["trend_consistency"] == 1.0


def test_the_same_minute_twice_gives_the_same_recommendations():
    bars = crafted_bars(0.03, 10)
    first = recommend(["UP"], bars, MINUTE)
    again = recommend(["UP"], bars, MINUTE + timedelta(seconds=40))
    later = recommend(["UP"], bars, MINUTE + timedelta(minutes=1))
    assert [r.id for r in first] == [r.id for r in again]
    assert first[0].id != later[0].id


# --- ids ------------------------------------------------------------------------------------


def test_ids_are_deterministic_and_floor_to_the_minute_in_utc():
    a = recommendation_id("AAPL", RULE_STOCK, MINUTE)
    assert a == recommendation_id("AAPL", RULE_STOCK, MINUTE.replace(second=59, microsecond=9))
    assert a == recommendation_id("AAPL", RULE_STOCK, MINUTE.astimezone(UTC))
    assert a.startswith("sig-20261119T1545Z-AAPL-")


def test_ids_differ_by_ticker_rule_and_minute():
    ids = {
        recommendation_id("AAPL", RULE_STOCK, MINUTE),
        recommendation_id("MSFT", RULE_STOCK, MINUTE),
        recommendation_id("AAPL", RULE_DAY_TRADE, MINUTE),
        recommendation_id("AAPL", RULE_STOCK, MINUTE + timedelta(minutes=1)),
        recommendation_id("AAPL", RULE_STOCK, MINUTE + timedelta(days=1)),
    }
    assert len(ids) == 5


def test_ids_fit_the_record_even_for_the_longest_ticker():
    rec_id = recommendation_id("ABCDEFGHIJKLMNOP", RULE_DAY_TRADE, MINUTE)
    assert len(rec_id) <= MAX_ID
    slash = recommendation_id("BTC/USD", RULE_STOCK, MINUTE)
    assert "BTC_USD" in slash
    assert slash != recommendation_id("BTC.USD", RULE_STOCK, MINUTE)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("aapl", RULE_STOCK, MINUTE), "ticker"),
        (("AAPL", "Stock!", MINUTE), "rule_id"),
        (("AAPL", RULE_STOCK, datetime(2026, 11, 19, 10, 45)), "bar_minute"),
    ],
)
def test_ids_refuse_bad_parts(args, field):
    with pytest.raises(InvalidRecord) as err:
        recommendation_id(*args)
    assert err.value.field == field
