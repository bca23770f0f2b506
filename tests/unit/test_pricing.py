"""Black-Scholes-Merton pricing, Greeks and implied volatility (strikeflow.domain.pricing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from strikeflow.domain import pricing
from strikeflow.domain.enums import Right
from strikeflow.domain.errors import InvalidPricingInput
from strikeflow.domain.pricing import (
    BsGreeks,
    bs_greeks,
    bs_price,
    implied_vol,
    rho_per_point,
    theta_per_day,
    to_broker_greeks,
    vega_per_point,
    year_fraction,
)
from tests.hypothesis_profiles import examples

EPS = np.finfo(np.float64).eps
HOUR = 1.0 / (365 * 24)
GREEK_FIELDS = ("delta", "gamma", "theta", "vega", "rho")


# Published vectors, kept in the repository (tests/data/README.md cites their sources).
# A missing or empty file fails collection: the parameter sets below would be empty, and
# pytest.ini turns an empty parameter set into an error rather than a skip.
REFERENCE_PATH = Path(__file__).resolve().parents[1] / "data" / "greeks_vectors.json"
REFERENCE = json.loads(REFERENCE_PATH.read_text()) if REFERENCE_PATH.is_file() else {}


def _ids(cases: list[dict]) -> list[str]:
    return [f"{c.get('source', c.get('why', ''))[:24]}-{c['right']}-K{c['K']}" for c in cases]


def _market(c: dict) -> tuple:
    return c["S"], c["K"], c["T"], c["r"], c["q"]


def _forward_terms(S, K, T, r, q):
    return S * np.exp(-q * T), K * np.exp(-r * T)


def _otm_time_value(price, S, K, T, r, q, right):
    Fq, Kr = _forward_terms(S, K, T, r, q)
    intrinsic = np.maximum(np.where(np.asarray(right) == "C", Fq - Kr, Kr - Fq), 0.0)
    return price - intrinsic, np.maximum(Fq, Kr)


def _well_identified(price, S, K, T, r, q, sigma, right):
    """Where the price pins sigma to 1e-8: its rounding moves sigma by < 1e-10 (the
    discount factor cancels between price and vega), and the OTM time value sits above
    the parity resolution."""
    vega = bs_greeks(S, K, T, r, q, sigma, right).vega
    time_value, scale = _otm_time_value(price, S, K, T, r, q, right)
    with np.errstate(divide="ignore", invalid="ignore"):
        conditioned = EPS * price / vega < 1e-10
    return conditioned & (time_value > 1e-12 * scale)


def _assert_close(actual, expected, *, rtol, atol, what=""):
    """Elementwise |actual - expected| <= rtol |expected| + atol, with atol an array."""
    excess = np.abs(actual - expected) - (rtol * np.abs(expected) + atol)
    worst = int(np.argmax(excess))
    assert excess[worst] <= 0, (
        f"{what}[{worst}]: {actual[worst]!r} vs {expected[worst]!r}; "
        f"{np.sum(excess > 0)} of {excess.size} outside"
    )


def _realistic(rng: np.random.Generator, n: int, *, short_dated: bool = False) -> tuple:
    S = rng.uniform(5.0, 1000.0, n)
    K = S * np.exp(rng.uniform(math.log(0.5), math.log(2.0), n))
    if short_dated:
        T = np.exp(rng.uniform(math.log(HOUR), math.log(2.0), n))
    else:
        T = rng.uniform(HOUR, 2.0, n)
    r = rng.uniform(0.0, 0.1, n)
    q = rng.uniform(0.0, 0.08, n)
    sigma = rng.uniform(0.05, 3.0, n)
    right = np.where(rng.random(n) < 0.5, "C", "P")
    return S, K, T, r, q, sigma, right


# --- published reference vectors -----------------------------------------------------


def test_reference_file_is_present():
    assert REFERENCE_PATH.is_file(), f"reference vectors missing: {REFERENCE_PATH}"
    assert REFERENCE["cases"]
    assert REFERENCE["implied_vol_round_trips"]
    assert REFERENCE["must_fail_cleanly"]


@pytest.mark.parametrize("case", REFERENCE.get("cases", []), ids=_ids(REFERENCE.get("cases", [])))
def test_reference_prices_and_greeks(case):
    args = (*_market(case), case["sigma"], case["right"])
    computed = {"price": bs_price(*args), **bs_greeks(*args)._asdict()}
    fields = [f for f in ("price", *GREEK_FIELDS) if f in case]
    assert fields
    for field in fields:
        # tol is absolute: the Haug values are quoted to 4 decimals (tol 1e-4).
        assert computed[field] == pytest.approx(case[field], rel=0, abs=case["tol"]), field


@pytest.mark.parametrize(
    "case",
    REFERENCE.get("implied_vol_round_trips", []),
    ids=_ids(REFERENCE.get("implied_vol_round_trips", [])),
)
def test_reference_implied_vol(case):
    iv = implied_vol(case["price"], *_market(case), case["right"])
    assert iv == pytest.approx(case["sigma"], rel=0, abs=case["tol"])


@pytest.mark.parametrize(
    "case",
    REFERENCE.get("must_fail_cleanly", []),
    ids=_ids(REFERENCE.get("must_fail_cleanly", [])),
)
def test_reference_implied_vol_fails_cleanly(case):
    assert math.isnan(implied_vol(case["price"], *_market(case), case["right"]))


# --- implied volatility: round trips -------------------------------------------------


@settings(
    derandomize=True,
    max_examples=examples(400),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)
@given(
    S=st.floats(1.0, 2000.0),
    moneyness=st.floats(math.log(0.5), math.log(2.0)),
    T=st.floats(HOUR, 2.0),
    r=st.floats(0.0, 0.1),
    q=st.floats(0.0, 0.08),
    sigma=st.floats(0.05, 3.0),
    right=st.sampled_from(["C", "P"]),
)
def test_implied_vol_recovers_sigma(S, moneyness, T, r, q, sigma, right):
    K = S * math.exp(moneyness)
    price = bs_price(S, K, T, r, q, sigma, right)
    assume(_well_identified(price, S, K, T, r, q, sigma, right))
    assert implied_vol(price, S, K, T, r, q, right) == pytest.approx(sigma, rel=0, abs=1e-8)


@pytest.mark.parametrize("short_dated", [False, True], ids=["T-uniform", "T-log-uniform"])
def test_implied_vol_recovers_sigma_vectorized(short_dated):
    rng = np.random.default_rng(20240601)
    S, K, T, r, q, sigma, right = _realistic(rng, 20_000, short_dated=short_dated)
    price = bs_price(S, K, T, r, q, sigma, right)
    kept = _well_identified(price, S, K, T, r, q, sigma, right)
    # Short expiries hold many deep OTM options worth less than the parity resolution.
    assert kept.mean() >= (0.6 if short_dated else 0.9)
    iv = implied_vol(price, S, K, T, r, q, right)
    assert np.all(np.abs(iv[kept] - sigma[kept]) <= 1e-8)


def _broad_prices(rng: np.random.Generator, n: int) -> tuple:
    """Far beyond realistic markets, and prices anywhere between the no-arbitrage bounds."""
    S = rng.uniform(0.5, 5000.0, n)
    K = S * np.exp(rng.uniform(math.log(0.1), math.log(10.0), n))
    T = np.exp(rng.uniform(math.log(1e-6), math.log(10.0), n))
    r = rng.uniform(-0.02, 0.2, n)
    q = rng.uniform(-0.02, 0.15, n)
    right = np.where(rng.random(n) < 0.5, "C", "P")
    sigma = np.exp(rng.uniform(math.log(1e-4), math.log(50.0), n))
    model = bs_price(S, K, T, r, q, sigma, right)
    Fq, Kr = _forward_terms(S, K, T, r, q)
    lower = np.maximum(np.where(right == "C", Fq - Kr, Kr - Fq), 0.0)
    upper = np.where(right == "C", Fq, Kr)
    anywhere = lower + (upper - lower) * rng.random(n) ** rng.uniform(0.5, 20.0, n)
    price = np.where(rng.random(n) < 0.5, model, anywhere)
    return price, S, K, T, r, q, right


def test_implied_vol_is_backward_stable_wherever_finite():
    price, S, K, T, r, q, right = _broad_prices(np.random.default_rng(7), 50_000)
    iv = implied_vol(price, S, K, T, r, q, right)
    finite = np.isfinite(iv)
    assert finite.mean() > 0.3
    S, K, T, r, q, right = (a[finite] for a in (S, K, T, r, q, right))
    repriced = bs_price(S, K, T, r, q, iv[finite], right)
    assert np.all(np.abs(repriced - price[finite]) <= 1e-10 * price[finite])


def test_implied_vol_finds_every_solution_in_range():
    """No silent NaN: where the price is identifiable and lies strictly between the
    prices at IV_SIGMA_MIN and IV_SIGMA_MAX, a volatility comes back."""
    price, S, K, T, r, q, right = _broad_prices(np.random.default_rng(8), 50_000)
    time_value, scale = _otm_time_value(price, S, K, T, r, q, right)
    Fq, Kr = _forward_terms(S, K, T, r, q)
    cap = np.minimum(Fq, Kr) - time_value
    at_min = bs_price(S, K, T, r, q, pricing.IV_SIGMA_MIN, right)
    at_max = bs_price(S, K, T, r, q, pricing.IV_SIGMA_MAX, right)
    solvable = (time_value > 1e-11 * scale) & (cap > 1e-11 * scale)
    solvable &= (price > at_min * (1 + 1e-9)) & (price < at_max * (1 - 1e-9))
    assert solvable.mean() > 0.3
    iv = implied_vol(price, S, K, T, r, q, right)
    assert np.all(np.isfinite(iv[solvable]))
    assert np.all((iv[solvable] >= pricing.IV_SIGMA_MIN) & (iv[solvable] <= pricing.IV_SIGMA_MAX))


@pytest.mark.parametrize(
    ("price", "why"),
    [
        (9.0, "below intrinsic"),
        (9.0 + 1e-14, "time value below parity resolution"),
        (100.0, "at the upper bound S e^{-qT}"),
        (99.9999999999999, "within parity resolution of the upper bound"),
        (0.0, "zero"),
        (-1.0, "negative"),
        (math.nan, "NaN"),
        (math.inf, "infinite"),
    ],
)
def test_implied_vol_nan_outside_identifiable_prices(price, why):
    # S e^{-qT} - K e^{-rT} = 100 - 91 = 9 with q = r = 0.
    assert math.isnan(implied_vol(price, 100.0, 91.0, 0.5, 0.0, 0.0, "C")), why


def test_implied_vol_nan_when_solution_outside_sigma_range():
    # A short expiry keeps even sigma = 200 clear of the price cap (sigma sqrt(T) = 2).
    S, K, T, r, q = 100.0, 100.0, 1e-4, 0.01, 0.0
    too_low = bs_price(S, K, T, r, q, 0.5 * pricing.IV_SIGMA_MIN, "C")
    too_high = bs_price(S, K, T, r, q, 2.0 * pricing.IV_SIGMA_MAX, "C")
    just_inside = bs_price(S, K, T, r, q, 0.9 * pricing.IV_SIGMA_MAX, "C")
    iv = implied_vol([too_low, too_high, just_inside], S, K, T, r, q, "C")
    assert math.isnan(iv[0])
    assert math.isnan(iv[1])
    assert iv[2] == pytest.approx(0.9 * pricing.IV_SIGMA_MAX, rel=1e-9)


@pytest.mark.parametrize("T", [0.0, -0.1, math.nan])
def test_implied_vol_nan_without_time(T):
    assert math.isnan(implied_vol(1.0, 100.0, 100.0, T, 0.0, 0.0, "C"))


def test_implied_vol_iterations_are_bounded(monkeypatch):
    """Extreme inputs come back accurate or NaN, within IV_MAX_ITERATIONS solver passes."""
    assert 0 < pricing.IV_MAX_ITERATIONS <= 64
    grid = np.meshgrid(
        [1e-8, 1e-5, HOUR, 0.1, 2.0, 30.0],  # T
        [1e-5, 0.01, 0.5, 3.0, 20.0, 99.0],  # sigma
        [0.05, 0.5, 0.99, 1.0, 1.01, 2.0, 20.0, 1000.0],  # K / S
        [0.0, 0.2],  # r
        indexing="ij",
    )
    T, sigma, moneyness, r = (g.ravel() for g in grid)
    S, q = 100.0, 0.03
    K = S * moneyness
    right = np.where(np.arange(T.size) % 2 == 0, "C", "P")
    price = bs_price(S, K, T, r, q, sigma, right)

    passes = []
    original = pricing._otm_normalised

    def counting(abs_x, v):
        passes.append(np.size(v))
        return original(abs_x, v)

    monkeypatch.setattr(pricing, "_otm_normalised", counting)
    iv = implied_vol(price, S, K, T, r, q, right)
    # One evaluation per iteration, plus the bracket checks (one for the lower end, at
    # most one more per iteration for the upper end); in practice a handful in all.
    assert len(passes) <= 1 + 2 * pricing.IV_MAX_ITERATIONS
    assert len(passes) <= 8
    finite = np.isfinite(iv)
    assert finite.sum() >= iv.size // 4  # the grid is extreme: most prices say nothing
    good = finite & _well_identified(price, S, K, T, r, q, sigma, right)
    assert np.all(np.abs(iv[good] - sigma[good]) <= 1e-8 * np.maximum(1.0, sigma[good]))
    monkeypatch.setattr(pricing, "_otm_normalised", original)
    repriced = bs_price(S, K[finite], T[finite], r[finite], q, iv[finite], right[finite])
    assert np.all(np.abs(repriced - price[finite]) <= 1e-10 * price[finite])


def test_implied_vol_unconverged_elements_are_nan(monkeypatch):
    S, K, T, r, q, sigma, right = _realistic(np.random.default_rng(3), 200)
    price = bs_price(S, K, T, r, q, sigma, right)
    monkeypatch.setattr(pricing, "IV_MAX_ITERATIONS", 0)
    assert np.all(np.isnan(implied_vol(price, S, K, T, r, q, right)))
    monkeypatch.setattr(pricing, "IV_MAX_ITERATIONS", 1)
    assert np.isnan(implied_vol(price, S, K, T, r, q, right)).mean() > 0.9


# --- vectorization and inputs --------------------------------------------------------


def test_scalars_give_float_scalars():
    price = bs_price(100.0, 95.0, 0.5, 0.03, 0.01, 0.25, "C")
    greeks = bs_greeks(100.0, 95.0, 0.5, 0.03, 0.01, 0.25, "C")
    iv = implied_vol(price, 100.0, 95.0, 0.5, 0.03, 0.01, "C")
    for value in (price, iv, *greeks):
        assert isinstance(value, float)
        assert np.ndim(value) == 0
    assert isinstance(greeks, BsGreeks)


def test_arrays_agree_with_scalars_for_mixed_rights():
    S, K, T, r, q, sigma, _ = _realistic(np.random.default_rng(5), 40)
    right = np.array([Right.CALL, "P"] * 20, dtype=object)
    price = bs_price(S, K, T, r, q, sigma, right)
    greeks = bs_greeks(S, K, T, r, q, sigma, list(right))
    iv = implied_vol(price, S, K, T, r, q, right)
    for i in range(S.size):
        args = (S[i], K[i], T[i], r[i], q[i], sigma[i], right[i])
        # Equal up to the last-ulp differences of numpy's SIMD and scalar loops.
        assert price[i] == pytest.approx(bs_price(*args), rel=1e-14)
        one = bs_greeks(*args)
        for field in GREEK_FIELDS:
            assert getattr(greeks, field)[i] == pytest.approx(getattr(one, field), rel=1e-13)
        alone = implied_vol(price[i], *args[:5], right[i])
        np.testing.assert_allclose(iv[i], alone, rtol=1e-12)  # NaN matches NaN
    assert np.isfinite(iv).sum() >= 30
    assert np.nanmax(np.abs(iv - sigma)) < 1e-7


def test_shapes_broadcast():
    S = np.array([[90.0], [100.0], [110.0]])  # (3, 1)
    K = np.array([80.0, 100.0, 120.0, 140.0])  # (4,)
    right = np.array(["C", "P", "C", "P"])  # (4,)
    price = bs_price(S, K, 0.25, 0.02, 0.0, 0.3, right)
    assert price.shape == (3, 4)
    assert all(g.shape == (3, 4) for g in bs_greeks(S, K, 0.25, 0.02, 0.0, 0.3, right))
    assert price[2, 1] == bs_price(110.0, 100.0, 0.25, 0.02, 0.0, 0.3, "P")
    iv = implied_vol(price, S, K, 0.25, 0.02, 0.0, right)
    assert iv.shape == (3, 4)
    np.testing.assert_allclose(iv, 0.3, rtol=1e-9)
    # Only right is an array: every Greek still takes its shape, gamma and vega included.
    only_right = bs_greeks(100.0, 100.0, 0.25, 0.02, 0.0, 0.3, ["C", "P", "C"])
    assert all(g.shape == (3,) for g in only_right)
    assert implied_vol(5.0, 100.0, 100.0, 0.25, 0.02, 0.0, ["C", "P"]).shape == (2,)


def test_invalid_elements_are_nan_and_leave_neighbours_alone():
    S = np.array([100.0, -1.0, 100.0, 100.0, np.nan, 100.0, 100.0, 100.0, 100.0])
    K = np.array([100.0, 100.0, 0.0, 100.0, 100.0, 100.0, 100.0, np.inf, 100.0])
    T = np.array([0.5, 0.5, 0.5, -0.01, 0.5, 0.5, 0.5, 0.5, 0.5])
    sigma = np.array([0.2, 0.2, 0.2, 0.2, 0.2, -0.2, np.nan, 0.2, 0.2])
    r = np.array([0.01] * 8 + [np.inf])
    valid = np.array([True] + [False] * 7 + [False])
    good = bs_price(100.0, 100.0, 0.5, 0.01, 0.0, 0.2, "C")
    price = bs_price(S, K, T, r, 0.0, sigma, "C")
    assert price[0] == good
    assert np.all(np.isnan(price[~valid]))
    for field in bs_greeks(S, K, T, r, 0.0, sigma, "C"):
        assert np.isfinite(field[0])
        assert np.all(np.isnan(field[~valid]))
    iv = implied_vol(np.where(valid, good, 5.0), S, K, T, r, 0.0, "C")
    assert iv[0] == pytest.approx(0.2, abs=1e-12)
    # implied_vol takes no sigma: elements 5 and 6 are valid inputs for it.
    assert np.all(np.isfinite(iv[[5, 6]]))
    assert np.all(np.isnan(iv[[1, 2, 3, 4, 7, 8]]))


@pytest.mark.parametrize("bad", ["c", "call", "X", "", None, 1, ["C", "Q"], np.array([0, 1])])
def test_unknown_right_raises(bad):
    for call in (
        lambda: bs_price(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, bad),
        lambda: bs_greeks(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, bad),
        lambda: implied_vol(5.0, 100.0, 100.0, 1.0, 0.0, 0.0, bad),
    ):
        with pytest.raises(InvalidPricingInput, match="right must be 'C' or 'P'"):
            call()


def test_unknown_right_is_named_in_the_error():
    with pytest.raises(InvalidPricingInput, match="'Q'"):
        bs_price([100.0, 100.0], 100.0, 1.0, 0.0, 0.0, 0.2, ["C", "Q"])


def test_right_enum_members_price_like_letters():
    args = (100.0, 105.0, 0.3, 0.02, 0.01, 0.4)
    assert bs_price(*args, Right.CALL) == bs_price(*args, "C")
    assert bs_price(*args, Right.PUT) == bs_price(*args, "P")


# --- limits, parity, finite differences ----------------------------------------------


@pytest.mark.parametrize("zero", ["T", "sigma"])
def test_degenerate_limits(zero):
    S, r, q = 100.0, 0.05, 0.02
    T, sigma = (0.0, 0.3) if zero == "T" else (0.75, 0.0)
    K = np.array([80.0, 120.0, 80.0, 120.0])
    right = np.array(["C", "C", "P", "P"])
    Fq, Kr = S * math.exp(-q * T), K * math.exp(-r * T)
    # An exactly at-the-money forward counts as out of the money.
    atm_K = S * math.exp((r - q) * T)
    price = bs_price(S, K, T, r, q, sigma, right)
    g = bs_greeks(S, K, T, r, q, sigma, right)
    np.testing.assert_allclose(price, [Fq - Kr[0], 0.0, 0.0, Kr[3] - Fq], rtol=1e-14, atol=0)
    np.testing.assert_array_equal(g.delta, [math.exp(-q * T), 0.0, 0.0, -math.exp(-q * T)])
    np.testing.assert_array_equal(g.gamma, 0.0)
    np.testing.assert_array_equal(g.vega, 0.0)
    np.testing.assert_allclose(
        g.theta, [q * Fq - r * Kr[0], 0.0, 0.0, r * Kr[3] - q * Fq], rtol=1e-14, atol=0
    )
    np.testing.assert_allclose(g.rho, [T * Kr[0], 0.0, 0.0, -T * Kr[3]], rtol=1e-14)
    if zero == "sigma":
        assert bs_price(S, atm_K, T, r, q, sigma, "C") == pytest.approx(0.0, abs=1e-12)
    else:
        assert bs_price(S, S, T, r, q, sigma, "C") == 0.0
        assert bs_greeks(S, S, T, r, q, sigma, "P").delta == 0.0


def test_tiny_volatility_approaches_the_limit():
    S, K, T, r, q = 100.0, np.array([80.0, 120.0]), 0.75, 0.05, 0.02
    right = np.array(["C", "P"])
    limit = bs_greeks(S, K, T, r, q, 0.0, right)
    near = bs_greeks(S, K, T, r, q, 1e-6, right)
    for field in GREEK_FIELDS:
        np.testing.assert_allclose(getattr(near, field), getattr(limit, field), atol=1e-9)
    np.testing.assert_allclose(
        bs_price(S, K, T, r, q, 1e-6, right), bs_price(S, K, T, r, q, 0.0, right), atol=1e-12
    )


def test_price_is_smooth_where_its_formula_switches():
    """Cheap options are priced by series below sigma sqrt(T) = 2 * _SERIES_T and in closed
    form above; across the switch the price moves only by vega * d(sigma)."""
    S, T = 100.0, 1.0
    sigma = 2.0 * pricing._SERIES_T  # T = 1: sigma sqrt(T) at the switch
    a = np.linspace(0.0, 7.0, 36)  # |ln(F/K)| / (sigma sqrt(T)), out of the money
    K = np.concatenate([S * np.exp(a * sigma), S * np.exp(-a * sigma)])
    right = np.repeat(["C", "P"], a.size)
    below, above = sigma * (1 - 1e-9), sigma * (1 + 1e-9)
    price = bs_price(S, K, T, 0.0, 0.0, sigma, right)
    vega = bs_greeks(S, K, T, 0.0, 0.0, sigma, right).vega
    jump = bs_price(S, K, T, 0.0, 0.0, above, right) - bs_price(S, K, T, 0.0, 0.0, below, right)
    assert np.all(np.abs(jump - vega * (above - below)) <= 2e-12 * price)


def test_put_call_parity():
    S, K, T, r, q, sigma, _ = _realistic(np.random.default_rng(9), 5_000)
    Fq, Kr = _forward_terms(S, K, T, r, q)
    call, put = bs_price(S, K, T, r, q, sigma, "C"), bs_price(S, K, T, r, q, sigma, "P")
    np.testing.assert_allclose(call - put, Fq - Kr, rtol=0, atol=1e-12 * np.max(S))
    gc, gp = bs_greeks(S, K, T, r, q, sigma, "C"), bs_greeks(S, K, T, r, q, sigma, "P")
    np.testing.assert_allclose(gc.delta - gp.delta, np.exp(-q * T), rtol=0, atol=1e-14)
    np.testing.assert_allclose(gc.gamma, gp.gamma, rtol=1e-13, atol=0)
    np.testing.assert_allclose(gc.vega, gp.vega, rtol=1e-13, atol=0)
    np.testing.assert_allclose(gc.rho - gp.rho, T * Kr, rtol=1e-12, atol=1e-12)
    assert np.all(np.abs((gc.theta - gp.theta) - (q * Fq - r * Kr)) <= 1e-12 * S)


def test_greeks_match_finite_differences():
    rng = np.random.default_rng(13)
    n = 500
    S = rng.uniform(20.0, 500.0, n)
    K = S * rng.uniform(0.7, 1.4, n)
    T = rng.uniform(0.05, 2.0, n)
    r = rng.uniform(0.0, 0.1, n)
    q = rng.uniform(0.0, 0.08, n)
    sigma = rng.uniform(0.1, 1.0, n)
    right = np.where(rng.random(n) < 0.5, "C", "P")
    g = bs_greeks(S, K, T, r, q, sigma, right)

    def bump(name: str, h) -> tuple:
        args = {"S": S, "K": K, "T": T, "r": r, "q": q, "sigma": sigma, "right": right}
        up, down = dict(args), dict(args)
        up[name] = args[name] + h
        down[name] = args[name] - h
        return bs_price(**up), bs_price(**down)

    # Steps balance truncation (h^2) against rounding (eps / h, eps / h^2 for gamma).
    up, down = bump("S", 1e-5 * S)
    fd = {"delta": (up - down) / (2e-5 * S)}
    up, down = bump("S", 1e-4 * S)
    fd["gamma"] = (up - 2 * bs_price(S, K, T, r, q, sigma, right) + down) / (1e-4 * S) ** 2
    for name, greek, h in (("sigma", "vega", 1e-5), ("r", "rho", 1e-6)):
        up, down = bump(name, h)
        fd[greek] = (up - down) / (2 * h)
    up, down = bump("T", 1e-6)
    fd["theta"] = -(up - down) / 2e-6
    for greek, value in fd.items():
        scale = {"delta": 1.0, "gamma": 1.0 / S, "theta": S, "vega": S, "rho": S * T}[greek]
        _assert_close(getattr(g, greek), value, rtol=1e-5, atol=1e-7 * scale, what=greek)


# --- units --------------------------------------------------------------------------


def test_unit_helpers():
    assert year_fraction(3600) == pytest.approx(HOUR, rel=1e-15)
    assert year_fraction(pricing.SECONDS_PER_YEAR) == 1.0
    assert theta_per_day(-36.5) == pytest.approx(-0.1)
    assert vega_per_point(12.0) == pytest.approx(0.12)
    assert rho_per_point(np.array([100.0, -50.0])) == pytest.approx([1.0, -0.5])


def test_broker_greeks_match_vollib_conventions():
    """vollib reports Greeks as brokers do: theta per calendar day, vega and rho per point."""
    from vollib.black_scholes_merton.greeks import analytical

    S, K, T, r, q, sigma = 100.0, 95.0, 0.4, 0.03, 0.015, 0.35
    for right in ("C", "P"):
        broker = to_broker_greeks(bs_greeks(S, K, T, r, q, sigma, right))
        for field in GREEK_FIELDS:
            theirs = getattr(analytical, field)(right.lower(), S, K, T, r, sigma, q)
            assert getattr(broker, field) == pytest.approx(theirs, rel=1e-10), field
