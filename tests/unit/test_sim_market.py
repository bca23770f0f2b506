"""The emulator's market: stock paths, minute bars and option chains that look real enough
for the signal rules to fire and the selection rules to earn their keep."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from strikeflow.domain.expiry import NEW_YORK, years_to_expiry
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.pricing import bs_greeks, bs_price, to_broker_greeks
from strikeflow.sim import calendar
from strikeflow.sim.market import RATE, Market, UnknownSymbol, synthetic_profile
from strikeflow.sim.option_chain import HORIZON_DAYS, PROFILES
from strikeflow.sim.stock_paths import DailyWalk

START = datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK)  # a Monday morning
SYMBOLS = ["SPY", "QQQ", "AAPL", "NVDA", "TSLA", "ZZZ"]


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def session_bars(market: Market, symbol: str, day: date):
    opens, closes = calendar.session(day)
    return market.bars(symbol, opens, closes)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(7, SYMBOLS, START)


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    """Sixty full sessions from the start (Good Friday skipped)."""
    return calendar.trading_days(date(2026, 3, 2), date(2026, 6, 30))[:60]


# -- determinism ------------------------------------------------------------------------


def sample(market: Market, order: list[int]) -> dict:
    """The same questions, asked in the given order."""
    t = ny(2026, 3, 4, 11, 17, 30)
    questions = {
        0: lambda: market.spot("AAPL", t),
        1: lambda: market.bars("NVDA", ny(2026, 3, 5, 9, 30), ny(2026, 3, 5, 16, 0)),
        2: lambda: market.option_snapshots("AAPL", t),
        3: lambda: market.stock_quote("TSLA", ny(2026, 3, 9, 15, 0)),
        4: lambda: market.contracts("SPY", ny(2026, 3, 10, 12, 0)),
        5: lambda: market.spot("NVDA", ny(2026, 2, 10, 14, 3)),  # before the anchor
        6: lambda: market.bars("AAPL", ny(2026, 12, 1, 10, 0), ny(2026, 12, 1, 10, 30)),
    }
    return {i: questions[i]() for i in order}


def test_same_seed_same_market_whatever_was_asked_before():
    first = Market(11, ["AAPL", "NVDA", "TSLA", "SPY"], START)
    second = Market(11, ["SPY", "TSLA", "MSFT", "NVDA", "AAPL"], START)
    second.bars("AAPL", ny(2026, 3, 3, 9, 30), ny(2026, 3, 6, 16, 0))  # warm other days
    second.option_snapshots("AAPL", ny(2026, 3, 4, 15, 0))
    assert sample(first, list(range(7))) == sample(second, list(reversed(range(7))))


def test_another_seed_another_market():
    first, other = Market(11, ["AAPL"], START), Market(12, ["AAPL"], START)
    t = ny(2026, 3, 4, 11, 17)
    assert first.spot("AAPL", t) != other.spot("AAPL", t)
    day = date(2026, 3, 4)
    assert [b.c for b in session_bars(first, "AAPL", day)] != [
        b.c for b in session_bars(other, "AAPL", day)
    ]


def test_the_close_before_the_start_day_is_the_profiles_spot(market):
    friday_evening = ny(2026, 2, 27, 18, 0)
    for symbol in ("SPY", "AAPL", "TSLA"):
        assert market.spot(symbol, friday_evening) == pytest.approx(PROFILES[symbol].spot)


# -- bars -------------------------------------------------------------------------------


def test_a_session_has_390_bars_an_early_close_210_and_a_closed_day_none(market):
    bars = session_bars(market, "AAPL", date(2026, 3, 4))
    assert len(bars) == 390
    assert bars[0].t == ny(2026, 3, 4, 9, 30)
    assert bars[-1].t == ny(2026, 3, 4, 15, 59)
    assert all(b.t - a.t == timedelta(minutes=1) for a, b in itertools.pairwise(bars))
    black_friday = session_bars(market, "AAPL", date(2026, 11, 27))
    assert len(black_friday) == 210
    assert black_friday[-1].t == ny(2026, 11, 27, 12, 59)
    for closed in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 4, 3), date(2026, 11, 26)):
        whole_day = datetime.combine(closed, datetime.min.time(), NEW_YORK)
        assert market.bars("AAPL", whole_day, whole_day + timedelta(days=1)) == []
    holy_week = market.bars("AAPL", ny(2026, 3, 30, 0, 0), ny(2026, 4, 5, 0, 0))
    assert len(holy_week) == 4 * 390


def test_bars_are_the_completed_minutes_inside_the_window(market):
    bars = market.bars("SPY", ny(2026, 3, 4, 10, 0, 30), ny(2026, 3, 4, 10, 5, 59))
    assert [b.t for b in bars] == [ny(2026, 3, 4, 10, m) for m in (1, 2, 3, 4)]
    assert market.bars("SPY", ny(2026, 3, 4, 10, 5), ny(2026, 3, 4, 10, 0)) == []
    assert market.bars("SPY", ny(2026, 3, 4, 7, 0), ny(2026, 3, 4, 9, 31)) == [
        session_bars(market, "SPY", date(2026, 3, 4))[0]
    ]


@pytest.mark.parametrize("symbol", ["SPY", "NVDA", "TSLA", "ZZZ"])
def test_bar_invariants(market, sessions, symbol):
    for day in sessions[:20]:
        bars = session_bars(market, symbol, day)
        o = np.array([b.o for b in bars])
        h = np.array([b.h for b in bars])
        low = np.array([b.low for b in bars])
        c = np.array([b.c for b in bars])
        vw = np.array([b.vw for b in bars])
        assert np.all(low <= np.minimum(o, c))
        assert np.all(h >= np.maximum(o, c))
        assert np.all(low <= vw)
        assert np.all(vw <= h)
        assert np.all(low > 0)
        assert all(b.v > 0 and b.n > 0 for b in bars)
        np.testing.assert_allclose(c[:-1], o[1:], atol=0.005 + 1e-9)  # minutes join up
        for prices in (o, h, low, c):  # cents
            np.testing.assert_allclose(prices * 100, np.round(prices * 100), atol=1e-6)


def test_days_join_up_with_modest_overnight_gaps(market):
    days = calendar.trading_days(date(2026, 3, 2), date(2026, 9, 30))
    daily_sd = PROFILES["TSLA"].vol / np.sqrt(252)
    gaps = []
    for before, after in itertools.pairwise(days):
        last = session_bars(market, "TSLA", before)[-1]
        first = session_bars(market, "TSLA", after)[0]
        assert market.spot("TSLA", ny(before.year, before.month, before.day, 20)) == (
            pytest.approx(last.c, abs=0.005)
        )
        gaps.append(np.log(first.o / last.c))
    gaps = np.array(gaps)
    assert np.all(np.abs(gaps) < 6 * daily_sd)  # never a jump
    assert np.mean(gaps != 0) > 0.9  # but there is a gap, most nights
    # Overnight variance is a modest share of the day's.
    assert 0.25 * daily_sd < np.std(gaps) < 0.7 * daily_sd


@pytest.mark.parametrize("symbol", ["SPY", "AAPL", "TSLA"])
def test_daily_closes_realise_the_profiles_vol(symbol):
    market = Market(3, [symbol], START)
    days = calendar.trading_days(date(2025, 3, 1), date(2027, 3, 1))
    assert len(days) > 490
    closes = np.array([market.spot(symbol, calendar.session(d)[1]) for d in days])
    realised = np.std(np.diff(np.log(closes)), ddof=1) * np.sqrt(252)
    # ~500 returns estimate a vol to about 3 % (one standard error).
    assert realised == pytest.approx(PROFILES[symbol].vol, rel=0.10)


def test_daily_vol_is_unbiased_over_many_paths():
    """One path cannot tell a few per cent of excess vol from luck; eighty paths can."""
    ratios = []
    for seed in range(20):
        for symbol in ("SPY", "AAPL", "NVDA", "TSLA"):
            profile = PROFILES[symbol]
            walk = DailyWalk(seed, symbol, profile, START.date())
            daily = np.std(np.diff(walk.log_close), ddof=1)
            ratios.append(daily * np.sqrt(252) / profile.vol)
    # ~1500 returns a path: the mean ratio has a standard error of about 0.002.
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.015)


def test_volume_is_u_shaped(market, sessions):
    for symbol in ("SPY", "AAPL"):
        edges, midday = [], []
        for day in sessions:
            v = np.array([b.v for b in session_bars(market, symbol, day)], float)
            edges.append(np.concatenate([v[:30], v[-30:]]).mean())
            midday.append(v[150:270].mean())  # 12:00 to 14:00
        ratio = np.mean(edges) / np.mean(midday)
        assert 1.5 < ratio < 6, (symbol, ratio)


def surge_fires(bars) -> bool:
    """volume > 3x the mean of the previous 20 bars and |15-minute momentum| > 2 %."""
    v = np.array([b.v for b in bars], float)
    c = np.array([b.c for b in bars])
    for i in range(20, len(bars)):
        if v[i] > 3 * v[i - 20 : i].mean() and abs(c[i] / c[i - 15] - 1) > 0.02:
            return True
    return False


@pytest.mark.parametrize("symbol", ["NVDA", "TSLA", "AAPL"])
def test_volume_surges_with_momentum_fire_the_signal_rule_on_some_days(market, sessions, symbol):
    fired = sum(surge_fires(session_bars(market, symbol, day)) for day in sessions)
    assert 3 <= fired <= 0.75 * len(sessions), fired


def test_spot_outside_the_session_is_the_last_close(market):
    wednesday = session_bars(market, "AAPL", date(2026, 4, 1))
    thursday = session_bars(market, "AAPL", date(2026, 4, 2))
    assert market.spot("AAPL", ny(2026, 4, 2, 8, 0)) == pytest.approx(wednesday[-1].c, abs=0.005)
    for t in (ny(2026, 4, 2, 16, 0), ny(2026, 4, 3, 12, 0), ny(2026, 4, 5, 23, 0)):
        assert market.spot("AAPL", t) == pytest.approx(thursday[-1].c, abs=0.005)
    # In the session the price at a minute's start is that bar's open.
    for bar in thursday[::37]:
        assert market.spot("AAPL", bar.t) == pytest.approx(bar.o, abs=0.005)


def test_stock_quotes_straddle_spot_in_cents(market):
    for symbol in ("SPY", "AAPL", "NVDA", "ZZZ"):
        for t in (ny(2026, 3, 4, 9, 30), ny(2026, 3, 4, 12, 34, 56), ny(2026, 3, 7, 12, 0)):
            quote, spot = market.stock_quote(symbol, t), market.spot(symbol, t)
            assert quote.bid < quote.ask
            assert quote.bid <= spot <= quote.ask
            assert quote.ask - quote.bid <= 0.03 + 0.0003 * spot
            for price in (quote.bid, quote.ask):
                assert round(price * 100) == pytest.approx(price * 100, abs=1e-6)
            assert quote.bid_size > 0
            assert quote.bid_size % 100 == 0
            assert quote.ask_size > 0
            assert quote.ask_size % 100 == 0
            # Saturday's latest quote is Friday's last, stamped with Friday's close.
            assert quote.t == (t if calendar.is_open(t) else ny(2026, 3, 6, 16, 0))


def test_latest_trade_is_at_spot_or_at_the_last_close(market):
    t = ny(2026, 3, 4, 11, 0)
    trade = market.latest_trade("AAPL", t)
    assert trade.t == t
    assert trade.price == round(market.spot("AAPL", t), 2)
    saturday = market.latest_trade("AAPL", ny(2026, 3, 7, 11, 0))
    assert saturday.t == ny(2026, 3, 6, 16, 0)
    assert saturday.price == round(market.spot("AAPL", ny(2026, 3, 6, 16, 0)), 2)


# -- option listings ------------------------------------------------------------------


def expirations(market: Market, underlying: str, t: datetime) -> list[date]:
    return sorted({c.expiration for c in market.contracts(underlying, t)})


def test_index_etfs_list_every_session_for_sixty_days(market):
    t = ny(2026, 3, 30, 10, 0)  # the week of Good Friday
    for underlying in ("SPY", "QQQ"):
        listed = expirations(market, underlying, t)
        assert listed == calendar.trading_days(date(2026, 3, 30), date(2026, 5, 29))
        assert date(2026, 4, 3) not in listed


def test_stocks_list_fridays_and_holidays_move_to_the_day_before(market):
    # Good Friday moves to Thursday; May 15 is the monthly beyond the weekly horizon.
    assert expirations(market, "AAPL", ny(2026, 3, 30, 10, 0)) == [
        date(2026, 4, 2),
        date(2026, 4, 10),
        date(2026, 4, 17),
        date(2026, 4, 24),
        date(2026, 5, 1),
        date(2026, 5, 8),
        date(2026, 5, 15),
    ]
    # Juneteenth is June's monthly, Independence Day (observed) a weekly: both on Thursday.
    assert expirations(market, "NVDA", ny(2026, 6, 1, 10, 0)) == [
        date(2026, 6, 5),
        date(2026, 6, 12),
        date(2026, 6, 18),
        date(2026, 6, 26),
        date(2026, 7, 2),
        date(2026, 7, 10),
        date(2026, 7, 17),
    ]


@pytest.mark.parametrize("underlying", ["SPY", "AAPL", "TSLA", "ZZZ"])
def test_strikes_sit_on_the_grid_around_spot(market, underlying):
    t = ny(2026, 3, 4, 11, 0)
    contracts = market.contracts(underlying, t)
    step = (PROFILES.get(underlying) or synthetic_profile(underlying)).strike_step
    spot = market.spot(underlying, t)
    assert contracts
    by_expiry: dict[date, list[float]] = {}
    for c in contracts:
        occ = parse_occ(c.symbol)
        assert (occ.root, occ.expiration, float(occ.strike)) == (
            underlying,
            c.expiration,
            c.strike,
        )
        assert occ.right.value == ("C" if c.right == "call" else "P")
        assert c.strike / step == pytest.approx(round(c.strike / step), abs=1e-9)
        by_expiry.setdefault(c.expiration, []).append(c.strike)
    # The day's band sits around spot; strikes listed on the sessions before (as far back
    # as anything still live was listed) stay listed beyond it.
    listing = market._listing(underlying, t)
    band = {c.symbol for c in contracts if not listing.carried[listing.index[c.symbol]]}
    before = calendar.trading_days(t.date() - timedelta(days=HORIZON_DAYS + 5), t.date())
    closes = [market.spot(underlying, calendar.session(d)[1]) for d in before]
    widths = []
    for expiry in sorted(by_expiry):
        strikes = by_expiry[expiry]
        grid = np.unique(strikes)
        assert np.allclose(np.diff(grid), step)  # no holes
        assert grid[0] < spot < grid[-1]
        assert 0.8 * min(closes) - step < grid[0]
        assert grid[-1] < 1.2 * max(closes) + step
        assert sum(s == grid[0] for s in strikes) == 2  # a call and a put at each strike
        fresh = [c.strike for c in contracts if c.expiration == expiry and c.symbol in band]
        assert 0.7 * spot < min(fresh) < spot < max(fresh) < 1.3 * spot
        widths.append(max(fresh) - min(fresh))
    assert widths[-1] > widths[0]  # wider further out


# -- option prices ----------------------------------------------------------------------


def chain(market: Market, underlying: str, t: datetime, near: float | None = None):
    """Snapshots with their contracts' terms, as aligned arrays: of the whole chain, or
    with ``near`` of the contracts struck within that fraction of spot."""
    info = {c.symbol: c for c in market.contracts(underlying, t)}
    if near is None:
        snaps = market.option_snapshots(underlying, t)
    else:
        spot = market.spot(underlying, t)
        named = [s for s, c in info.items() if abs(c.strike / spot - 1) <= near]
        snaps = market.option_snapshots(underlying, t, named)
        info = {s: info[s] for s in named}
    assert snaps.keys() == info.keys()
    rows = [(info[s], snap) for s, snap in snaps.items()]
    return {
        "symbol": [c.symbol for c, _ in rows],
        "expiry": np.array([c.expiration for c, _ in rows], dtype="datetime64[D]"),
        "strike": np.array([c.strike for c, _ in rows]),
        "right": np.array(["C" if c.right == "call" else "P" for c, _ in rows]),
        "oi": np.array([c.open_interest for c, _ in rows]),
        "bid": np.array([s.quote.bid for _, s in rows]),
        "ask": np.array([s.quote.ask for _, s in rows]),
        "iv": np.array([np.nan if s.implied_vol is None else s.implied_vol for _, s in rows]),
        "delta": np.array([np.nan if s.greeks is None else s.greeks.delta for _, s in rows]),
        "snaps": [s for _, s in rows],
    }


T_CHAIN = ny(2026, 3, 4, 11, 0)  # a Wednesday: SPY lists 0 DTE, AAPL's nearest is Friday


@pytest.fixture(scope="module")
def aapl(market):
    return chain(market, "AAPL", T_CHAIN)


@pytest.fixture(scope="module")
def spy(market):
    return chain(market, "SPY", T_CHAIN)


def iv_near(c: dict, expiry: str, strike: float) -> float:
    """The IV quoted nearest ``strike`` on ``expiry`` (calls and puts share a strike's IV)."""
    idx = np.flatnonzero((c["expiry"] == np.datetime64(expiry)) & ~np.isnan(c["iv"]))
    return float(c["iv"][idx[np.argmin(np.abs(c["strike"][idx] - strike))]])


def test_iv_has_a_put_skew_and_a_short_dated_premium(market, aapl):
    spot = market.spot("AAPL", T_CHAIN)
    atm = iv_near(aapl, "2026-04-17", spot)  # the monthly, 44 days out
    assert iv_near(aapl, "2026-04-17", 0.9 * spot) > atm * 1.03  # puts' wing is dearer
    assert iv_near(aapl, "2026-04-17", 1.05 * spot) < atm
    assert iv_near(aapl, "2026-03-06", spot) > atm * 1.05  # the term structure slopes down
    assert atm == pytest.approx(PROFILES["AAPL"].vol, rel=0.1)


def test_put_call_parity_holds_between_mids(market, aapl, spy):
    for underlying, c in (("AAPL", aapl), ("SPY", spy)):
        spot, q = market.spot(underlying, T_CHAIN), PROFILES[underlying].dividend_yield
        years = years_to_expiry(c["expiry"], T_CHAIN)
        mid = (c["bid"] + c["ask"]) / 2
        half = (c["ask"] - c["bid"]) / 2
        calls, puts = np.flatnonzero(c["right"] == "C"), np.flatnonzero(c["right"] == "P")
        assert np.array_equal(c["strike"][calls], c["strike"][puts])  # interleaved pairs
        assert np.array_equal(c["expiry"][calls], c["expiry"][puts])
        t = years[calls]
        forward_value = spot * np.exp(-q * t) - c["strike"][calls] * np.exp(-RATE * t)
        gap = np.abs(mid[calls] - mid[puts] - forward_value)
        assert np.all(gap <= half[calls] + half[puts] + 0.011)
        assert np.median(gap) < 0.1


def test_quotes_bracket_the_black_scholes_value_at_the_quoted_iv(market, aapl, spy):
    for underlying, c in (("AAPL", aapl), ("SPY", spy)):
        ok = ~np.isnan(c["iv"])
        years = years_to_expiry(c["expiry"][ok], T_CHAIN)
        fair = bs_price(
            market.spot(underlying, T_CHAIN),
            c["strike"][ok],
            years,
            RATE,
            PROFILES[underlying].dividend_yield,
            c["iv"][ok],
            c["right"][ok],
        )
        assert np.all(c["bid"][ok] <= fair + 1e-9)
        assert np.all(fair <= c["ask"][ok] + 1e-9)
        assert np.all(c["bid"] >= 0)
        assert np.all(c["bid"] < c["ask"])


def test_snapshot_greeks_are_the_domains_at_the_snapshot_iv_and_spot(market, aapl):
    ok = ~np.isnan(aapl["iv"])
    expected = to_broker_greeks(
        bs_greeks(
            market.spot("AAPL", T_CHAIN),
            aapl["strike"][ok],
            years_to_expiry(aapl["expiry"][ok], T_CHAIN),
            RATE,
            PROFILES["AAPL"].dividend_yield,
            aapl["iv"][ok],
            aapl["right"][ok],
        )
    )
    got = [s.greeks for s, keep in zip(aapl["snaps"], ok, strict=True) if keep]
    for name in ("delta", "gamma", "theta", "vega", "rho"):
        actual = np.array([getattr(g, name) for g in got])
        np.testing.assert_allclose(actual, getattr(expected, name), rtol=1e-9, atol=1e-12)
    calls = aapl["right"][ok] == "C"
    assert np.all(expected.delta[calls] > 0)
    assert np.all(expected.delta[~calls] < 0)


def relative_spread(c: dict) -> np.ndarray:
    return (c["ask"] - c["bid"]) / ((c["ask"] + c["bid"]) / 2)


def test_spreads_widen_in_the_wings_and_into_expiry(market, spy):
    spread, delta = relative_spread(spy), np.abs(spy["delta"])
    days = (spy["expiry"] - np.datetime64(T_CHAIN.date())).astype(int)
    month = (days >= 25) & (days <= 35)
    atm, wings = (delta >= 0.35) & (delta <= 0.65), delta <= 0.1
    assert np.median(spread[month & wings]) > 2 * np.median(spread[month & atm])
    # Into expiry, at the money: pooled over a few instants, for enough 0 and 1 DTE quotes.
    by_dte: dict[int, list[np.ndarray]] = {0: [], 1: [], 30: []}
    for t in (T_CHAIN, ny(2026, 3, 11, 13, 0), ny(2026, 3, 18, 12, 0)):
        # At the money is within a few percent of spot: those alone are priced.
        c = spy if t == T_CHAIN else chain(market, "SPY", t, near=0.05)
        spread, delta = relative_spread(c), np.abs(c["delta"])
        days = (c["expiry"] - np.datetime64(t.date())).astype(int)
        atm = (delta >= 0.35) & (delta <= 0.65)
        by_dte[0].append(spread[atm & (days == 0)])
        by_dte[1].append(spread[atm & (days == 1)])
        by_dte[30].append(spread[atm & (days >= 25) & (days <= 35)])
    median = {k: np.median(np.concatenate(v)) for k, v in by_dte.items()}
    assert sum(map(len, by_dte[0])) >= 5
    assert sum(map(len, by_dte[1])) >= 12
    assert median[0] > 1.6 * median[30]
    assert median[1] > 1.1 * median[30]


def test_open_interest_and_volume_fade_in_the_wings(market, spy, aapl):
    for underlying, c in (("SPY", spy), ("AAPL", aapl)):
        # Open interest is the listing's, struck at the previous close: leave out the
        # contracts so near expiry that an overnight gap moves them across the chain.
        days = (c["expiry"] - np.datetime64(T_CHAIN.date())).astype(int)
        delta = np.where(days >= 5, np.abs(c["delta"]), np.nan)
        atm, wings = (delta >= 0.35) & (delta <= 0.65), delta <= 0.05
        assert np.sum(atm) >= 10
        assert np.sum(wings) >= 10
        assert np.median(c["oi"][wings]) < np.median(c["oi"][atm]) / 2
        # The day's volume is not on the snapshots: read it off the session's listing.
        listing = market._listing(underlying, T_CHAIN)
        volume = np.array([listing.volume[listing.index[s]] for s in c["symbol"]])
        assert np.median(volume[wings]) < np.median(volume[atm]) / 3
        assert np.median(volume[atm]) > 0


def test_a_few_snapshots_lack_greeks_and_iv(market, spy, aapl):
    snaps = spy["snaps"] + aapl["snaps"]
    snaps += list(market.option_snapshots("NVDA", T_CHAIN).values())
    missing = np.array([s.greeks is None for s in snaps])
    assert all((s.greeks is None) == (s.implied_vol is None) for s in snaps)
    assert len(snaps) > 5000
    assert 0.02 < missing.mean() < 0.10


def test_option_snapshot_of_an_unlisted_or_malformed_symbol_is_none(market, aapl):
    listed = aapl["symbol"][0]
    assert (
        market.option_snapshot(listed, T_CHAIN) == market.option_snapshots("AAPL", T_CHAIN)[listed]
    )
    for symbol in (
        "garbage",
        "",
        "AAPL",
        "MSFT260320C00400000",  # MSFT is not simulated here
        "AAPL260320C00001000",  # a strike nobody lists
        "AAPL260321C00230000",  # a Saturday
        "AAPL260227C00230000",  # expired
    ):
        assert market.option_snapshot(symbol, T_CHAIN) is None, symbol


def test_expired_contracts_leave_the_listing_at_the_close(market):
    friday = date(2026, 3, 6)
    before = expirations(market, "AAPL", ny(2026, 3, 6, 15, 59, 59))
    assert before[0] == friday
    for t in (ny(2026, 3, 6, 16, 0), ny(2026, 3, 6, 16, 0, 1), ny(2026, 3, 7, 12, 0)):
        after = expirations(market, "AAPL", t)
        assert friday not in after
        assert after[0] == date(2026, 3, 13)
        assert all(parse_occ(s).expiration > friday for s in market.option_snapshots("AAPL", t))
    before_t = ny(2026, 3, 6, 15, 0)
    gone = next(c.symbol for c in market.contracts("AAPL", before_t) if c.expiration == friday)
    assert market.option_snapshot(gone, before_t) is not None
    assert market.option_snapshot(gone, ny(2026, 3, 6, 16, 0)) is None
    # SPY's dailies go the same way, and on an early close too (they expire at 16:00).
    wednesday = ny(2026, 3, 4, 16, 0)
    assert date(2026, 3, 4) not in expirations(market, "SPY", wednesday)
    assert expirations(market, "SPY", wednesday)[0] == date(2026, 3, 5)


def test_unknown_underlyings_are_refused(market):
    t = ny(2026, 3, 4, 11, 0)
    for call in (
        lambda: market.contracts("MSFT", t),
        lambda: market.option_snapshots("MSFT", t),
        lambda: market.spot("MSFT", t),
        lambda: market.stock_quote("MSFT", t),
        lambda: market.bars("MSFT", t, t + timedelta(hours=1)),
        lambda: market.settlement_price("MSFT", date(2026, 3, 6)),
    ):
        with pytest.raises(UnknownSymbol, match="MSFT"):
            call()
    assert issubclass(UnknownSymbol, ValueError)


def test_quote_serves_stocks_and_options(market, aapl):
    t = T_CHAIN
    assert market.quote("AAPL", t) == market.stock_quote("AAPL", t)
    symbol = aapl["symbol"][5]
    assert market.quote(symbol, t) == market.option_snapshots("AAPL", t)[symbol].quote
    assert market.quote("MSFT", t) is None
    assert market.quote("MSFT260320C00400000", t) is None


def test_settlement_is_the_official_close_on_expiration_day(market):
    for underlying, day in (("AAPL", date(2026, 3, 6)), ("SPY", date(2026, 11, 27))):
        closes_at = calendar.session(day)[1]
        last_bar = market.bars(underlying, closes_at - timedelta(minutes=1), closes_at)[0]
        settlement = market.settlement_price(underlying, day)
        assert settlement == round(market.spot(underlying, ny(day.year, day.month, day.day, 16)), 2)
        assert settlement == pytest.approx(last_bar.c, abs=0.005)


# -- construction -----------------------------------------------------------------------


def test_a_ticker_without_a_profile_gets_a_plausible_one():
    market = Market(5, ["ZZZ"], START)
    spot = market.spot("ZZZ", START)
    assert 15 < spot < 500
    assert len(session_bars(market, "ZZZ", date(2026, 3, 4))) == 390
    contracts = market.contracts("ZZZ", START)
    assert contracts
    assert all(c.underlying == "ZZZ" for c in contracts)
    assert market.option_snapshots("ZZZ", START)
    profile = synthetic_profile("ZZZ")  # the ticker's own, whatever the seed
    assert profile == synthetic_profile("ZZZ") != synthetic_profile("YYY")
    assert 0.1 < profile.vol < 1.0
    assert profile.strike_step in (1.0, 2.5, 5.0)


@pytest.mark.parametrize(
    ("symbols", "named"),
    [
        (["AAPL", "aapl"], "aapl"),
        (["TOOLONG"], "TOOLONG"),
        (["SPY", "BRK.B"], "BRK.B"),
        (["SPY", ""], "''"),
        (["SPY", 7], "7"),
        ([], r"\[\]"),
        ("AAPL", "AAPL"),  # a bare string is not a list of symbols
    ],
)
def test_invalid_symbols_are_named(symbols, named):
    with pytest.raises(ValueError, match=named):
        Market(1, symbols, START)


def test_the_start_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        Market(1, ["AAPL"], datetime(2026, 3, 2, 10, 0))


def test_snapshots_priced_on_demand_are_those_of_the_whole_chain(market, spy):
    """A request that names a few contracts prices those alone, and gets what pricing the
    whole chain at that instant gives (the module's market, another watchlist: the same
    SPY); unlisted and expired names are left out."""
    whole = dict(zip(spy["symbol"], spy["snaps"], strict=True))
    named = sorted(whole)[::250]
    expired = next(s for s in sorted(whole) if parse_occ(s).expiration == T_CHAIN.date())
    later = ny(2026, 3, 4, 16, 30)  # after the close: the 0-DTE contracts have expired
    fresh = Market(7, ["SPY"], START)
    few = fresh.option_snapshots("SPY", T_CHAIN, [*named, "SPY991231C00001000", named[0]])
    assert list(few) == named
    assert all(few[s] == whole[s] for s in named)
    assert len(fresh._chains[("SPY", T_CHAIN)]) == len(named)  # nothing else was priced
    assert fresh.option_snapshots("SPY", later, [expired]) == {}
