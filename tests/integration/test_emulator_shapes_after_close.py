"""After the close the emulator's latest quotes carry the close's time, as Alpaca's do,
and the pipeline's freshness check refuses to trade on them.

Alpaca's latest-quote and snapshot endpoints answer with the last quote made: after
16:00 ET, or on a weekend, that is the session's last one, hours old. The emulator
stamps it so (``sim.market.quoted_at``); the request's own time would pass every
freshness check and hide the stale price from the dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret
from strikeflow.domain.enums import InstrumentType, StrategyType
from strikeflow.domain.errors import DispatchRejected
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import ExpiryWindow
from strikeflow.services.dispatch_policy import DispatchContext, DispatchPolicy
from strikeflow.services.dispatch_steps import fetch_chain
from strikeflow.sim.market import Market
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle
from tests.integration.record_factories import recommendation
from tests.unit.fakes_dispatch import FakeKillSwitch, FakeStore

THURSDAY_CLOSE = datetime.combine(START.date(), time(16, 0), NEW_YORK)
FRIDAY_CLOSE = THURSDAY_CLOSE + timedelta(days=1)
EVENING = THURSDAY_CLOSE + timedelta(minutes=30)
SATURDAY = datetime(2026, 11, 21, 12, 0, tzinfo=NEW_YORK)


@pytest.fixture
def adapter(emulator) -> Iterator[AlpacaAdapter]:
    made = AlpacaAdapter(AlpacaConfig(Secret(KEY), Secret(SECRET), base_url=emulator.url))
    yield made
    made.close()


def at(emulator: EmulatorHandle, when: datetime) -> datetime:
    emulator.advance(to=when.isoformat())
    return when


def a_later_contract(adapter: AlpacaAdapter, underlying: str = "SPY") -> str:
    """A listed contract that outlives the weekend (so it is still quoted on Saturday)."""
    window = ExpiryWindow(date(2026, 11, 27), date(2026, 12, 31))
    return adapter.option_chain(underlying, window)[0].symbol


# -- the market model ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "stamped"),
    [
        (datetime(2026, 11, 19, 12, 0, tzinfo=NEW_YORK), None),  # in session: its own time
        (EVENING, THURSDAY_CLOSE),
        (datetime(2026, 11, 20, 8, 0, tzinfo=NEW_YORK), THURSDAY_CLOSE),  # before the open
        (SATURDAY, FRIDAY_CLOSE),
    ],
)
def test_the_market_stamps_quotes_outside_the_session_with_the_last_close(asked, stamped):
    market = Market(7, ["SPY"], START)
    expected = stamped or asked
    quote = market.stock_quote("SPY", asked)
    assert quote.t == expected
    assert quote == market.stock_quote("SPY", expected)  # the close's own quote
    snapshots = market.option_snapshots("SPY", asked)
    assert snapshots
    assert all(s.quote.t <= expected for s in snapshots.values())
    if stamped is not None:
        assert max(s.quote.t for s in snapshots.values()) == stamped


# -- through HTTP and the adapter ------------------------------------------------------------


@pytest.mark.parametrize(("when", "close"), [(EVENING, THURSDAY_CLOSE), (SATURDAY, FRIDAY_CLOSE)])
def test_after_the_close_the_served_quotes_are_the_closes(emulator, adapter, when, close):
    assert adapter.stock_quote("SPY").time == START  # in session: the request's time
    at(emulator, when)
    assert adapter.stock_quote("SPY").time == close
    symbol = a_later_contract(adapter)
    assert adapter.option_snapshots([symbol])[symbol].time <= close
    chain = adapter.option_chain("SPY", ExpiryWindow(date(2026, 11, 27), date(2026, 12, 31)))
    assert max(c.quote_time for c in chain) == close


@pytest.mark.parametrize("when", [EVENING, SATURDAY])
def test_the_pipeline_refuses_a_quote_the_close_made(emulator, adapter, when):
    """fetch_chain's freshness check (30 s by default) sees the close's quote for what
    it is, hours old, and refuses, whatever the off-hours policy would have said."""
    now = at(emulator, when)
    store = FakeStore()
    rec = recommendation(
        "rec-after-close",
        ticker="SPY",
        instrument_type=InstrumentType.CALL,
        strategy_type=StrategyType.SWING_TRADE,
        created_at=now,
        updated_at=now,
    )
    store.add(rec)
    ctx = DispatchContext(
        adapter, adapter, store, FakeKillSwitch(), DispatchPolicy(off_hours="queue"), lambda: now
    )
    with pytest.raises(DispatchRejected, match=r"^SPY quote \d+ s old > 30 s$"):
        fetch_chain(ctx, rec.id)
