"""Times select_contract on a 5,000-contract chain (target: under 5 ms on 2 cores).

Run: .venv/bin/python benchmarks/bench_selection.py
Prints the time to build the columnar chain once (done when a chain is fetched) and the
best-of-N time of a selection, for an ATM day trade and a delta-targeted swing trade.
"""

from __future__ import annotations

import timeit
from datetime import datetime

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.enums import Right, StrategyType, StrikeMode
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.selection import SelectionPolicy, StrikeTarget, select_contract
from strikeflow.sim.option_chain import PROFILES, generate_chain

NOW = datetime(2026, 11, 19, 10, 45, tzinfo=NEW_YORK)
CHAIN_SIZE = 5_000
REPEATS = 50
TARGET_MS = 5.0


def best_of(fn, repeats: int | None = None) -> float:
    """The fastest of ``repeats`` calls, in seconds (garbage collection left on)."""
    return min(timeit.repeat(fn, setup="gc.enable()", number=1, repeat=repeats or REPEATS))


def selection_figures() -> dict[str, float]:
    contracts = generate_chain("SPY", NOW, seed=42)[:CHAIN_SIZE]
    spot = PROFILES["SPY"].spot
    build_s = best_of(lambda: OptionChain.from_contracts(contracts), 5)
    chain = OptionChain.from_contracts(contracts)
    day = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)
    swing = SelectionPolicy.for_strategy(
        StrategyType.SWING_TRADE, Right.PUT, strike=StrikeTarget(StrikeMode.DELTA, delta=0.4)
    )
    return {
        "contracts": len(chain),
        "build_ms": build_s * 1e3,
        "atm_day_ms": best_of(lambda: select_contract(chain, spot, NOW, day)) * 1e3,
        "delta_swing_ms": best_of(lambda: select_contract(chain, spot, NOW, swing)) * 1e3,
    }


def main() -> None:
    f = selection_figures()
    print(f"select_contract on a {f['contracts']:,}-contract chain (best of {REPEATS})")
    print(f"  build columnar chain (once per fetch)  {f['build_ms']:8.2f} ms")
    for key, label in (("atm_day_ms", "ATM day trade"), ("delta_swing_ms", "|delta| swing")):
        verdict = "ok" if f[key] < TARGET_MS else "MISSED"
        print(f"  select, {label:<30} {f[key]:8.2f} ms   target < {TARGET_MS:g} ms: {verdict}")


if __name__ == "__main__":
    main()
