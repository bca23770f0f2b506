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
from scipy.special import ndtr

from strikeflow.domain.errors import InvalidPricingInput

SECONDS_PER_YEAR = 365 * 24 * 3600
DAYS_PER_YEAR = 365.0

IV_SIGMA_MIN = 1e-6
IV_SIGMA_MAX = 100.0
IV_MAX_ITERATIONS = 64
# Time value below this fraction of max(S e^{-qT}, K e^{-rT}) is lost in the rounding of
# put-call parity, so the price no longer determines the volatility.
IV_IDENTIFIABLE = 1e-12
# Newton stops once a step in ln(sigma*sqrt(T)) is this small: relative error in sigma.
_IV_STEP_TOL = 1e-12

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI

ArrayLike = float | np.ndarray


class BsGreeks(NamedTuple):
    """Greeks in model units (theta per year, vega and rho per 1.00), or broker units
    after ``to_broker_greeks``."""

    delta: ArrayLike
    gamma: ArrayLike
    theta: ArrayLike
    vega: ArrayLike
    rho: ArrayLike


# --- units -------------------------------------------------------------------------


def year_fraction(seconds: ArrayLike) -> ArrayLike:
    """Seconds to expiry as T in years of 365 days, the calendar the Greeks assume."""
    return np.divide(seconds, SECONDS_PER_YEAR)


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
    calls = arr == "C"
    bad = ~(calls | (arr == "P"))
    if bad.any():
        raise InvalidPricingInput(f"right must be 'C' or 'P', got {arr[bad].flat[0]!r}")
    return calls


def _floats(*values: object) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def _all_finite(*arrays: np.ndarray) -> np.ndarray:
    ok = np.isfinite(arrays[0])
    for a in arrays[1:]:
        ok &= np.isfinite(a)
    return ok


def _out(values: np.ndarray, valid: np.ndarray) -> np.ndarray | np.float64:
    """NaN where invalid; a float64 scalar when every input was a scalar."""
    return np.where(valid, values, np.nan)[()]


class _Terms(NamedTuple):
    valid: np.ndarray
    sign: np.ndarray  # +1 call, -1 put
    T: np.ndarray
    r: np.ndarray
    q: np.ndarray
    sigma: np.ndarray
    S: np.ndarray
    dq: np.ndarray  # e^{-qT}
    sqrt_t: np.ndarray
    v: np.ndarray  # sigma sqrt(T)
    Fq: np.ndarray  # S e^{-qT}
    Kr: np.ndarray  # K e^{-rT}
    n1: np.ndarray  # N(sign d1), the exact limit when v == 0
    n2: np.ndarray  # N(sign d2)
    d1: np.ndarray
    degenerate: np.ndarray


def _terms(S, K, T, r, q, sigma, right) -> _Terms:
    is_call = _is_call(right)
    S, K, T, r, q, sigma = _floats(S, K, T, r, q, sigma)
    valid = _all_finite(S, K, T, r, q, sigma) & (S > 0) & (K > 0) & (T >= 0) & (sigma >= 0)
    sign = np.where(is_call, 1.0, -1.0)
    dq = np.exp(-q * T)
    sqrt_T = np.sqrt(T)
    v = sigma * sqrt_T
    Fq = S * dq
    Kr = K * np.exp(-r * T)
    x_over_v = np.log(Fq / Kr) / v
    d1 = x_over_v + 0.5 * v
    d2 = x_over_v - 0.5 * v
    n1 = ndtr(sign * d1)
    n2 = ndtr(sign * d2)
    degenerate = v == 0
    if degenerate.any():
        # sigma sqrt(T) -> 0: exercise iff strictly in the money (at the money is out).
        itm = (sign * (Fq - Kr) > 0).astype(np.float64)
        n1 = np.where(degenerate, itm, n1)
        n2 = np.where(degenerate, itm, n2)
    return _Terms(valid, sign, T, r, q, sigma, S, dq, sqrt_T, v, Fq, Kr, n1, n2, d1, degenerate)


# --- prices and Greeks -------------------------------------------------------------


def bs_price(S, K, T, r, q, sigma, right):
    """Black-Scholes-Merton price of a European option on a dividend-paying underlying.

    T < 0, S <= 0, K <= 0, sigma < 0 or non-finite inputs give NaN; T == 0 or
    sigma == 0 give the discounted intrinsic value max(±(S e^{-qT} - K e^{-rT}), 0).
    """
    with np.errstate(all="ignore"):
        t = _terms(S, K, T, r, q, sigma, right)
        price = t.sign * (t.Fq * t.n1 - t.Kr * t.n2)
    return _out(price, t.valid)


def bs_greeks(S, K, T, r, q, sigma, right) -> BsGreeks:
    """Analytic Greeks in model units: theta per year (-dV/dT), vega per 1.00 of sigma,
    rho per 1.00 of r. Use ``to_broker_greeks`` for broker units.

    When sigma sqrt(T) == 0 the limits are returned: delta ±e^{-qT} strictly in the
    money else 0, gamma = vega = 0, theta and rho without their diffusion terms.
    """
    with np.errstate(all="ignore"):
        t = _terms(S, K, T, r, q, sigma, right)
        pdf = np.exp(-0.5 * t.d1 * t.d1) * _INV_SQRT_2PI
        Fq_pdf = np.where(t.degenerate, 0.0, t.Fq * pdf)
        delta = t.sign * t.dq * t.n1
        gamma = np.where(t.degenerate, 0.0, Fq_pdf / (t.S * t.S * t.v))
        vega = Fq_pdf * t.sqrt_t
        decay = np.where(t.degenerate, 0.0, Fq_pdf * t.sigma / (2.0 * t.sqrt_t))
        theta = t.sign * (t.q * t.Fq * t.n1 - t.r * t.Kr * t.n2) - decay
        rho = t.sign * t.T * t.Kr * t.n2
    v = t.valid
    return BsGreeks(_out(delta, v), _out(gamma, v), _out(theta, v), _out(vega, v), _out(rho, v))


# --- implied volatility ------------------------------------------------------------
#
# The solver works on the out-of-the-money equivalent option (by put-call parity),
# normalised by sqrt(F K) so that it depends only on x = ln(F/K) and s = sigma sqrt(T):
#     b(x, s) = theta [e^{x/2} N(theta(x/s + s/2)) - e^{-x/2} N(theta(x/s - s/2))]
# with theta = +1 (call) when x <= 0, else -1 (put). In u = ln s, g(u) = ln b - ln beta is
# increasing and near-linear at the money, concave far from it, so Newton from a lower
# estimate climbs monotonically; a bracket kept from the sign of g catches the rest.


def _normalised_price(x, s, theta, ex, emx):
    h = x / s
    t = 0.5 * s
    return theta * (ex * ndtr(theta * (h + t)) - emx * ndtr(theta * (h - t)))


def _normalised_vega(x, s):
    """d b / d s, written without the e^{±x/2} factors that could overflow."""
    h = x / s
    t = 0.5 * s
    return np.exp(-0.5 * (h * h + t * t)) * _INV_SQRT_2PI


def implied_vol(price, S, K, T, r, q, right):
    """Implied sigma such that bs_price(..., sigma, right) == price, to ~1e-12 relative.

    NaN where the price breaks the no-arbitrage bounds, where the out-of-the-money time
    value is below IV_IDENTIFIABLE of the strike/forward scale, where the solution lies
    outside [IV_SIGMA_MIN, IV_SIGMA_MAX], for T <= 0 or invalid inputs, and for the
    (unexpected) elements not converged within IV_MAX_ITERATIONS.
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
        ok &= (p < np.where(is_call, Fq, Kr)) & (time_value > 0)
        ok &= time_value > IV_IDENTIFIABLE * np.maximum(Fq, Kr)
        idx = np.flatnonzero(ok)
        sqrt_T = np.sqrt(T[idx])
        x = np.log(Fq[idx] / Kr[idx])
        beta = time_value[idx] / np.sqrt(Fq[idx] * Kr[idx])
        s = _solve_normalised(x, beta, np.log(IV_SIGMA_MIN * sqrt_T), np.log(IV_SIGMA_MAX * sqrt_T))
        out[idx] = s / sqrt_T
    return out.reshape(shape)[()]


def _solve_normalised(x, beta, u_lo, u_hi):
    """s = sigma sqrt(T) with b(x, s) == beta, per element; NaN if outside [e^u_lo, e^u_hi]."""
    result = np.full(x.shape, np.nan)
    theta = np.where(x > 0, -1.0, 1.0)
    ex = np.exp(0.5 * x)
    emx = 1.0 / ex
    ln_beta = np.log(beta)

    # Solutions outside the sigma range: b is increasing in s.
    inside = np.log(_normalised_price(x, np.exp(u_hi), theta, ex, emx)) > ln_beta
    inside &= np.log(_normalised_price(x, np.exp(u_lo), theta, ex, emx)) < ln_beta

    # Lower estimates: Brenner-Subrahmanyam near the money, ln b ~ -x^2 / (2 s^2) far out.
    s0 = np.maximum(_SQRT_2PI * beta, np.abs(x) / np.sqrt(-2.0 * ln_beta))
    u = np.log(np.clip(s0, np.exp(u_lo), np.exp(u_hi)))

    active = np.flatnonzero(inside)
    x, theta, ex, emx, ln_beta = x[active], theta[active], ex[active], emx[active], ln_beta[active]
    u, lo, hi = u[active], u_lo[active], u_hi[active]
    for _ in range(IV_MAX_ITERATIONS):
        if active.size == 0:
            break
        s = np.exp(u)
        b = _normalised_price(x, s, theta, ex, emx)
        g = np.log(b) - ln_beta
        below = g < 0
        lo = np.where(below, u, lo)
        hi = np.where(below, hi, u)
        u_next = u - g * b / (s * _normalised_vega(x, s))
        done = np.abs(u_next - u) < _IV_STEP_TOL  # before the bracket test: at the root
        # the step may round to zero and land on the end just moved to u.
        wild = ~(done | ((u_next > lo) & (u_next < hi)))  # also catches NaN steps
        u_next = np.where(wild, 0.5 * (lo + hi), u_next)
        done |= np.abs(u_next - u) < _IV_STEP_TOL
        result[active[done]] = np.exp(u_next[done])
        keep = ~done
        active = active[keep]
        x, theta, ex, emx, ln_beta = x[keep], theta[keep], ex[keep], emx[keep], ln_beta[keep]
        u, lo, hi = u_next[keep], lo[keep], hi[keep]
    return result
