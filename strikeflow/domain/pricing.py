"""Black-Scholes-Merton prices, Greeks and implied volatility, vectorized over contracts.

Model units throughout: T in years, r and q continuously compounded per year, sigma per
sqrt(year); theta per year, vega per 1.00 of volatility, rho per 1.00 of rate. The
``*_per_*`` helpers convert to the broker units of ``models.Greeks``.

Every argument may be a scalar or an array; they broadcast with numpy. Elements that
mean nothing (S <= 0, K <= 0, T < 0, sigma < 0, a non-finite input) come back NaN and
never disturb their neighbours; only an unknown ``right`` raises, since it is a
programming error rather than bad market data.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import erfcx, ndtr, ndtri

from strikeflow.domain.errors import InvalidPricingInput
from strikeflow.domain.year_fraction import (  # noqa: F401  (re-exported: pricing's units)
    DAYS_PER_YEAR,
    SECONDS_PER_YEAR,
    ArrayLike,
    year_fraction,
)

IV_SIGMA_MIN = 1e-6
IV_SIGMA_MAX = 100.0
IV_MAX_ITERATIONS = 64
# An out-of-the-money price within this fraction of max(S e^{-qT}, K e^{-rT}) of either
# of its bounds (0, and min(S e^{-qT}, K e^{-rT}) as sigma -> infinity) is lost in the
# rounding of put-call parity: the price no longer determines the volatility.
IV_IDENTIFIABLE = 1e-12
# A Halley step of size d leaves an error ~ d^3 in ln(sigma); a bisection step leaves d.
_IV_HALLEY_TOL = 1e-5
_IV_STEP_TOL = 1e-12

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
# Below this t = sigma sqrt(T) / 2 the OTM price is summed as a series (_otm_normalised).
_SERIES_T = 0.01


class BsGreeks(NamedTuple):
    """Greeks in model units (theta per year, vega and rho per 1.00), or broker units
    after ``to_broker_greeks``."""

    delta: ArrayLike
    gamma: ArrayLike
    theta: ArrayLike
    vega: ArrayLike
    rho: ArrayLike


# --- units -------------------------------------------------------------------------


def theta_per_day(theta_per_year: ArrayLike) -> ArrayLike:
    """Per calendar day (/365), as Alpaca reports theta."""
    return np.divide(theta_per_year, DAYS_PER_YEAR)


def vega_per_point(vega: ArrayLike) -> ArrayLike:
    """Per volatility point (0.01), as brokers quote vega."""
    return np.multiply(vega, 0.01)


def rho_per_point(rho: ArrayLike) -> ArrayLike:
    """Per rate point (0.01), as brokers quote rho."""
    return np.multiply(rho, 0.01)


def to_broker_greeks(bs: BsGreeks) -> BsGreeks:
    """Model units to broker units (the units of ``models.Greeks``)."""
    return BsGreeks(
        delta=bs.delta,
        gamma=bs.gamma,
        theta=theta_per_day(bs.theta),
        vega=vega_per_point(bs.vega),
        rho=rho_per_point(bs.rho),
    )


# --- inputs ------------------------------------------------------------------------


def _is_call(right: object) -> np.ndarray:
    """'C'/'P' (or Right members, which are str) as a boolean array: True for calls."""
    arr = np.asarray(right)
    if arr.dtype.kind not in "UO":
        raise InvalidPricingInput(f"right must be 'C' or 'P', got {right!r}")
    if arr.dtype == np.dtype("U1"):  # the usual case: compare code points, 20x faster
        codes = arr.view(np.uint32)
        calls = codes == ord("C")
        bad = ~calls & (codes != ord("P"))
    else:
        calls = arr == "C"
        bad = ~(calls | (arr == "P"))
    if bad.any():
        raise InvalidPricingInput(f"right must be 'C' or 'P', got {arr[bad].tolist()[0]!r}")
    return calls


def _floats(*values: object) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def _all_finite(*arrays: np.ndarray) -> np.ndarray:
    ok = np.isfinite(arrays[0])
    for a in arrays[1:]:
        ok = ok & np.isfinite(a)
    return ok


def _out(values: np.ndarray, valid: np.ndarray) -> np.ndarray | np.float64:
    """NaN where invalid; a float64 scalar when every input was a scalar."""
    if not valid.all():
        values = np.where(valid, values, np.nan)
    return values[()]


class _Terms(NamedTuple):
    valid: np.ndarray
    sign: np.ndarray  # +1 call, -1 put
    S: np.ndarray
    T: np.ndarray
    r: np.ndarray
    q: np.ndarray
    sigma: np.ndarray
    dq: np.ndarray  # e^{-qT}
    sqrt_t: np.ndarray
    v: np.ndarray  # sigma sqrt(T)
    Fq: np.ndarray  # S e^{-qT}
    Kr: np.ndarray  # K e^{-rT}
    x: np.ndarray  # ln(Fq / Kr)
    degenerate: np.ndarray  # v == 0


def _terms(S, K, T, r, q, sigma, right) -> _Terms:
    # Broadcast up front so every output has the full shape, even one (gamma, say) that
    # does not depend on every input.
    *floats, is_call = np.broadcast_arrays(*_floats(S, K, T, r, q, sigma), _is_call(right))
    S, K, T, r, q, sigma = floats
    valid = _all_finite(S, K, T, r, q, sigma) & (S > 0) & (K > 0) & (T >= 0) & (sigma >= 0)
    dq = np.exp(-q * T)
    sqrt_T = np.sqrt(T)
    v = sigma * sqrt_T
    Fq = S * dq
    Kr = K * np.exp(-r * T)
    sign = np.where(is_call, 1.0, -1.0)
    return _Terms(valid, sign, S, T, r, q, sigma, dq, sqrt_T, v, Fq, Kr, np.log(Fq / Kr), v == 0)


def _otm_normalised(abs_x, v):
    """Out-of-the-money price over sqrt(Fq Kr), b, and E = e^{-(a^2 + t^2)/2}, where
    a = |x| / v and t = v / 2, so that db/dv = E / sqrt(2 pi).

    N(z) = erfcx(-z / sqrt 2) e^{-z^2 / 2} / 2 turns the difference of two normal tails
    into one of erfcx values, which are flat where N is steep (the rounding of d1 and d2
    is no longer amplified by d^2):
        b = E/2 [erfcx((a - t)/sqrt 2) - erfcx((a + t)/sqrt 2)].
    For small t that difference still cancels (by ~a/t), so it is taken by Taylor series
    about a/sqrt 2 instead; relative error stays ~1e-13 for every identifiable price.
    """
    a = abs_x / v
    t = 0.5 * v
    E = np.exp(-0.5 * (a * a + t * t))
    small = t < _SERIES_T
    # One erfcx pass serves both forms: the series needs it at a, the closed form at |a - t|.
    near = erfcx(np.where(small, a, np.abs(a - t)) * _INV_SQRT2)
    if small.all():
        return _otm_series(a, t, E, near), E
    far = erfcx((a + t) * _INV_SQRT2)
    closed = np.where(a >= t, 0.5 * E * (near - far), np.exp(-0.5 * abs_x) - 0.5 * E * (near + far))
    if not small.any():
        return closed, E
    return np.where(small, _otm_series(a, t, E, near), closed), E


def _otm_series(a, t, E, f0):
    # With f = erfcx (f0 = f(c)) and fn its n-th derivative at c = a / sqrt 2,
    # f(c - h) - f(c + h) = -2 (f1 h + f3 h^3 / 3! + f5 h^5 / 5! + ...), h = t / sqrt 2,
    # and f(n+1) = 2 c fn + 2 n f(n-1). Truncation error < 1e-13 relative for t < _SERIES_T.
    c2 = a * (2.0 * _INV_SQRT2)
    h = t * _INV_SQRT2
    f1 = c2 * f0 - 2.0 * _INV_SQRT_PI
    f2 = c2 * f1 + 2.0 * f0
    f3 = c2 * f2 + 4.0 * f1
    f4 = c2 * f3 + 6.0 * f2
    f5 = c2 * f4 + 8.0 * f3
    hh = h * h
    return -E * h * (f1 + hh * (f3 / 6.0 + hh * (f5 / 120.0)))


# --- prices and Greeks -------------------------------------------------------------


def bs_price(S, K, T, r, q, sigma, right):
    """Black-Scholes-Merton price of a European option on a dividend-paying underlying.

    Computed as out-of-the-money time value plus discounted intrinsic value, both >= 0,
    so cheap options keep their relative precision. T < 0, S <= 0, K <= 0, sigma < 0 or
    non-finite inputs give NaN; T == 0 or sigma == 0 give the discounted intrinsic value
    max(±(S e^{-qT} - K e^{-rT}), 0).
    """
    with np.errstate(all="ignore"):
        t = _terms(S, K, T, r, q, sigma, right)
        b, _ = _otm_normalised(np.abs(t.x), t.v)
        time_value = np.sqrt(t.Fq * t.Kr) * b
        if t.degenerate.any():
            time_value = np.where(t.degenerate, 0.0, time_value)
        price = time_value + np.maximum(t.sign * (t.Fq - t.Kr), 0.0)
    return _out(price, t.valid)


def bs_greeks(S, K, T, r, q, sigma, right) -> BsGreeks:
    """Analytic Greeks in model units: theta per year (-dV/dT), vega per 1.00 of sigma,
    rho per 1.00 of r. Use ``to_broker_greeks`` for broker units.

    When sigma sqrt(T) == 0 the limits are returned: delta ±e^{-qT} strictly in the
    money else 0, gamma = vega = 0, theta and rho without their diffusion terms.
    """
    with np.errstate(all="ignore"):
        t = _terms(S, K, T, r, q, sigma, right)
        x_over_v = t.x / t.v
        d1 = x_over_v + 0.5 * t.v
        n1 = ndtr(t.sign * d1)
        n2 = ndtr(t.sign * (x_over_v - 0.5 * t.v))
        degenerate = t.degenerate.any()
        if degenerate:
            # sigma sqrt(T) -> 0: exercised iff strictly in the money (at the money is out).
            itm = (t.sign * (t.Fq - t.Kr) > 0).astype(np.float64)
            n1 = np.where(t.degenerate, itm, n1)
            n2 = np.where(t.degenerate, itm, n2)
        Fq_pdf = t.Fq * np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
        gamma = Fq_pdf / (t.S * t.S * t.v)
        decay = Fq_pdf * t.sigma / (2.0 * t.sqrt_t)  # the diffusion part of theta
        if degenerate:
            Fq_pdf, gamma, decay = (np.where(t.degenerate, 0.0, a) for a in (Fq_pdf, gamma, decay))
        delta = t.sign * t.dq * n1
        vega = Fq_pdf * t.sqrt_t
        theta = t.sign * (t.q * t.Fq * n1 - t.r * t.Kr * n2) - decay
        rho = t.sign * t.T * t.Kr * n2
    v = t.valid
    return BsGreeks(_out(delta, v), _out(gamma, v), _out(theta, v), _out(vega, v), _out(rho, v))


# --- implied volatility ------------------------------------------------------------
#
# The solver inverts the out-of-the-money equivalent option (by put-call parity): its
# price is pure time value, so it keeps full relative precision where the in-the-money
# price would be mostly intrinsic. Normalised by sqrt(Fq Kr), that price b depends only on
# |x| = |ln(Fq / Kr)| and v = sigma sqrt(T). In u = ln(sigma), g(u) = ln b - ln beta is
# increasing, near-linear at the money (price ~ sigma) and concave far from it
# (ln price ~ -x^2 / (2 sigma^2 T)), so Newton or Halley from a lower bound of the root
# climbs monotonically; a bracket kept from the sign of g, with bisection, catches anything
# else. Typically 3 evaluations per contract; at most IV_MAX_ITERATIONS.


def implied_vol(price, S, K, T, r, q, right):
    """Implied sigma such that bs_price(..., sigma, right) == price.

    Converged to ~1e-12 relative, so its accuracy is that of the price itself: an error
    of eps * price moves sigma by eps * price / vega (1e-8 and better in normal markets).

    NaN where the price breaks the no-arbitrage bounds; where the out-of-the-money price
    is within IV_IDENTIFIABLE * max(S e^{-qT}, K e^{-rT}) of one of its bounds (the
    volatility is then not identifiable); where the solution lies outside
    [IV_SIGMA_MIN, IV_SIGMA_MAX]; for T <= 0 or invalid inputs; and for any element not
    converged within IV_MAX_ITERATIONS.
    """
    is_call = _is_call(right)
    arrays = np.broadcast_arrays(*_floats(price, S, K, T, r, q), is_call)
    shape = arrays[0].shape
    p, S, K, T, r, q, is_call = (a.ravel() for a in arrays)
    out = np.full(p.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = _all_finite(p, S, K, T, r, q) & (S > 0) & (K > 0) & (T > 0)
        Fq = S * np.exp(-q * T)
        Kr = K * np.exp(-r * T)
        intrinsic = np.maximum(np.where(is_call, Fq - Kr, Kr - Fq), 0.0)
        time_value = p - intrinsic
        # Identifiable: the OTM price is clear of both its bounds, 0 and min(Fq, Kr)
        # (sigma -> infinity), by more than the rounding of put-call parity.
        resolution = IV_IDENTIFIABLE * np.maximum(Fq, Kr)
        ok &= (p < np.where(is_call, Fq, Kr)) & (time_value > resolution)
        ok &= np.minimum(Fq, Kr) - time_value > resolution
        idx = np.flatnonzero(ok)
        cap = np.minimum(Fq, Kr)[idx]  # the OTM price as sigma -> infinity
        tv = time_value[idx]
        out[idx] = _solve_otm(tv, (cap - tv) / cap, Fq[idx], Kr[idx], np.sqrt(T[idx]))
    return out.reshape(shape)[()]


def _solve_otm(time_value, gap, Fq, Kr, sqrt_T):
    """sigma with OTM price == time_value, elementwise; NaN when not in the sigma range.

    ``gap`` is 1 - time_value / min(Fq, Kr), the relative distance to the price's cap.

    Prices go through _otm_normalised exactly as in bs_price, so the root found is a
    root of the very function bs_price evaluates.
    """
    result = np.full(time_value.shape, np.nan)
    abs_x = np.abs(np.log(Fq / Kr))
    beta = time_value / np.sqrt(Fq * Kr)
    ln_beta = np.log(beta)

    def g(u, abs_x, sqrt_T, ln_beta):
        """ln(b(e^u)) - ln(beta), its derivative in u, and g'' / g'."""
        v = np.exp(u) * sqrt_T
        b, E = _otm_normalised(abs_x, v)
        slope = v * E * _INV_SQRT_2PI / b
        a = abs_x / v
        return np.log(b) - ln_beta, slope, 1.0 + a * a - 0.25 * v * v - slope

    lo = np.full(beta.shape, math.log(IV_SIGMA_MIN))
    hi = np.full(beta.shape, math.log(IV_SIGMA_MAX))
    # Lower bounds of the root v = sigma sqrt(T): b(v) <= e^{-x^2 / (2 v^2)}, tight far
    # from the money; and 1 - b(v) e^{|x|/2} >= 2 N(-v/2), exact at the money (where b is
    # 2 N(v/2) - 1) and tight near the cap, where g flattens and Newton would crawl.
    # Starting below the root of a concave increasing g, Halley climbs monotonically.
    v0 = np.maximum(abs_x / np.sqrt(-2.0 * ln_beta), -2.0 * ndtri(0.5 * gap))
    u = np.log(v0 / sqrt_T)
    # b increases with sigma, so a root in range needs g(lo) < 0 < g(hi). The lower bound
    # settles the first except where it falls below lo; the second is checked lazily, for
    # the few elements whose iterates try to leave through the top.
    inside = u < hi
    low = np.flatnonzero(u <= lo)
    inside[low] &= g(lo[low], abs_x[low], sqrt_T[low], ln_beta[low])[0] < 0
    u = np.clip(u, lo, hi)

    active = np.flatnonzero(inside)
    state = [abs_x, sqrt_T, ln_beta, u, lo, hi]
    if active.size < inside.size:
        state = [a[active] for a in state]
    open_top = np.ones(active.size, dtype=bool)  # hi not yet known to lie above the root
    for iteration in range(IV_MAX_ITERATIONS):
        if active.size == 0:
            break
        abs_x, sqrt_T, ln_beta, u, lo, hi = state
        gu, slope, curve = g(u, abs_x, sqrt_T, ln_beta)
        below = gu < 0
        lo = np.where(below, u, lo)
        hi = np.where(below, hi, u)
        open_top &= below
        newton = gu / slope
        u_next = u - newton / np.clip(1.0 - 0.5 * newton * curve, 0.5, 2.0)  # Halley
        # Test the step before the bracket: at the root it may round to zero and land
        # exactly on the end just moved to u.
        done = np.abs(u_next - u) < _IV_HALLEY_TOL
        out_of_range = np.zeros_like(done)
        leaving = np.flatnonzero(open_top & ~done & ~(u_next < hi))  # NaN steps too
        if leaving.size:
            top = g(hi[leaving], abs_x[leaving], sqrt_T[leaving], ln_beta[leaving])[0]
            out_of_range[leaving] = ~(top > 0)
            open_top[leaving] = False
        wild = ~(done | ((u_next > lo) & (u_next < hi)))  # also catches NaN steps
        u_next = np.where(wild, 0.5 * (lo + hi), u_next)
        done |= np.abs(u_next - u) < _IV_STEP_TOL
        done &= ~out_of_range
        # Compacting costs a pass over every array: only worth it once many are done.
        # Until then converged elements stay, and just converge again in place.
        finished = done | out_of_range
        last = iteration == IV_MAX_ITERATIONS - 1
        if last or out_of_range.any() or 4 * np.count_nonzero(finished) >= finished.size:
            result[active[done]] = np.exp(u_next[done])
            keep = ~finished
            active = active[keep]
            open_top = open_top[keep]
            state = [a[keep] for a in (abs_x, sqrt_T, ln_beta, u_next, lo, hi)]
        else:
            state = [abs_x, sqrt_T, ln_beta, u_next, lo, hi]
    return result
