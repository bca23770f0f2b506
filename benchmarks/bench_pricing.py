"""Benchmarks: run `python benchmarks/bench_pricing.py` (or `make bench`).

Pricing: Greeks + implied volatility for a whole option universe in one vectorized call,
against vollib's scalar functions called in a Python loop on a sample of the same
contracts. Each section is a function returning a dict of figures, printed by main().
"""

from __future__ import annotations

import math
import timeit
import warnings
from collections.abc import Callable

import numpy as np

from strikeflow.domain.pricing import bs_greeks, bs_price, implied_vol, to_broker_greeks

SEED = 20250115
CONTRACTS = 100_000
REPEATS = 7
VOLLIB_SAMPLE = 2_000
VOLLIB_REPEATS = 3
TARGET_MS = 100.0
TARGET_SPEEDUP = 50.0
HOUR = 1.0 / (365 * 24)


def realistic_contracts(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """An option universe: expiries from one hour to two years (more of them short),
    strikes around the spot, a volatility smile, model prices."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(10.0, 800.0, n)
    T = np.exp(rng.uniform(math.log(HOUR), math.log(2.0), n))
    moneyness = np.clip(np.exp(rng.normal(0.0, 0.08 + 0.25 * np.sqrt(T))), 0.5, 2.0)
    K = np.round(S * moneyness, 1)
    sigma = rng.uniform(0.12, 0.6, n) * (1.0 + 0.8 * np.abs(np.log(moneyness)))
    r = rng.uniform(0.0, 0.06, n)
    q = rng.uniform(0.0, 0.03, n)
    right = np.where(rng.random(n) < 0.5, "C", "P")
    price = bs_price(S, K, T, r, q, sigma, right)
    return {"S": S, "K": K, "T": T, "r": r, "q": q, "sigma": sigma, "right": right, "price": price}


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds (garbage collection left on)."""
    return min(timeit.repeat(fn, setup="gc.enable()", number=1, repeat=repeats))


def _vollib_loop(c: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """vollib's five analytical Greeks (broker units, n x 5) and implied vol, one by one."""
    from vollib.black_scholes_merton.greeks import analytical
    from vollib.black_scholes_merton.implied_volatility import implied_volatility

    greeks = (analytical.delta, analytical.gamma, analytical.theta, analytical.vega, analytical.rho)
    columns = ("price", "S", "K", "T", "r", "q", "sigma")
    rows = [(*(float(c[k][i]) for k in columns), str(c["right"][i]).lower()) for i in range(n)]
    out = np.full((n, 5), np.nan)
    ivs = np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (price, S, K, T, r, q, sigma, flag) in enumerate(rows):
            out[i] = [greek(flag, S, K, T, r, sigma, q) for greek in greeks]
            try:
                ivs[i] = implied_volatility(price, S, K, T, r, q, flag)
            except Exception:  # vollib and lets_be_rational raise where a price is uninformative
                ivs[i] = np.nan
    return out, ivs


def pricing_figures(
    contracts: int = CONTRACTS, sample: int = VOLLIB_SAMPLE, repeats: int = REPEATS
) -> dict[str, float | int | bool]:
    """Best-of-`repeats` timings of bs_greeks + implied_vol over `contracts` contracts, and
    of vollib's scalar loop over the first `sample` of them."""
    c = realistic_contracts(contracts)
    market = (c["S"], c["K"], c["T"], c["r"], c["q"])

    def greeks():
        return bs_greeks(*market, c["sigma"], c["right"])

    def ivs():
        return implied_vol(c["price"], *market, c["right"])

    greeks_s = _best_seconds(greeks, repeats)
    iv_s = _best_seconds(ivs, repeats)
    total_s = _best_seconds(lambda: (greeks(), ivs()), repeats)
    vollib_s = _best_seconds(lambda: _vollib_loop(c, sample), VOLLIB_REPEATS)

    # The two must compute the same thing for the comparison to mean anything.
    head = slice(0, sample)
    ours = greeks()
    ours_iv = ivs()
    vollib_greeks, vollib_iv = _vollib_loop(c, sample)
    ours_broker = np.column_stack(to_broker_greeks(type(ours)(*(g[head] for g in ours))))
    price = c["price"][head]
    with np.errstate(divide="ignore", invalid="ignore"):
        identified = np.finfo(float).eps * price / ours.vega[head] < 1e-10
    identified &= np.isfinite(vollib_iv) & np.isfinite(ours_iv[head])

    per_ours_us = total_s / contracts * 1e6
    per_vollib_us = vollib_s / sample * 1e6
    return {
        "contracts": contracts,
        "repeats": repeats,
        "greeks_ms": greeks_s * 1e3,
        "iv_ms": iv_s * 1e3,
        "total_ms": total_s * 1e3,
        "per_contract_us": per_ours_us,
        "iv_finite_share": float(np.mean(np.isfinite(ours_iv))),
        "vollib_sample": sample,
        "vollib_repeats": VOLLIB_REPEATS,
        "vollib_ms": vollib_s * 1e3,
        "vollib_per_contract_us": per_vollib_us,
        "speedup": per_vollib_us / per_ours_us,
        "max_iv_gap_vs_vollib": float(np.max(np.abs(ours_iv[head] - vollib_iv)[identified])),
        "max_greek_gap_vs_vollib": float(np.max(np.abs(ours_broker - vollib_greeks))),
        "meets_time_target": total_s * 1e3 < TARGET_MS,
        "meets_speedup_target": per_vollib_us / per_ours_us >= TARGET_SPEEDUP,
    }


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_pricing(f: dict) -> None:
    vollib_note = (
        f"{f['vollib_sample']:,} contracts, best of {f['vollib_repeats']}, "
        f"{f['vollib_per_contract_us']:.1f} us/contract"
    )
    rows = [
        ("contracts", f"{f['contracts']:,}", f"best of {f['repeats']} runs"),
        ("bs_greeks", f"{f['greeks_ms']:.1f} ms", ""),
        ("implied_vol", f"{f['iv_ms']:.1f} ms", f"{f['iv_finite_share']:.1%} finite"),
        ("greeks + IV", f"{f['total_ms']:.1f} ms", f"{f['per_contract_us']:.3f} us/contract"),
        ("vollib loop", f"{f['vollib_ms']:.1f} ms", vollib_note),
        ("speedup", f"{f['speedup']:.0f}x", "per contract"),
        ("max |IV gap|", f"{f['max_iv_gap_vs_vollib']:.1e}", "vs vollib, well-identified"),
        ("max |Greek gap|", f"{f['max_greek_gap_vs_vollib']:.1e}", "vs vollib, broker units"),
    ]
    print("Pricing: Black-Scholes-Merton Greeks + implied volatility")
    for label, value, note in rows:
        print(f"  {label:<16}{value:>12}   {note}".rstrip())
    time_target = f"greeks + IV for {f['contracts']:,} contracts < {TARGET_MS:.0f} ms"
    speed_target = f">= {TARGET_SPEEDUP:.0f}x faster per contract than vollib"
    print(f"  target: {time_target:<48}{_verdict(f['meets_time_target'])}")
    print(f"  target: {speed_target:<48}{_verdict(f['meets_speedup_target'])}")


def main() -> int:
    import bench_selection  # beside this script

    print_pricing(pricing_figures())
    print()
    bench_selection.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
