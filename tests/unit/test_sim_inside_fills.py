"""The emulator's model of option limits resting inside the spread (venue_fills.InsideFills):
its chance a second, its seeded draws, and the venue filling by it, against the
hand-written quotes and clock of test_sim_venue (the call quoted 2.05 x 2.15)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.cli import _parser, main
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.sim.venue_fills import (
    MAX_INSIDE_SAMPLES,
    InsideFills,
    inside_draw,
    inside_fill_second,
)
from tests.unit.test_sim_venue import CALL, START, STOCK, FakeClock, FakeQuotes, make_venue

D = Decimal
BID, ASK = D("2.05"), D("2.15")


def steady(second: int) -> tuple[Decimal, Decimal]:
    return BID, ASK


# -- the chance a second -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "limit", "chance"),
    [
        ("buy", "2.10", 0.2 * 0.5**2),  # the mid: 0.05 a second
        ("buy", "2.13", 0.2 * 0.8**2),  # 80 % of the way to the ask
        ("buy", "2.06", 0.2 * 0.1**2),  # one cent off the bid
        ("sell", "2.06", 0.2 * 0.9**2),  # a sell's far side is the bid
        ("sell", "2.14", 0.2 * 0.1**2),
        ("buy", "2.05", 0.0),  # at the near side: waits for the quote, as before
        ("buy", "2.15", 0.0),  # at the far side: the crossing rule fills it
        ("buy", "2.20", 0.0),
        ("sell", "2.00", 0.0),
    ],
)
def test_the_chance_a_second_rises_toward_the_far_side(side, limit, chance):
    assert InsideFills().per_second(side, D(limit), BID, ASK) == pytest.approx(chance)


def test_no_chance_without_a_bid_or_with_the_model_off():
    assert InsideFills().per_second("buy", D("0.03"), D(0), D("0.05")) == 0
    off = InsideFills(rate=0)
    assert not off.on
    assert inside_fill_second(off, 1, "o", "buy", D("2.14"), 0, 10_000, steady) is None


@pytest.mark.parametrize(
    ("rate", "exponent", "word"),
    [(-0.1, 2, "inside_fill_rate"), (1.5, 2, "inside_fill_rate"), (True, 2, "inside_fill_rate"),
     (0.2, 0, "inside_fill_exponent"), (0.2, 11, "inside_fill_exponent"),
     (0.2, math.nan, "inside_fill_exponent")],
)  # fmt: skip
def test_a_rate_or_exponent_out_of_range_is_refused(rate, exponent, word):
    with pytest.raises(ValueError, match=word):
        InsideFills(rate, exponent)


# -- the draws --------------------------------------------------------------------------------


def test_the_draws_are_seeded_and_repeat():
    assert inside_draw(1, "order", 100) == inside_draw(1, "order", 100)
    assert inside_draw(1, "order", 100) != inside_draw(2, "order", 100)
    assert inside_draw(1, "order", 100) != inside_draw(1, "order", 101)
    assert 0 <= inside_draw(1, "order", 100) < 1


def first_fill_in_pieces(order_id: str, limit: Decimal, cuts: list[int]) -> int | None:
    start = 0
    for end in cuts:
        second = inside_fill_second(InsideFills(), 3, order_id, "buy", limit, start, end, steady)
        if second is not None:
            return second
        start = end + 1
    return None


@pytest.mark.parametrize("order_id", [f"order-{n}" for n in range(8)])
def test_the_fill_second_does_not_depend_on_how_the_span_is_cut(order_id):
    whole = first_fill_in_pieces(order_id, D("2.10"), [MAX_INSIDE_SAMPLES - 1])
    assert whole is not None  # 0.95 ** 300: one chance in five million of none
    assert first_fill_in_pieces(order_id, D("2.10"), list(range(MAX_INSIDE_SAMPLES))) == whole
    assert first_fill_in_pieces(order_id, D("2.10"), [7, 8, 50, 299]) == whole


@pytest.mark.parametrize("limit", ["2.07", "2.10", "2.13"])
def test_the_share_filled_within_a_minute_is_the_model_s(limit):
    """Over 2 000 orders, the share filled within 60 s is 1 - (1 - p) ** 60 within a few
    standard deviations, and rises toward the far side."""
    chance = InsideFills().per_second("buy", D(limit), BID, ASK)
    expected = 1 - (1 - chance) ** 60
    n = 2_000
    filled = sum(
        inside_fill_second(InsideFills(), 5, f"o{i}", "buy", D(limit), 1, 60, steady) is not None
        for i in range(n)
    )
    spread = 4 * math.sqrt(expected * (1 - expected) / n)
    assert abs(filled / n - expected) < spread


def test_a_long_jump_is_judged_in_at_most_max_samples_quotes():
    asked = []

    def counted(second: int) -> tuple[Decimal, Decimal]:
        asked.append(second)
        return BID, D("3.00")  # a wide spread: a limit of 2.06 barely ever fills

    day = 6 * 3600
    got = inside_fill_second(InsideFills(), 1, "o", "buy", D("2.06"), 0, day, counted)
    assert len(asked) <= MAX_INSIDE_SAMPLES
    assert got is None or 0 <= got <= day


# -- the venue -------------------------------------------------------------------------------


@pytest.fixture
def quotes() -> FakeQuotes:
    return FakeQuotes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def venue_with(quotes, clock, **options):
    return make_venue(quotes, clock, cash=100_000, **options)


def rest_until_filled(venue, clock, order_id: str, step_s: float, limit_s: float = 3_600):
    """Move the clock ``step_s`` at a time until the order fills; the order then."""
    waited = 0.0
    while waited < limit_s:
        clock.advance(step_s)
        waited += step_s
        venue.process()
        order = venue.get_order(order_id)
        if order.status == "filled":
            return order
    raise AssertionError(f"not filled within {limit_s} s")


def test_a_mid_limit_fills_at_its_limit_at_a_second_that_repeats(quotes, clock):
    fills = []
    for step_s in (1.0, 7.5, 60.0):
        clock = FakeClock()
        venue = venue_with(quotes, clock, seed=11)
        order = venue.submit(CALL, 2, "buy", "limit", "day", limit_price="2.10")
        filled = rest_until_filled(venue, clock, order.id, step_s)
        assert filled.filled_avg_price == D("2.1")
        assert filled.filled_at.timestamp() == int(filled.filled_at.timestamp())
        fills.append(filled.filled_at)
    assert fills[0] == fills[1] == fills[2]
    assert START + timedelta(seconds=1) <= fills[0] < START + timedelta(minutes=10)


def test_the_mean_wait_at_the_mid_is_tens_of_seconds(quotes, clock):
    waits = []
    for seed in range(40):
        clock = FakeClock()
        venue = venue_with(quotes, clock, seed=seed)
        order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price="2.10")
        filled = rest_until_filled(venue, clock, order.id, 30.0)
        waits.append((filled.filled_at - START).total_seconds())
    mean = sum(waits) / len(waits)
    assert 10 <= mean <= 40, mean  # 1 s of delay + 1 / 0.05 = 21 s expected


def test_off_a_limit_inside_the_spread_waits_for_the_quote(quotes, clock):
    venue = venue_with(quotes, clock, inside_fills=InsideFills(rate=0))
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price="2.14")
    clock.advance(3_000)
    venue.process()
    assert venue.get_order(order.id).status == "new"
    quotes.set(CALL, 2.05, 2.12)
    clock.advance(1)
    venue.process()
    filled = venue.get_order(order.id)
    assert (filled.status, filled.filled_avg_price) == ("filled", D("2.12"))


def test_a_stock_limit_inside_the_spread_never_fills_by_the_model(quotes, clock):
    venue = venue_with(quotes, clock, inside_fills=InsideFills(rate=1, exponent=0.1))
    order = venue.submit(STOCK, 1, "buy", "limit", "day", limit_price="190.05")
    clock.advance(600)
    venue.process()
    assert venue.get_order(order.id).status == "new"


def test_a_partial_inside_fill_leaves_the_rest_resting_at_the_limit(quotes, clock):
    venue = venue_with(quotes, clock, partial_fill_rate=1.0, seed=4)
    order = venue.submit(CALL, 5, "buy", "limit", "day", limit_price="2.12")
    seen = set()
    for _ in range(600):
        clock.advance(1)
        venue.process()
        now = venue.get_order(order.id)
        seen.add(now.status)
        if now.status == "filled":
            break
    assert {"partially_filled", "filled"} <= seen
    assert now.filled_avg_price == D("2.12")
    assert now.filled_qty == 5


def test_a_replacement_is_judged_afresh_from_its_own_readiness(quotes, clock):
    venue = venue_with(quotes, clock, seed=2)
    old = venue.submit(CALL, 1, "buy", "limit", "day", limit_price="2.06")
    clock.advance(5)
    venue.process()
    new = venue.replace(old.id, limit_price="2.14")
    filled = rest_until_filled(venue, clock, new.id, 1.0)
    assert filled.filled_avg_price == D("2.14")
    assert filled.filled_at >= START + timedelta(seconds=6)  # not before its own delay
    assert venue.get_order(old.id).status == "replaced"


def test_a_fill_is_stamped_in_utc_at_a_whole_second(quotes, clock):
    venue = venue_with(quotes, clock, inside_fills=InsideFills(rate=1, exponent=1), seed=1)
    order = venue.submit(CALL, 1, "buy", "limit", "day", limit_price="2.14")
    clock.advance(30)
    venue.process()
    filled = venue.get_order(order.id)
    assert filled.status == "filled"
    assert filled.filled_at.tzinfo is UTC or filled.filled_at.utcoffset() == timedelta(0)
    assert filled.filled_at == datetime.fromtimestamp(int(filled.filled_at.timestamp()), UTC)


# -- the emulator's flags and options ---------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "text"),
    [("--inside-fill-rate", "-0.1"), ("--inside-fill-rate", "2"), ("--inside-fill-rate", "x"),
     ("--inside-fill-exponent", "0"), ("--inside-fill-exponent", "11"),
     ("--inside-fill-exponent", "nan")],
)  # fmt: skip
def test_a_bad_inside_fill_flag_is_a_usage_error(flag, text, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["emulator", flag, text])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert flag in err
    assert "Traceback" not in err


def test_the_inside_fill_flags_and_options():
    args = _parser().parse_args(
        ["emulator", "--inside-fill-rate", "0", "--inside-fill-exponent", "3"]
    )
    assert (args.inside_fill_rate, args.inside_fill_exponent) == (0.0, 3.0)
    defaults = _parser().parse_args(["emulator"])
    assert (defaults.inside_fill_rate, defaults.inside_fill_exponent) == (0.2, 2.0)
    assert EmulatorOptions().inside_fills() == InsideFills()
    with pytest.raises(ValueError, match="inside_fill_rate"):
        EmulatorOptions(inside_fill_rate=2)
    with pytest.raises(ValueError, match="inside_fill_exponent"):
        EmulatorOptions(inside_fill_exponent=-1)
