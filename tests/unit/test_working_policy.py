"""Working an option order (domain/working.py): ladders and re-quoted steps worked out by
hand, the legacy one-price modes as one-step policies, the work's figures, the rules
file's ``[working]`` tables; and properties over generated quotes and policies."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strikeflow.domain.enums import Action, OrderPricing, StrategyType
from strikeflow.domain.errors import InvalidMarketData
from strikeflow.domain.orders import OptionPricing
from strikeflow.domain.working import (
    InvalidWorkingPolicy,
    Purpose,
    Step,
    Touch,
    WorkEnd,
    WorkingPolicy,
    cap,
    end_price,
    final_price,
    ladder,
    moved_too_far,
    one_step,
    price_at_step,
    work_figures,
)
from strikeflow.signals.rules_file import InvalidRules, default_rules, load_rules
from tests.hypothesis_profiles import examples

BUY, SELL = Action.BUY, Action.SELL
D = Decimal


def policy(**given) -> WorkingPolicy:
    values = {
        "start_toward_far": D(0), "steps": 4, "interval_s": 10.0, "final_toward_far": D("0.75"),
        "max_slippage_pct": D(4), "hold_s": 60.0, "end": WorkEnd.CANCEL, "max_move_pct": D(10),
    }  # fmt: skip
    return WorkingPolicy(**{**values, **given})


def q(bid: str, ask: str) -> Touch:
    return Touch(D(bid), D(ask))


# -- ladders, by hand ----------------------------------------------------------------------

# (policy overrides, bid, ask, side, limits): mid and half-spread worked out in the comment.
LADDERS = [
    # mid 2.10, half 0.10: 2.10, 2.125 -> 2.13 (a buy rounds up), 2.15, 2.175 -> 2.18
    ({}, "2.00", "2.20", BUY, ["2.10", "2.13", "2.15", "2.18"]),
    # a sell: 2.10, 2.075 -> 2.07 (down), 2.05, 2.025 -> 2.02
    ({}, "2.00", "2.20", SELL, ["2.10", "2.07", "2.05", "2.02"]),
    # mid 5.00, half 0.25, nickel tick above $3: 5.00, 5.0625 -> 5.10, 5.125 -> 5.15, 5.1875 -> 5.20
    ({}, "4.75", "5.25", BUY, ["5.00", "5.10", "5.15", "5.20"]),
    # cap 4 % of mid 1.00 = 1.04; half 0.10: 1.00, 1.025 -> 1.03, 1.05 -> cap 1.04, 1.04
    ({}, "0.90", "1.10", BUY, ["1.00", "1.03", "1.04", "1.04"]),
    # a sell capped at 0.96: 1.00, 0.975 -> 0.97, 0.96, 0.96
    ({}, "0.90", "1.10", SELL, ["1.00", "0.97", "0.96", "0.96"]),
    # no cap; start at the far side, 2 steps: the ask twice
    ({"start_toward_far": D(1), "steps": 2, "final_toward_far": D(1), "max_slippage_pct": None},
     "0.90", "1.10", BUY, ["1.10", "1.10"]),
    # the mid on the nickel grid, rounded up for a buy: mid 3.125 -> 3.15
    ({"steps": 1, "final_toward_far": D(0)}, "3.10", "3.15", BUY, ["3.15"]),
    # cap 3.24 on the nickel grid: 3.25 would pass it, so the step rounds down to 3.20
    ({"steps": 1, "max_slippage_pct": D(3)}, "3.00", "3.30", BUY, ["3.20"]),
    # a penny-pilot name keeps the cent above $3: 3.125 + 0.75 x 0.125 = 3.21875 -> 3.22
    ({"steps": 1}, "3.00", "3.25", BUY, ["3.22"]),
]  # fmt: skip


@pytest.mark.parametrize(("given", "bid", "ask", "side", "limits"), LADDERS)
def test_a_ladder_worked_out_by_hand(given, bid, ask, side, limits):
    underlying = "SPY" if (bid, ask) == ("3.00", "3.25") else "XYZ"
    work = policy(**given)
    rungs = ladder(work, q(bid, ask), side, underlying=underlying)
    assert [r.limit for r in rungs] == [D(x) for x in limits]
    assert [r.index for r in rungs] == list(range(work.steps))
    assert [r.wait_s for r in rungs] == [work.interval_s] * (work.steps - 1) + [work.hold_s]
    assert final_price(work, q(bid, ask), side, underlying=underlying) == D(limits[-1])


# (decision, fresh, step, previous, side, limit)
REQUOTES = [
    # the market rose: step 1 from the fresh mid 2.20, half 0.10 is 2.225, past the cap
    # 2.184 (4 % over the decision mid 2.10): 2.184 rounds to 2.18, not up past the cap
    (("2.00", "2.20"), ("2.10", "2.30"), 1, "2.10", BUY, "2.18"),
    # the market fell: the fresh step 2 (2.00 + 0.05 = 2.05) is below step 1's 2.13: kept
    (("2.00", "2.20"), ("1.90", "2.10"), 2, "2.13", BUY, "2.13"),
    # the market fell, a sell: step 1 from the fresh mid 2.00 is 1.975, past the cap 2.016
    # (4 % under the decision mid): 2.016 rounds up to 2.02, not down past the cap
    (("2.00", "2.20"), ("1.90", "2.10"), 1, "2.10", SELL, "2.02"),
    # a tighter fresh spread: mid 2.10, half 0.05, step 3: 2.1375 -> 2.14
    (("2.00", "2.20"), ("2.05", "2.15"), 3, "2.15", BUY, "2.15"),
    (("2.00", "2.20"), ("2.05", "2.15"), 3, None, BUY, "2.14"),
]


@pytest.mark.parametrize(("decision", "fresh", "step", "previous", "side", "limit"), REQUOTES)
def test_a_step_requoted_from_a_fresh_quote(decision, fresh, step, previous, side, limit):
    before = None if previous is None else D(previous)
    got = price_at_step(policy(), q(*decision), q(*fresh), step, side, previous=before)
    assert got == D(limit)


def test_the_cap_is_a_percentage_of_the_decision_mid():
    assert cap(policy(), q("2.00", "2.20"), BUY) == D("2.184")
    assert cap(policy(), q("2.00", "2.20"), SELL) == D("2.016")
    assert cap(policy(max_slippage_pct=None), q("2.00", "2.20"), BUY) is None


# -- the legacy modes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fraction", "bid", "ask", "side"),
    [
        (OrderPricing.MARKETABLE_LIMIT, "0.5", "2.05", "2.15", BUY),
        (OrderPricing.MARKETABLE_LIMIT, "0.5", "2.05", "2.15", SELL),
        (OrderPricing.MARKETABLE_LIMIT, "0.75", "4.80", "5.20", BUY),
        (OrderPricing.MARKETABLE_LIMIT, "1", "0.40", "0.50", SELL),
        (OrderPricing.LIMIT_AT_MID, "0.5", "3.10", "3.15", BUY),
        (OrderPricing.LIMIT_AT_MID, "0.5", "3.10", "3.15", SELL),
    ],
)
def test_a_legacy_mode_is_a_one_step_policy_at_the_same_price(mode, fraction, bid, ask, side):
    work = one_step(mode, D(fraction))
    assert (work.steps, work.end, work.max_slippage_pct) == (1, WorkEnd.CANCEL, None)
    _, expected = OptionPricing(mode, D(fraction)).price(side, D(bid), D(ask), "XYZ")
    assert ladder(work, q(bid, ask), side, underlying="XYZ") == [Step(0, expected, work.hold_s)]


def test_market_is_one_market_step_that_ends_marketable():
    work = one_step(OrderPricing.MARKET)
    assert (work.market, work.steps, work.end) == (True, 1, WorkEnd.MARKETABLE)
    assert ladder(work, q("2.00", "2.20"), BUY) == [Step(0, None, 0.0)]


# -- the end, the bound, the figures ---------------------------------------------------------


def test_the_end_cancels_or_crosses_at_the_fresh_far_side():
    assert end_price(policy(), q("2.00", "2.20"), BUY) is None
    crossing = policy(end=WorkEnd.MARKETABLE)
    assert end_price(crossing, q("2.00", "2.20"), BUY) == D("2.20")
    assert end_price(crossing, q("3.02", "3.12"), BUY) == D("3.15")  # off the nickel grid: up
    assert end_price(crossing, q("3.02", "3.12"), SELL) == D("3.00")  # down


@pytest.mark.parametrize(
    ("fresh", "bound", "reason"),
    [
        (("2.00", "2.20"), D(10), None),
        (("2.20", "2.40"), D(10), None),  # +9.5 %
        (("2.25", "2.45"), D(10), "the mid moved from 2.10 to 2.35 (+11.9%), beyond 10%"),
        (("1.80", "1.90"), D(10), "the mid moved from 2.10 to 1.85 (-11.9%), beyond 10%"),
        (("1.80", "1.90"), None, None),
        (("2.30", "2.20"), None, "cannot work an order on a 2.30 x 2.20 quote"),
        (("0", "0"), D(10), "cannot work an order on a 0 x 0 quote"),
    ],
)
def test_moved_too_far(fresh, bound, reason):
    assert moved_too_far(q("2.00", "2.20"), q(*fresh), bound) == reason


def test_the_work_figures():
    # decision 2.00 x 2.20 (mid 2.10, half 0.10); bought at 2.15: 0.05 under the ask, half
    # the half-spread, and 0.05 over the mid (2.38 % of it)
    got = work_figures(q("2.00", "2.20"), D("2.15"), BUY)
    assert got.improvement == D("0.05")
    assert got.improvement_of_half_spread == D("0.5")
    assert got.slippage == D("0.05")
    assert round(got.slippage_pct, 2) == D("2.38")
    sold = work_figures(q("2.00", "2.20"), D("2.00"), SELL)  # at the bid: no improvement
    assert (sold.improvement, sold.improvement_of_half_spread, sold.slippage) == (0, 0, D("0.1"))
    locked = work_figures(q("1.00", "1.00"), D("1.00"), BUY)
    assert locked.improvement_of_half_spread is None


def test_a_bad_quote_is_refused():
    with pytest.raises(InvalidMarketData, match=r"2\.2 x 2\.0"):
        ladder(policy(), q("2.2", "2.0"), BUY)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"start_toward_far": D(3)}, "start_toward_far"),
        ({"start_toward_far": D("0.8")}, "final_toward_far"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.0}, "steps"),
        ({"interval_s": -1.0}, "interval_s"),
        ({"hold_s": float("nan")}, "hold_s"),
        ({"max_slippage_pct": D(0)}, "max_slippage_pct"),
        ({"max_move_pct": D(101)}, "max_move_pct"),
        ({"end": "wait"}, "end"),
        ({"market": True}, "market"),
    ],
)
def test_a_policy_out_of_range_names_the_field(given, field):
    with pytest.raises(InvalidWorkingPolicy) as bad:
        policy(**given)
    assert bad.value.field == field


# -- the rules file ----------------------------------------------------------------------------


def test_the_shipped_policies():
    book = default_rules().working
    day = policy(steps=5, final_toward_far=D(1), max_slippage_pct=D(5), max_move_pct=D(20))
    assert book.policy(StrategyType.DAY_TRADE, Purpose.ENTRY) == day
    swing = book.policy(StrategyType.SWING_TRADE, Purpose.ENTRY)
    assert (swing.steps, swing.interval_s, swing.final_toward_far, swing.hold_s) == (
        4, 15.0, D("0.75"), 60.0,
    )  # fmt: skip
    for strategy in (StrategyType.DAY_TRADE, StrategyType.SWING_TRADE, None):
        assert book.policy(strategy, Purpose.EXIT).end is WorkEnd.MARKETABLE
        urgent = book.policy(strategy, Purpose.URGENT_EXIT)
        assert (urgent.start_toward_far, urgent.steps, urgent.interval_s) == (1, 2, 5.0)
        assert urgent.end is WorkEnd.MARKETABLE
        assert urgent.max_move_pct is None


def test_a_rules_file_overrides_one_key(tmp_path: Path):
    path = tmp_path / "rules.toml"
    path.write_text('[working.swing_trade.exit]\nsteps = 3\nmax_slippage_pct = "off"\n')
    book = load_rules(path).working
    assert book.swing_trade.exit.steps == 3
    assert book.swing_trade.exit.max_slippage_pct is None
    assert book.swing_trade.exit.interval_s == 20.0  # the rest kept
    assert book.day_trade == default_rules().working.day_trade


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[working.day_trade.entry]\nsteps = 0", "working.day_trade.entry.steps must be"),
        ("[working.day_trade.entry]\nsteps = 2.5", "day_trade.entry.steps must be a whole"),
        ("[working.day_trade.entry]\nend = 'later'", 'day_trade.entry.end must be "cancel"'),
        ("[working.day_trade.exit]\nhold_s = 'x'", "working.day_trade.exit.hold_s must be a"),
        ("[working.day_trade.exit]\nhold_s = 'off'", "working.day_trade.exit.hold_s must be a"),
        ("[working.day_trade.entry]\nstart_toward_far = 1.5", "final_toward_far must be at least"),
        ("[working.day_trade.entry]\nspeed = 1", "working.day_trade.entry.speed is not a key"),
        ("[working.day_trade.panic]\nsteps = 1", "working.day_trade.panic is not a key"),
        ("[working.stock]\nsteps = 1", "working.stock is not a key"),
        ("[working]\nday_trade = 1", "working.day_trade must be a table"),
        ("[working.swing_trade.urgent_exit]\nmax_move_pct = inf", "must be finite"),
    ],
)  # fmt: skip
def test_a_bad_working_key_is_one_line_naming_it(tmp_path: Path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text + "\n")
    with pytest.raises(InvalidRules) as bad:
        load_rules(path)
    assert message in str(bad.value)
    assert "\n" not in str(bad.value)


# -- properties ---------------------------------------------------------------------------------

cents = st.integers(min_value=5, max_value=5_000).map(lambda c: D(c) / 100)
reaches = st.integers(min_value=0, max_value=200).map(lambda c: D(c) / 100)


@st.composite
def quotes(draw) -> Touch:
    bid = draw(cents)
    width = draw(st.integers(min_value=0, max_value=100)) * D("0.01")
    return Touch(bid, bid + width)


@st.composite
def policies(draw) -> WorkingPolicy:
    low, high = sorted((draw(reaches), draw(reaches)))
    slip = draw(st.none() | st.integers(min_value=1, max_value=50).map(D))
    return policy(
        start_toward_far=low, final_toward_far=high, max_slippage_pct=slip,
        steps=draw(st.integers(min_value=1, max_value=8)),
    )  # fmt: skip


@settings(max_examples=examples(500))
@given(policies(), quotes(), st.sampled_from([BUY, SELL]), st.sampled_from(["XYZ", "SPY"]))
def test_a_ladder_never_passes_the_cap_never_retreats_and_ends_at_the_final_price(
    work, quote, side, underlying
):
    rungs = ladder(work, quote, side, underlying=underlying)
    limits = [r.limit for r in rungs]
    towards = 1 if side is BUY else -1
    assert all(towards * (b - a) >= 0 for a, b in itertools.pairwise(limits))
    bound = cap(work, quote, side)
    if bound is not None:
        assert all(towards * (x - bound) <= 0 or x == D("0.01") for x in limits)
    last = work.steps - 1
    assert limits[-1] == price_at_step(work, quote, quote, last, side, underlying=underlying)
    assert all(x > 0 and x == x.quantize(D("0.01")) for x in limits)


@settings(max_examples=examples(500))
@given(policies(), quotes(), quotes(), st.sampled_from([BUY, SELL]), st.data())
def test_a_requoted_step_never_passes_the_cap_nor_retreats(work, decision, fresh, side, data):
    step = data.draw(st.integers(min_value=0, max_value=work.steps - 1))
    previous = price_at_step(work, decision, decision, 0, side)
    got = price_at_step(work, decision, fresh, step, side, previous=previous)
    towards = 1 if side is BUY else -1
    assert towards * (got - previous) >= 0
    bound = cap(work, decision, side)
    if bound is not None:
        assert towards * (got - bound) <= 0 or got == D("0.01")


@settings(max_examples=examples(300))
@given(quotes(), st.sampled_from([BUY, SELL]), st.integers(min_value=0, max_value=100))
def test_a_one_step_policy_prices_as_the_legacy_mode(quote, side, percent):
    fraction = D(percent) / 100
    for mode in (OrderPricing.MARKETABLE_LIMIT, OrderPricing.LIMIT_AT_MID):
        _, legacy = OptionPricing(mode, fraction).price(side, quote.bid, quote.ask, "XYZ")
        assert final_price(one_step(mode, fraction), quote, side, underlying="XYZ") == legacy
