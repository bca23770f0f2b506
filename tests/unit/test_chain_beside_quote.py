"""fetch_chain asks for an option chain beside the stock quote, drawn around the last
spot the fleet saw (``spot_hints``, ``chain_reads``): the chain the sequential read
gives, one venue round trip sooner. A spot outside the hint's margin, no hint, or an
early read that failed asks again after the quote, around spot."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from strikeflow.app_state.in_process import InProcessSharedCache
from strikeflow.domain.enums import InstrumentType, Right, StrategyType
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.market import StrikeBand
from strikeflow.services.dispatch_steps import fetch_chain
from strikeflow.services.scan import scan
from strikeflow.services.spot_hints import HINT_MAX_AGE_S, remember_spots, remembered_spot
from tests.unit.dispatch_runs import setup
from tests.unit.test_scan_service import AT, FakeMarket, context, flat, session, surge

D = Decimal
DAY_CALL = {"instrument_type": InstrumentType.CALL, "strategy_type": StrategyType.DAY_TRADE}
SWING_PUT = {"instrument_type": InstrumentType.PUT, "strategy_type": StrategyType.SWING_TRADE}


def symbols(fetched) -> list[str]:
    return [c.symbol for c in fetched.chain]


def sequential(overrides) -> list[str]:
    """The chain as fetched after the quote, with nothing shared."""
    ctx, *_ = setup(rec_overrides=overrides)
    return symbols(fetch_chain(ctx, "rec-1"))


def hinted(overrides, hint: str | None, age_s: float = 5.0):
    """A context sharing a cache that holds ``hint`` for XYZ, seen ``age_s`` ago."""
    ctx, market, *_ = setup(rec_overrides=overrides)
    ctx.shared = InProcessSharedCache()
    if hint is not None:
        remember_spots(ctx.shared, {"XYZ": D(hint)}, ctx.now() - timedelta(seconds=age_s))
    return ctx, market


def test_with_no_spot_seen_the_chain_is_asked_after_the_quote_and_the_spot_is_left():
    ctx, market = hinted(DAY_CALL, None)
    fetched = fetch_chain(ctx, "rec-1")
    (query,) = market.queries
    assert query[2] == ctx.policy.strikes_to_fetch(StrategyType.DAY_TRADE, D(100), Right.CALL)
    assert symbols(fetched) == sequential(DAY_CALL)
    assert remembered_spot(ctx.shared, "XYZ", ctx.now()) == D(100)  # for the next chain


def test_a_spot_within_the_hints_margin_is_cut_from_the_chain_asked_beside_the_quote():
    for overrides in (DAY_CALL, SWING_PUT):  # a band by count, and a delta target's range
        ctx, market = hinted(overrides, "100.3")
        fetched = fetch_chain(ctx, "rec-1")
        (query,) = market.queries  # one chain read, the early one
        band = ctx.policy.strikes_to_fetch(fetched.ticket.strategy, D(100), query[3])
        assert query[2] != band
        assert query[2].covers(band)
        assert symbols(fetched) == sequential(overrides)


def test_a_spot_outside_the_margin_asks_again_around_spot():
    for overrides in (DAY_CALL, SWING_PUT):
        ctx, market = hinted(overrides, "97")  # 3 % away, the margin is 0.5 %
        fetched = fetch_chain(ctx, "rec-1")
        early, late = market.queries
        band = ctx.policy.strikes_to_fetch(fetched.ticket.strategy, D(100), late[3])
        assert not early[2].covers(band)
        assert late[2] == band
        assert symbols(fetched) == sequential(overrides)


def test_no_margin_no_early_read():
    ctx, market = hinted(DAY_CALL, "100")
    ctx.policy = dataclasses.replace(ctx.policy, chain_spot_margin=D(0))
    fetch_chain(ctx, "rec-1")
    assert len(market.queries) == 1


def test_a_hint_too_old_from_the_future_or_unreadable_is_no_hint():
    for hint, age in (("100", HINT_MAX_AGE_S + 1), ("100", -60.0)):
        ctx, market = hinted(DAY_CALL, hint, age)
        assert remembered_spot(ctx.shared, "XYZ", ctx.now()) is None
    ctx.shared.put("spot:XYZ", "not a price|yesterday", 60)
    assert remembered_spot(ctx.shared, "XYZ", ctx.now()) is None
    fetch_chain(ctx, "rec-1")
    assert len(market.queries) == 1


class EarlyReadFails:
    """The market, whose first option chain read is unreachable."""

    def __init__(self, market) -> None:
        self._market, self.failed = market, False

    def option_chain(self, *args):
        if not self.failed:
            self.failed = True
            raise BrokerUnavailable("option chain snapshots", "connection reset")
        return self._market.option_chain(*args)

    def __getattr__(self, name):
        return getattr(self._market, name)


def test_an_early_read_that_fails_is_asked_again_after_the_quote():
    ctx, market = hinted(DAY_CALL, "100")
    ctx.market = failing = EarlyReadFails(market)
    fetched = fetch_chain(ctx, "rec-1")
    assert failing.failed
    assert symbols(fetched) == sequential(DAY_CALL)


def test_a_scan_leaves_the_last_close_of_each_ticker_it_signals():
    up, up_vol = surge(+1)
    market = FakeMarket({"SPY": session("SPY", up, up_vol), "AAPL": session("AAPL", flat())})
    ctx = context(market)
    ctx.shared = InProcessSharedCache()
    out = scan(ctx, AT)
    assert out.recommendations
    left = remembered_spot(ctx.shared, "SPY", AT)
    assert left == market.minute_bars["SPY"][-1].close
    assert remembered_spot(ctx.shared, "AAPL", AT) is None  # no signal, no chain to come


STRIKES = st.lists(st.integers(1, 80), min_size=1, max_size=40, unique=True)


@given(
    strikes=STRIKES,
    per_side=st.integers(1, 4),
    aims=st.lists(st.integers(1, 80), min_size=3, max_size=3),
    use_range=st.booleans(),
)
def test_a_band_spanning_two_aims_picks_whatever_a_band_between_them_picks(
    strikes, per_side, aims, use_range
):
    low, spot, high = (D(a) for a in sorted(aims))
    listing = [(day, D(k)) for day in (1, 2) for k in strikes]

    def band(center: Decimal) -> StrikeBand:
        if use_range:
            return StrikeBand.around(center, D("0.1"))
        return StrikeBand.nearest(center, per_side)

    spanning = band(low).spanning(band(high))
    wanted = band(spot)
    assert spanning.covers(wanted)

    def picked(b: StrikeBand) -> set:
        return set(b.pick(listing, expiration=lambda c: c[0], strike=lambda c: c[1]))

    assert picked(wanted) <= picked(spanning)
    outside = band(high + 1)
    assert not spanning.covers(outside) or picked(outside) <= picked(spanning)
