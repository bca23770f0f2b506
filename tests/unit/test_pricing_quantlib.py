"""Differential test of strikeflow.domain.pricing against QuantLib.

Two QuantLib paths, both in model units (theta per year, vega per 1.00 of volatility,
rho per 1.00 of rate):

* AnalyticEuropeanEngine on a BlackScholesMertonProcess with flat continuous curves and
  Actual365Fixed. Its dates have a granularity of one day, so T is a whole number of
  days / 365 here.
* BlackCalculator, the calculator that engine delegates to, fed the same inputs the
  engine derives (forward S e^{(r-q)T}, stdDev sigma sqrt(T), discount e^{-rT}): this
  takes any T, so sub-day expiries (from one hour) are covered too.

Tolerance: |ours - QuantLib| <= 1e-9 |QuantLib| + floor, the floor being 1e-10 of the
Greek's natural scale (S for price, theta, vega and rho; 1 for delta; 1/S for gamma),
which only matters where a value is itself within rounding of zero.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql  # noqa: N813 - QuantLib's own convention

from strikeflow.domain.pricing import bs_greeks, bs_price, implied_vol

HOUR = 1.0 / (365 * 24)
FIELDS = ("price", "delta", "gamma", "theta", "vega", "rho")
RTOL = 1e-9
FLOOR = 1e-10


def _cases(seed: int, n: int, *, whole_days: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    S = rng.uniform(5.0, 1000.0, n)
    if whole_days:
        days = rng.integers(1, 731, n)
        T = days / 365.0
    else:
        days = None
        T = np.exp(rng.uniform(math.log(HOUR), math.log(2.0), n))
    return {
        "S": S,
        "K": S * np.exp(rng.uniform(math.log(0.5), math.log(2.0), n)),
        "T": T,
        "days": days,
        "r": rng.uniform(0.0, 0.1, n),
        "q": rng.uniform(0.0, 0.08, n),
        "sigma": rng.uniform(0.05, 3.0, n),
        "right": np.where(rng.random(n) < 0.5, "C", "P"),
    }


def _ours(c: dict) -> dict[str, np.ndarray]:
    args = (c["S"], c["K"], c["T"], c["r"], c["q"], c["sigma"], c["right"])
    return {"price": bs_price(*args), **bs_greeks(*args)._asdict()}


def _ql_type(right: str):
    return ql.Option.Call if right == "C" else ql.Option.Put


def _calculator(S, K, T, r, q, sigma, right):
    payoff = ql.PlainVanillaPayoff(_ql_type(right), float(K))
    discount = math.exp(-r * T)
    forward = S * math.exp(-q * T) / discount
    return ql.BlackCalculator(payoff, forward, sigma * math.sqrt(T), discount)


def _by_calculator(c: dict) -> dict[str, np.ndarray]:
    out = {f: np.empty(c["S"].size) for f in FIELDS}
    rows = zip(c["S"], c["K"], c["T"], c["r"], c["q"], c["sigma"], c["right"], strict=True)
    for i, (S, K, T, r, q, sigma, right) in enumerate(rows):
        calc = _calculator(S, K, T, r, q, sigma, right)
        out["price"][i] = calc.value()
        out["delta"][i] = calc.delta(S)
        out["gamma"][i] = calc.gamma(S)
        out["theta"][i] = calc.theta(S, T)
        out["vega"][i] = calc.vega(T)
        out["rho"][i] = calc.rho(T)
    return out


def _by_engine(c: dict) -> dict[str, np.ndarray]:
    """One process and engine, re-quoted per case; T = days / 365 exactly."""
    today = ql.Date(15, ql.January, 2025)
    saved = ql.Settings.instance().evaluationDate
    ql.Settings.instance().evaluationDate = today
    try:
        dc = ql.Actual365Fixed()
        spot, rate, div, vol = (ql.SimpleQuote(0.0) for _ in range(4))
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(spot),
            ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div), dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate), dc)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol), dc)
            ),
        )
        engine = ql.AnalyticEuropeanEngine(process)
        out = {f: np.empty(c["S"].size) for f in FIELDS}
        rows = zip(c["S"], c["K"], c["days"], c["r"], c["q"], c["sigma"], c["right"], strict=True)
        for i, (S, K, days, r, q, sigma, right) in enumerate(rows):
            for quote, value in ((spot, S), (rate, r), (div, q), (vol, sigma)):
                quote.setValue(float(value))
            option = ql.EuropeanOption(
                ql.PlainVanillaPayoff(_ql_type(right), float(K)),
                ql.EuropeanExercise(today + int(days)),
            )
            option.setPricingEngine(engine)
            out["price"][i] = option.NPV()
            out["delta"][i] = option.delta()
            out["gamma"][i] = option.gamma()
            out["theta"][i] = option.theta()
            out["vega"][i] = option.vega()
            out["rho"][i] = option.rho()
        return out
    finally:
        ql.Settings.instance().evaluationDate = saved


def _floor(field: str, c: dict) -> np.ndarray:
    scale = {"delta": np.ones_like(c["S"]), "gamma": 1.0 / c["S"]}.get(field, c["S"])
    return FLOOR * scale


def _assert_agree(ours: np.ndarray, theirs: np.ndarray, floor: np.ndarray, what: str):
    assert np.all(np.isfinite(theirs)), what
    excess = np.abs(ours - theirs) - (RTOL * np.abs(theirs) + floor)
    worst = int(np.argmax(excess))
    assert excess[worst] <= 0, (
        f"{what}[{worst}]: ours {ours[worst]!r}, QuantLib {theirs[worst]!r}; "
        f"{np.sum(excess > 0)} of {excess.size} outside tolerance"
    )


@pytest.fixture(scope="module")
def sub_day():
    c = _cases(20250115, 10_000, whole_days=False)
    return c, _ours(c), _by_calculator(c)


@pytest.fixture(scope="module")
def whole_days():
    c = _cases(20250116, 2_000, whole_days=True)
    return c, _ours(c), _by_engine(c)


@pytest.mark.parametrize("field", FIELDS)
def test_matches_black_calculator_with_sub_day_expiries(sub_day, field):
    c, ours, theirs = sub_day
    assert (c["T"] < 1.0 / 365).sum() > 500  # sub-day expiries really are covered
    _assert_agree(ours[field], theirs[field], _floor(field, c), field)


@pytest.mark.parametrize("field", FIELDS)
def test_matches_analytic_european_engine(whole_days, field):
    c, ours, theirs = whole_days
    _assert_agree(ours[field], theirs[field], _floor(field, c), field)


def test_both_rights_are_covered(sub_day, whole_days):
    for c, _, _ in (sub_day, whole_days):
        assert {"C", "P"} == set(np.unique(c["right"]))


def test_implied_vol_matches_quantlib(sub_day):
    """Where the price pins sigma down (its rounding moves sigma < 1e-10, OTM time value
    above parity resolution), both solvers agree to 1e-8 in sigma."""
    c, ours, _ = sub_day
    n = 2_000
    pick = {k: (v[:n] if v is not None else None) for k, v in c.items()}
    price, vega = ours["price"][:n], ours["vega"][:n]
    Fq = pick["S"] * np.exp(-pick["q"] * pick["T"])
    Kr = pick["K"] * np.exp(-pick["r"] * pick["T"])
    intrinsic = np.maximum(np.where(pick["right"] == "C", Fq - Kr, Kr - Fq), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # far OTM, vega underflows to 0
        conditioned = np.finfo(float).eps * price / vega < 1e-10
    identified = conditioned & (price - intrinsic > 1e-9 * np.maximum(Fq, Kr))
    assert identified.sum() > 0.5 * n

    market = [pick[k] for k in ("S", "K", "T", "r", "q")]
    ours_iv = implied_vol(price, *market, pick["right"])
    theirs = np.full(n, np.nan)
    for i in np.flatnonzero(identified):
        S, K, T, r, q = (float(a[i]) for a in market)
        discount = math.exp(-r * T)
        forward = S * math.exp(-q * T) / discount
        kind = _ql_type(pick["right"][i])
        guess, accuracy, max_iterations = ql.nullDouble(), 1e-14, 1000
        std_dev = ql.blackFormulaImpliedStdDev(
            kind, K, forward, float(price[i]), discount, 0.0, guess, accuracy, max_iterations
        )
        theirs[i] = std_dev / math.sqrt(T)
    assert np.all(np.abs(ours_iv[identified] - theirs[identified]) <= 1e-8)
    assert np.all(np.abs(ours_iv[identified] - pick["sigma"][identified]) <= 1e-8)
