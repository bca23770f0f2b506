"""Exit decisions: every rule at its boundary, their precedence, stale quotes, the trailing
high-water mark, shares against options, and realized P&L.

Every expected figure is worked by hand in the case id or a comment beside it. The rules
are built here, one rule on at a time, so the cases do not move when the shipped defaults
change (``test_rules_file_exits.py`` covers those).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strikeflow.domain.enums import ExitRule, ExitUrgency, InstrumentType, StrategyType
from strikeflow.domain.errors import InvalidMarketData, InvalidPolicy
from strikeflow.domain.exit_rules import ExitRuleBook, ExitRules, StrategyExits
from strikeflow.domain.exits import (
    RULE_LABELS,
    ExitQuote,
    HeldPosition,
    decide_exit,
    quote_problem,
    realized_pnl,
    update_high_water,
)
from strikeflow.domain.expiry import NEW_YORK

D = Decimal
# Monday 2026-12-07, 11:00 New York.
NOW = datetime(2026, 12, 7, 11, 0, tzinfo=NEW_YORK)
ENTRY_TIME = datetime(2026, 12, 7, 10, 0, tzinfo=NEW_YORK)
OFF = ExitRules()  # every rule off


def call(**kw) -> HeldPosition:
    """A long XYZ call bought at 1.00 with XYZ at 500.00, expiring Friday 2026-12-11."""
    base = {
        "instrument": InstrumentType.CALL,
        "strategy": StrategyType.SWING_TRADE,
        "symbol": "XYZ261211C00500000",
        "underlying": "XYZ",
        "quantity": D(2),
        "entry_price": D("1.00"),
        "entry_time": ENTRY_TIME,
        "expiration": date(2026, 12, 11),
        "entry_spot": D("500.00"),
    }
    return HeldPosition(**(base | kw))


def put(**kw) -> HeldPosition:
    return call(instrument=InstrumentType.PUT, symbol="XYZ261211P00500000", **kw)


def stock(**kw) -> HeldPosition:
    """100 XYZ shares bought at 100.00."""
    base = {
        "instrument": InstrumentType.STOCK,
        "strategy": StrategyType.DAY_TRADE,
        "symbol": "XYZ",
        "underlying": "XYZ",
        "quantity": D(100),
        "entry_price": D("100.00"),
        "entry_time": ENTRY_TIME,
    }
    return HeldPosition(**(base | kw))


def quote(bid, ask, *, mark=None, spot="500.00", theta=None, age_s=0) -> ExitQuote:
    return ExitQuote(
        bid=None if bid is None else D(bid),
        ask=None if ask is None else D(ask),
        mark=None if mark is None else D(mark),
        spot=None if spot is None else D(spot),
        theta=theta,
        quote_time=NOW - timedelta(seconds=age_s),
    )


def rule_of(decision) -> ExitRule | None:
    return None if decision is None else decision.rule


# (id with the arithmetic, position, quote, rules, expected rule or None)
# fmt: off
PRICE_CASES = [
    # stop loss 35 %, entry 1.00
    ("stop: bid 0.65 -> (0.65-1.00)/1.00 = -35.0% <= -35 fires", call(), quote("0.65", "0.67"),
     ExitRules(stop_loss_pct=35), ExitRule.STOP_LOSS),
    ("stop: bid 0.66 -> -34.0% > -35 holds", call(), quote("0.66", "0.68"),
     ExitRules(stop_loss_pct=35), None),
    ("stop: bid 0.64 -> -36%, though mid (0.64+0.72)/2 = 0.68 is -32%: the bid fires",
     call(), quote("0.64", "0.72"), ExitRules(stop_loss_pct=35), ExitRule.STOP_LOSS),
    ("stop: bid 0 -> -100% fires", call(), quote("0", "0.05"),
     ExitRules(stop_loss_pct=35), ExitRule.STOP_LOSS),
    # take profit 50 %, entry 1.00
    ("take profit: bid 1.50 -> +50.0% >= 50 fires", call(), quote("1.50", "1.52"),
     ExitRules(take_profit_pct=50), ExitRule.TAKE_PROFIT),
    ("take profit: bid 1.49 -> +49.0% holds", call(), quote("1.49", "1.51"),
     ExitRules(take_profit_pct=50), None),
    ("take profit: bid 1.45 +45% holds though mid (1.45+1.60)/2 = 1.525 is +52.5%",
     call(), quote("1.45", "1.60"), ExitRules(take_profit_pct=50), None),
    # shares: entry 100.00, take profit 3 %, stop 1.5 %
    ("stock take profit: bid 103.00 -> +3.00% fires", stock(), quote("103.00", "103.02"),
     ExitRules(take_profit_pct=3), ExitRule.TAKE_PROFIT),
    ("stock take profit: bid 102.99 -> +2.99% holds", stock(), quote("102.99", "103.01"),
     ExitRules(take_profit_pct=3), None),
    ("stock stop: bid 98.50 -> -1.50% fires", stock(), quote("98.50", "98.52"),
     ExitRules(stop_loss_pct=1.5), ExitRule.STOP_LOSS),
    ("stock stop: bid 98.51 -> -1.49% holds", stock(), quote("98.51", "98.53"),
     ExitRules(stop_loss_pct=1.5), None),
    # underlying stop 2 %, spot 500.00 at entry
    ("underlying call: 490.00 -> (490-500)/500 = -2.0% fires", call(),
     quote("1.00", "1.02", spot="490.00"), ExitRules(underlying_stop_pct=2),
     ExitRule.UNDERLYING_STOP),
    ("underlying call: 490.01 -> -1.998% holds", call(), quote("1.00", "1.02", spot="490.01"),
     ExitRules(underlying_stop_pct=2), None),
    ("underlying call: 520.00 -> +4% is with a call, holds", call(),
     quote("1.00", "1.02", spot="520.00"), ExitRules(underlying_stop_pct=2), None),
    ("underlying put: 510.00 -> +2.0% fires", put(), quote("1.00", "1.02", spot="510.00"),
     ExitRules(underlying_stop_pct=2), ExitRule.UNDERLYING_STOP),
    ("underlying put: 509.99 -> +1.998% holds", put(), quote("1.00", "1.02", spot="509.99"),
     ExitRules(underlying_stop_pct=2), None),
    ("underlying put: 480.00 -> -4% is with a put, holds", put(),
     quote("1.00", "1.02", spot="480.00"), ExitRules(underlying_stop_pct=2), None),
    ("underlying: no spot in the quote, holds", call(), quote("1.00", "1.02", spot=None),
     ExitRules(underlying_stop_pct=2), None),
    ("underlying: no spot at entry, holds", call(entry_spot=None),
     quote("1.00", "1.02", spot="400.00"), ExitRules(underlying_stop_pct=2), None),
    # trailing stop 20 % below the high, armed at +30 %
    ("trailing: high 1.50 (+50% armed), mark 1.20 -> (1.50-1.20)/1.50 = 20% fires",
     call(high_water=D("1.50")), quote("1.18", "1.22"),
     ExitRules(trailing_stop_pct=20, trailing_arm_pct=30), ExitRule.TRAILING_STOP),
    ("trailing: high 1.50, mark 1.21 -> 0.29/1.50 = 19.3% holds",
     call(high_water=D("1.50")), quote("1.19", "1.23"),
     ExitRules(trailing_stop_pct=20, trailing_arm_pct=30), None),
    ("trailing: high 1.25 (+25% < 30, not armed), mark 0.90 -> 28% below holds",
     call(high_water=D("1.25")), quote("0.89", "0.91"),
     ExitRules(trailing_stop_pct=20, trailing_arm_pct=30), None),
    ("trailing: high 1.30 (+30% armed), mark 1.04 -> 0.26/1.30 = 20% fires",
     call(high_water=D("1.30")), quote("1.03", "1.05"),
     ExitRules(trailing_stop_pct=20, trailing_arm_pct=30), ExitRule.TRAILING_STOP),
    ("trailing: mark 1.60 above the high 1.50 is the new high, 0% below holds",
     call(high_water=D("1.50")), quote("1.59", "1.61"),
     ExitRules(trailing_stop_pct=20, trailing_arm_pct=30), None),
    ("trailing armed from the start: entry 1.00, mark 0.80 -> 20% below fires",
     call(), quote("0.79", "0.81"), ExitRules(trailing_stop_pct=20), ExitRule.TRAILING_STOP),
    ("trailing: an explicit mark 1.20 wins over the mid 1.25", call(high_water=D("1.50")),
     quote("1.20", "1.30", mark="1.20"), ExitRules(trailing_stop_pct=20),
     ExitRule.TRAILING_STOP),
    ("trailing: no bid or ask, no mark, holds", call(high_water=D("1.50")),
     quote(None, None), ExitRules(trailing_stop_pct=20), None),
    # theta 15 % of the mark a day
    ("theta: 0.12 / mark 0.80 = 15.0% fires", call(), quote("0.79", "0.81", theta=-0.12),
     ExitRules(theta_max_pct=15), ExitRule.THETA),
    ("theta: 0.11 / 0.80 = 13.75% holds", call(), quote("0.79", "0.81", theta=-0.11),
     ExitRules(theta_max_pct=15), None),
    ("theta: none reported holds", call(), quote("0.79", "0.81", theta=None),
     ExitRules(theta_max_pct=15), None),
    ("theta: a nan from the venue is none, holds", call(),
     quote("0.79", "0.81", theta=float("nan")), ExitRules(theta_max_pct=15), None),
    ("theta: mark 0 judges nothing", call(), quote("0", "0", theta=-0.05),
     ExitRules(theta_max_pct=15), None),
    ("theta: a share has none", stock(), quote("99", "101", theta=-5.0),
     ExitRules(theta_max_pct=15), None),
    ("underlying: a share is its own underlying", stock(), quote("99", "101", spot="50"),
     ExitRules(underlying_stop_pct=2), None),
    ("all off: nothing fires", call(), quote("0.01", "0.02", spot="1", theta=-1.0), OFF, None),
]
# fmt: on


@pytest.mark.parametrize(
    ("position", "q", "rules", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in PRICE_CASES],
)
def test_each_price_rule_at_its_boundary(position, q, rules, expected):
    assert rule_of(decide_exit(position, q, rules, NOW)) is expected


def at(hour: int, minute: int = 0, second: int = 0, day: int = 7) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=NEW_YORK)


# (id, position, now, rules, expected rule, expected urgency); the quote is always absent:
# the clock's rules need none.
# fmt: off
CLOCK_CASES = [
    ("expiry: Fri 12-11 from Mon 12-07 is 4 DTE > 1 holds", call(), at(11),
     ExitRules(close_at_dte=1), None, None),
    ("expiry: Tue 12-08 from Mon 12-07 is 1 DTE <= 1 fires", call(expiration=date(2026, 12, 8)),
     at(11), ExitRules(close_at_dte=1), ExitRule.EXPIRY, ExitUrgency.ORDINARY),
    ("expiry: 1 DTE at 15:30 is near the close, urgent", call(expiration=date(2026, 12, 8)),
     at(15, 30), ExitRules(close_at_dte=1), ExitRule.EXPIRY, ExitUrgency.URGENT),
    ("expiry: 0 DTE (expiring today) fires urgent at 09:31", call(expiration=date(2026, 12, 7)),
     at(9, 31), ExitRules(close_at_dte=0), ExitRule.EXPIRY, ExitUrgency.URGENT),
    ("expiry: 22:00 NY Mon is Tue 03:00 UTC, still Mon: Wed 12-09 is 2 DTE, holds",
     call(expiration=date(2026, 12, 9)), datetime.fromisoformat("2026-12-08T03:00:00+00:00"),
     ExitRules(close_at_dte=1), None, None),
    ("expiry: a share has none", stock(), at(11), ExitRules(close_at_dte=5), None, None),
    ("time: 15:09:59 is before 15:10, holds", call(), at(15, 9, 59),
     ExitRules(time_exit=time(15, 10)), None, None),
    ("time: 15:10:00 fires, urgent (15:00 or later)", call(), at(15, 10),
     ExitRules(time_exit=time(15, 10)), ExitRule.TIME_OF_DAY, ExitUrgency.URGENT),
    ("time: 14:00 exit at 14:00 fires, ordinary (before 15:00)", call(), at(14),
     ExitRules(time_exit=time(14, 0)), ExitRule.TIME_OF_DAY, ExitUrgency.ORDINARY),
    ("time: bought Fri 12-04, still held Mon 09:45: past its day, fires",
     stock(entry_time=datetime(2026, 12, 4, 15, 0, tzinfo=NEW_YORK)), at(9, 45),
     ExitRules(time_exit=time(15, 50)), ExitRule.TIME_OF_DAY, ExitUrgency.ORDINARY),
    ("time: 15:50 for a share fires at 15:50, urgent", stock(), at(15, 50),
     ExitRules(time_exit=time(15, 50)), ExitRule.TIME_OF_DAY, ExitUrgency.URGENT),
    ("holding: 10:00 + 48 h = Wed 10:00 fires", call(), at(10, day=9),
     ExitRules(max_holding_hours=48), ExitRule.MAX_HOLDING, ExitUrgency.ORDINARY),
    ("holding: Wed 09:59:59 is 47.9997 h, holds", call(), at(9, 59, 59, day=9),
     ExitRules(max_holding_hours=48), None, None),
    ("holding: 1.5 h after 10:00 is 11:30 fires", stock(), at(11, 30),
     ExitRules(max_holding_hours=1.5), ExitRule.MAX_HOLDING, ExitUrgency.ORDINARY),
]
# fmt: on


@pytest.mark.parametrize(
    ("position", "now", "rules", "expected", "urgency"),
    [pytest.param(*case[1:], id=case[0]) for case in CLOCK_CASES],
)
def test_each_clock_rule_at_its_boundary_with_no_quote(position, now, rules, expected, urgency):
    decision = decide_exit(position, None, rules, now)
    assert rule_of(decision) is expected
    if decision is not None:
        assert decision.urgency is urgency


STOP = ExitRules(stop_loss_pct=35, max_quote_age_s=60)
LOSING = "0.50"  # bid 0.50 is -50%: the stop would fire on a usable quote


@pytest.mark.parametrize(
    ("q", "problem"),
    [
        pytest.param(None, "no quote", id="no quote"),
        pytest.param(quote(LOSING, "0.52", age_s=61), "61s old", id="61 s old > 60: stale"),
        pytest.param(
            replace(quote(LOSING, "0.52"), quote_time=None), "no time", id="quote without a time"
        ),
        pytest.param(quote("0.50", "0.40"), "crossed", id="bid 0.50 > ask 0.40: crossed"),
    ],
)
def test_an_unusable_quote_decides_no_price_rule(q, problem):
    assert decide_exit(call(), q, STOP, NOW) is None
    assert problem in quote_problem(q, STOP, NOW)


def test_a_quote_exactly_at_the_age_limit_still_judges():
    q = quote(LOSING, "0.52", age_s=60)  # 60 s old, limit 60 s: usable
    assert quote_problem(q, STOP, NOW) is None
    assert rule_of(decide_exit(call(), q, STOP, NOW)) is ExitRule.STOP_LOSS


@pytest.mark.parametrize(
    ("rules", "now", "expected"),
    [
        pytest.param(replace(STOP, close_at_dte=4), NOW, ExitRule.EXPIRY, id="expiry, 4 DTE"),
        pytest.param(
            replace(STOP, time_exit=time(11, 0)), NOW, ExitRule.TIME_OF_DAY, id="time, 11:00"
        ),
        pytest.param(
            replace(STOP, max_holding_hours=1), NOW, ExitRule.MAX_HOLDING, id="holding, 1 h"
        ),
    ],
)
def test_the_clock_rules_fire_on_a_stale_quote(rules, now, expected):
    stale = quote(LOSING, "0.52", age_s=3_600)
    assert rule_of(decide_exit(call(), stale, rules, now)) is expected


ALL_ON = ExitRules(
    take_profit_pct=50,
    stop_loss_pct=35,
    trailing_stop_pct=20,
    trailing_arm_pct=30,
    time_exit=time(15, 10),
    close_at_dte=1,
    underlying_stop_pct=2,
    theta_max_pct=15,
    max_holding_hours=48,
)


@pytest.mark.parametrize(
    ("position", "q", "now", "expected"),
    [
        pytest.param(
            call(expiration=date(2026, 12, 8)),
            quote("0.50", "0.52"),
            at(15, 30),
            ExitRule.EXPIRY,
            id="expiry (1 DTE) before time (15:30 >= 15:10) and stop (-50%)",
        ),
        pytest.param(
            call(),
            quote("0.50", "0.52"),
            at(15, 10),
            ExitRule.TIME_OF_DAY,
            id="time (15:10) before stop (-50%)",
        ),
        pytest.param(
            call(),
            quote("0.60", "0.62", spot="480"),
            NOW,
            ExitRule.STOP_LOSS,
            id="stop (-40%) before underlying (480/500 = -4%)",
        ),
        pytest.param(
            call(high_water=D("1.50")),
            quote("1.10", "1.12", spot="480"),
            NOW,
            ExitRule.UNDERLYING_STOP,
            id="underlying (-4%) before trailing (mark 1.11 is 26% below 1.50)",
        ),
        pytest.param(
            call(high_water=D("2.00")),
            quote("1.50", "1.60"),
            NOW,
            ExitRule.TRAILING_STOP,
            id="trailing (mark 1.55 is 22.5% below 2.00) before take profit (bid +50%)",
        ),
        pytest.param(
            call(),
            quote("1.50", "1.52", theta=-0.5),
            NOW,
            ExitRule.TAKE_PROFIT,
            id="take profit (+50%) before theta (0.5/1.51 = 33%)",
        ),
        pytest.param(
            call(entry_time=at(9, 30, day=4)),
            quote("0.99", "1.01", theta=-0.2),
            at(11, day=7),
            ExitRule.THETA,
            id="theta (0.2/1.00 = 20%) before holding (Fri 09:30 to Mon 11:00 = 73.5 h)",
        ),
    ],
)
def test_the_first_rule_in_precedence_wins(position, q, now, expected):
    rules = ALL_ON if position.entry_time.day == 7 else replace(ALL_ON, time_exit=None)
    q = replace(q, quote_time=now)
    assert rule_of(decide_exit(position, q, rules, now)) is expected


def test_the_reason_names_the_rule_and_its_figures():
    decision = decide_exit(call(), quote("0.62", "0.64"), ExitRules(stop_loss_pct=35), NOW)
    # (0.62 - 1.00) / 1.00 = -38.0 %
    assert decision.reason == "stop loss: bid 0.62 is -38.0% of premium 1.00, limit -35%"
    assert decision.figures == {
        "bid": 0.62,
        "entry_price": 1.0,
        "pnl_pct": -38.0,
        "limit_pct": -35.0,
    }
    assert decision.urgency is ExitUrgency.ORDINARY


def test_a_share_is_judged_against_its_entry_price():
    decision = decide_exit(stock(), quote("103.50", "103.52"), ExitRules(take_profit_pct=3), NOW)
    # (103.50 - 100.00) / 100.00 = +3.5 %
    assert decision.reason == "take profit: bid 103.50 is +3.5% of entry price 100.00, target +3%"


def test_the_other_reasons_carry_their_figures():
    trail = decide_exit(
        call(high_water=D("1.50")), quote("1.18", "1.22"), ExitRules(trailing_stop_pct=20), NOW
    )
    # mark (1.18 + 1.22) / 2 = 1.20; (1.50 - 1.20) / 1.50 = 20 %; high +50 % of 1.00
    assert trail.reason == (
        "trailing stop: mark 1.20 is 20.0% below the high 1.50"
        " (+50.0% of premium 1.00, armed from +0%), limit 20%"
    )
    under = decide_exit(
        put(), quote("1.00", "1.02", spot="512.50"), ExitRules(underlying_stop_pct=2), NOW
    )
    # (512.50 - 500.00) / 500.00 = +2.5 %
    assert under.reason == (
        "underlying stop: XYZ 512.50 is +2.5% from 500.00 at entry, limit +2% for a put"
    )
    assert under.figures["move_pct"] == 2.5
    theta = decide_exit(call(), quote("0.39", "0.41", theta=-0.1), ExitRules(theta_max_pct=15), NOW)
    # 0.1 / 0.40 = 25 %
    assert theta.reason == "theta: decay 0.1 a day is 25.0% of the mark 0.40, limit 15%"
    expiry = decide_exit(call(expiration=date(2026, 12, 8)), None, ExitRules(close_at_dte=1), NOW)
    assert expiry.reason == "expiry: 1 DTE (expires Tue 2026-12-08), close at DTE <= 1"


def test_any_exit_on_an_options_expiry_day_is_urgent():
    today = call(expiration=date(2026, 12, 7))
    stop = decide_exit(today, quote("0.50", "0.52"), STOP, NOW)
    assert (stop.rule, stop.urgency) == (ExitRule.STOP_LOSS, ExitUrgency.URGENT)
    later = decide_exit(call(), quote("0.50", "0.52"), STOP, NOW)
    assert later.urgency is ExitUrgency.ORDINARY


@pytest.mark.parametrize(
    ("high_water", "mark", "expected"),
    [
        pytest.param(None, "1.20", D("1.20"), id="none, mark 1.20 > entry 1.00: 1.20"),
        pytest.param("1.50", "1.20", D("1.50"), id="1.50, mark 1.20: stays 1.50"),
        pytest.param("1.50", "1.51", D("1.51"), id="1.50, mark 1.51: 1.51"),
        pytest.param(None, "0.80", None, id="none, mark 0.80 below entry 1.00: stays none"),
        pytest.param("1.50", None, D("1.50"), id="1.50, no mark: unchanged"),
    ],
)
def test_the_high_water_mark_only_rises(high_water, mark, expected):
    held = call(high_water=None if high_water is None else D(high_water))
    after = update_high_water(held, None if mark is None else D(mark))
    assert after.high_water == expected
    assert after.peak == (expected or D("1.00"))


def test_a_trailing_stop_follows_the_high_water_mark_minute_by_minute():
    rules = ExitRules(trailing_stop_pct=20, trailing_arm_pct=30)
    held = call()
    marks = ["1.10", "1.40", "1.60", "1.45", "1.29", "1.28"]
    fired = []
    for mark in marks:
        q = quote(mark, mark)
        fired.append(rule_of(decide_exit(held, q, rules, NOW)))
        held = update_high_water(held, q.mark)
    # high 1.60 (+60 % armed); 1.29 is 19.4 % below it, 1.28 is (1.60-1.28)/1.60 = 20 %
    assert fired == [None, None, None, None, None, ExitRule.TRAILING_STOP]
    assert held.high_water == D("1.60")


@pytest.mark.parametrize(
    ("entry", "exit_", "qty", "multiplier", "fees", "expected"),
    [
        pytest.param("1.00", "1.50", 3, 100, "1.95", D("148.05"), id="(1.50-1.00)x100x3-1.95"),
        pytest.param("2.40", "0.65", 1, 100, "0", D("-175.00"), id="(0.65-2.40)x100x1 = -175"),
        pytest.param("100.00", "98.50", 10, 1, "0", D("-15.00"), id="shares (98.5-100)x1x10"),
        pytest.param("100.00", "98.50", -10, 1, "0", D("15.00"), id="short: x(-10) = +15"),
        pytest.param("1.00", "0", 2, 100, "0.70", D("-200.70"), id="expired worthless -200-0.70"),
    ],
)
def test_realized_pnl(entry, exit_, qty, multiplier, fees, expected):
    assert realized_pnl(D(entry), D(exit_), qty, multiplier, D(fees)) == expected


@pytest.mark.parametrize(
    ("args", "name"),
    [
        pytest.param((D("NaN"), D(1), 1, 100), "entry_price", id="nan entry"),
        pytest.param((D(1), D(-1), 1, 100), "exit_price", id="negative exit"),
        pytest.param((D(1), D(1), 0, 100), "quantity", id="zero quantity"),
        pytest.param((D(1), D(1), 1, 0), "multiplier", id="zero multiplier"),
        pytest.param((1.0, D(1), 1, 100), "entry_price", id="float entry"),
    ],
)
def test_realized_pnl_refuses_bad_figures_by_name(args, name):
    with pytest.raises(InvalidMarketData, match=name):
        realized_pnl(*args)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        pytest.param(lambda: call(entry_price=D(0)), "entry_price", id="premium 0"),
        pytest.param(lambda: call(quantity=D(-1)), "quantity", id="short option"),
        pytest.param(lambda: call(expiration=None), "expiration", id="option without expiry"),
        pytest.param(lambda: call(entry_time=datetime(2026, 12, 7)), "entry_time", id="naive"),
        pytest.param(lambda: call(multiplier=0), "multiplier", id="multiplier 0"),
        pytest.param(lambda: call(entry_spot=D("Infinity")), "entry_spot", id="infinite spot"),
        pytest.param(lambda: ExitQuote(bid=D(-1), ask=D(1), quote_time=NOW), "bid", id="bid<0"),
    ],
)
def test_a_bad_position_or_quote_is_refused_by_name(make, name):
    with pytest.raises((InvalidMarketData, ValueError), match=name):
        make()


def test_positions_default_their_multiplier():
    assert call().multiplier == 100
    assert stock().multiplier == 1
    assert call(multiplier=10).multiplier == 10


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        pytest.param({"take_profit_pct": 0}, "take_profit_pct", id="0 is not off"),
        pytest.param({"stop_loss_pct": 101}, "stop_loss_pct", id="stop beyond -100%"),
        pytest.param({"trailing_stop_pct": 100}, "trailing_stop_pct", id="trail of 100%"),
        pytest.param({"trailing_arm_pct": -1}, "trailing_arm_pct", id="negative arm"),
        pytest.param({"close_at_dte": -1}, "close_at_dte", id="negative dte"),
        pytest.param({"close_at_dte": 1.5}, "close_at_dte", id="fractional dte"),
        pytest.param({"max_quote_age_s": 0}, "max_quote_age_s", id="quote age 0"),
        pytest.param({"time_exit": "15:10"}, "time_exit", id="time as text"),
        pytest.param({"theta_max_pct": float("nan")}, "theta_max_pct", id="nan theta"),
    ],
)
def test_exit_rules_refuse_values_out_of_range_by_name(kw, name):
    with pytest.raises(InvalidPolicy, match=name):
        ExitRules(**kw)


def test_the_book_picks_rules_by_strategy_and_kind():
    day_opt, day_stock = ExitRules(take_profit_pct=1), ExitRules(take_profit_pct=2)
    swing_opt, swing_stock = ExitRules(take_profit_pct=3), ExitRules(take_profit_pct=4)
    book = ExitRuleBook(StrategyExits(day_opt, day_stock), StrategyExits(swing_opt, swing_stock))
    assert book.for_position(StrategyType.DAY_TRADE, InstrumentType.CALL) is day_opt
    assert book.for_position(StrategyType.DAY_TRADE, InstrumentType.PUT) is day_opt
    assert book.for_position(StrategyType.DAY_TRADE, InstrumentType.STOCK) is day_stock
    assert book.for_position(StrategyType.SWING_TRADE, InstrumentType.PUT) is swing_opt
    assert book.for_position("swing_trade", "STOCK") is swing_stock
    assert book.for_position(None, InstrumentType.STOCK) is swing_stock


def test_a_share_may_not_carry_option_rules():
    with pytest.raises(InvalidPolicy, match=r"stock\.close_at_dte"):
        StrategyExits(ExitRules(), ExitRules(close_at_dte=1))


prices = st.decimals(min_value=D("0.00"), max_value=D("20.00"), places=2)
pcts = st.none() | st.floats(min_value=0.5, max_value=99.0)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    entry=st.decimals(min_value=D("0.05"), max_value=D("20.00"), places=2),
    bid=prices,
    spread=prices,
    high=st.none() | prices,
    spot=st.decimals(min_value=D("1"), max_value=D("1000"), places=2),
    theta=st.none() | st.floats(min_value=-5, max_value=0),
    take=pcts,
    stop=pcts,
    trail=pcts,
    under=pcts,
    theta_max=pcts,
    minutes=st.integers(min_value=0, max_value=60 * 24 * 10),
    instrument=st.sampled_from(list(InstrumentType)),
)
def test_one_decision_one_rule_and_its_reason_names_it(
    entry,
    bid,
    spread,
    high,
    spot,
    theta,
    take,
    stop,
    trail,
    under,
    theta_max,
    minutes,
    instrument,
):
    option = instrument is not InstrumentType.STOCK
    rules = ExitRules(
        take_profit_pct=take,
        stop_loss_pct=stop,
        trailing_stop_pct=trail,
        underlying_stop_pct=under if option else None,
        theta_max_pct=theta_max if option else None,
        close_at_dte=1,
        time_exit=time(15, 10),
        max_holding_hours=72,
    )
    now = ENTRY_TIME + timedelta(minutes=minutes)
    held = (call if option else stock)(entry_price=entry, high_water=high)
    if instrument is InstrumentType.PUT:
        held = replace(held, instrument=InstrumentType.PUT)
    q = ExitQuote(bid=bid, ask=bid + spread, quote_time=now, spot=spot, theta=theta)
    decision = decide_exit(held, q, rules, now)
    if decision is None:
        return
    assert decision.reason.startswith(f"{RULE_LABELS[decision.rule]}: ")
    gain = (bid - entry) / entry * 100
    if decision.rule is ExitRule.TAKE_PROFIT:  # a take profit is never a loss at the stop
        assert gain >= D(repr(take)) > 0
        assert stop is None or gain > -D(repr(stop))
    if decision.rule is ExitRule.STOP_LOSS:
        assert gain <= -D(repr(stop)) < 0
        assert take is None or gain < D(repr(take))
