"""The generated chain must look like a real one, or the selection tests prove little."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.occ import parse_occ
from strikeflow.sim.option_chain import PROFILES, generate_chain, listed_expirations
from tests.unit.factories import NOW, TODAY


@pytest.fixture(scope="module")
def aapl():
    return generate_chain("AAPL", NOW, seed=7)


def test_same_seed_same_chain_other_seed_other_chain(aapl):
    assert generate_chain("AAPL", NOW, seed=7) == aapl
    assert generate_chain("AAPL", NOW, seed=8) != aapl


def test_index_etfs_list_dailies_and_stocks_list_fridays():
    spy = listed_expirations(PROFILES["SPY"], TODAY)
    aapl = listed_expirations(PROFILES["AAPL"], TODAY)
    assert spy[:3] == [TODAY, date(2026, 11, 20), date(2026, 11, 23)]
    assert all(d.weekday() < 5 for d in spy)
    assert all(d.weekday() == 4 for d in aapl)
    assert aapl[0] == date(2026, 11, 20)
    third_friday_january = date(2027, 1, 15)
    assert third_friday_january in aapl  # a monthly beyond the weekly horizon
    assert date(2027, 1, 8) not in aapl
    assert max(aapl) <= TODAY + timedelta(days=60)


def test_symbols_agree_with_fields_and_strikes_sit_on_the_grid(aapl):
    for c in aapl:
        occ = parse_occ(c.symbol)
        assert (occ.root, occ.expiration, occ.right, occ.strike) == (
            "AAPL",
            c.expiration,
            c.right,
            c.strike,
        )
        assert c.strike % Decimal("2.5") == 0
        assert c.bid <= c.ask


def test_spreads_widen_away_from_the_money_and_liquidity_fades(aapl):
    chain = OptionChain.from_contracts(aapl)
    spot = PROFILES["AAPL"].spot
    distance = np.abs(chain.strike / spot - 1)
    near, far = distance < 0.03, distance > 0.10
    assert np.median(chain.spread_pct[far]) > 1.5 * np.median(chain.spread_pct[near])
    assert np.median(chain.open_interest[far]) < np.median(chain.open_interest[near]) / 3
    assert np.median(chain.volume[far]) < np.median(chain.volume[near]) / 3


def test_puts_carry_the_skew(aapl):
    chain = OptionChain.from_contracts(aapl)
    spot = PROFILES["AAPL"].spot
    first = chain.expiration == chain.expiration.max()  # the widest strike band
    low = first & ~chain.is_call & (chain.strike < spot * 0.95) & ~np.isnan(chain.implied_vol)
    high = first & chain.is_call & (chain.strike > spot * 1.05) & ~np.isnan(chain.implied_vol)
    assert chain.implied_vol[low].mean() > chain.implied_vol[high].mean()


def test_some_quotes_lack_greeks_and_some_are_stale(aapl):
    missing = sum(c.greeks is None for c in aapl) / len(aapl)
    stale = sum((NOW - c.quote_time).total_seconds() > 60 for c in aapl) / len(aapl)
    assert 0.01 < missing < 0.12
    assert 0.002 < stale < 0.06
    assert all((c.greeks is None) == (c.implied_vol is None) for c in aapl)
