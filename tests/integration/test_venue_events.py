"""Venue events end to end: real alpaca-py against the served emulator, a real database
(PostgreSQL and SQLite, migrated to head).

A 0DTE call in the money and a put out of the money are bought at the venue and
recorded as our entries; the emulator's clock passes the 16:00 close, the venue
exercises the call (shares delivered) and lets the put expire, and reading its account
activities records exactly that: the put closed at −cost, the call closed at its
intrinsic value and 100 shares a contract entered as a STOCK entry. Read again, nothing
new is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from decimal import Decimal

import pytest
from alpaca.data.requests import OptionChainRequest, StockBarsRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.enums import OrderStatus
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.db.venue_event_store import SqlVenueEventStore
from strikeflow.domain.enums import (
    Action,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
    Right,
)
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.records import Execution
from strikeflow.domain.risk import RiskLimits, check_risk
from strikeflow.services.venue_events import record_venue_events, underlying_price
from tests.integration.emulator import START, poll
from tests.integration.record_factories import option_execution, recommendation
from tests.integration.test_alpaca_adapter import make_adapter
from tests.integration.test_emulator_lifecycle import buy, clients  # noqa: F401 (a fixture)

TODAY = START.date()


@pytest.fixture
def adapter(emulator) -> Iterator[AlpacaAdapter]:
    made = make_adapter(emulator.url)
    yield made
    made.close()


@pytest.fixture
def store(db_url) -> SqlVenueEventStore:
    with engine_for(db_url).begin() as conn:
        conn.execute(text("DELETE FROM venue_activities_seen"))
    return SqlVenueEventStore(engine_for(db_url))


def pick(chain, right: str, pick_strike) -> str:
    strikes = sorted({parse_occ(s).strike for s in chain if parse_occ(s).right == right})
    wanted = pick_strike(strikes)
    return next(s for s in chain if parse_occ(s).right == right and parse_occ(s).strike == wanted)


def enter(db_url: str, trading, symbol: str, cid: str) -> Execution:
    """Our entry of one contract of ``symbol``, as the dispatch chain records it."""
    order = trading.get_order_by_client_id(cid)
    assert order.status == OrderStatus.FILLED
    occ = parse_occ(symbol)
    kind = InstrumentType.CALL if occ.right is Right.CALL else InstrumentType.PUT
    rec_id = f"rec-{cid}"
    RecommendationRepository(engine_for(db_url)).insert(
        recommendation(rec_id, ticker=occ.root, instrument_type=kind)
    )
    price = Decimal(str(order.filled_avg_price))
    entry, _ = ExecutionRepository(engine_for(db_url)).insert(
        option_execution(
            cid,
            rec_id,
            ticker=occ.root,
            instrument_type=kind,
            broker_order_id=str(order.id),
            contracts=1,
            quantity=Decimal(1),
            filled_qty=Decimal(1),
            filled_avg_price=price,
            premium_paid=price.quantize(Decimal("0.01")),
            strike_price=occ.strike,
            expiration_date=occ.expiration,
            option_symbol=symbol,
        )
    )
    return entry


def test_expiry_and_exercise_are_recorded_once(emulator, clients, adapter, store, db_url):  # noqa: F811
    trading, stocks, options = clients
    chain = options.get_option_chain(
        OptionChainRequest(underlying_symbol="SPY", expiration_date=TODAY)
    )
    spot = Decimal(
        str(
            stocks.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))[
                "SPY"
            ].price
        )
    )
    itm_call = pick(chain, "C", lambda ks: max(k for k in ks if k <= spot - 8))
    otm_put = pick(chain, "P", lambda ks: min(k for k in ks if k >= spot - 40))
    buy(trading, itm_call, 1, "sf-open-venue-call")
    buy(trading, otm_put, 1, "sf-open-venue-put")
    emulator.advance(seconds=2)
    call = enter(db_url, trading, itm_call, "sf-open-venue-call")
    put = enter(db_url, trading, otm_put, "sf-open-venue-put")
    assert call.delta is not None
    assert put.delta is not None
    held, _ = store.risk_state(START)  # the Greek limits read the stored Greeks
    assert held.net_delta == (call.delta + put.delta) * 100

    emulator.advance(to=datetime.combine(TODAY, time(16, 5), NEW_YORK).isoformat())
    now = datetime.combine(TODAY, time(16, 6), NEW_YORK)
    first = record_venue_events(store, adapter, adapter, lambda: now).to_json()
    kinds = [r["type"] for r in first["recorded"]]
    assert {"OPEXC", "OPTRD", "OPEXP"} <= set(kinds)
    assert [r["recorded"] for r in first["recorded"] if r["type"] == "FILL"] == [
        "our order: its chain records the fill"
    ] * 2

    [put_close] = store.closes_of(put.id)
    assert (put_close.filled_qty, put_close.filled_avg_price) == (Decimal(1), Decimal(0))
    assert put_close.realized_pnl == -(put.filled_avg_price * 100)

    [call_close] = store.closes_of(call.id)
    settle = underlying_price(adapter, "SPY", TODAY)
    closing_bar = stocks.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="SPY",
            timeframe=TimeFrame.Minute,
            start=datetime.combine(TODAY, time(15, 59), NEW_YORK),
            end=datetime.combine(TODAY, time(16, 0), NEW_YORK),
        )
    )["SPY"][-1]
    assert settle == Decimal(str(closing_bar.close))  # what the venue exercised against
    intrinsic = settle - call.strike_price
    assert intrinsic > 0
    assert call_close.filled_avg_price == intrinsic
    assert call_close.realized_pnl == ((intrinsic - call.filled_avg_price) * 100).quantize(
        Decimal("0.0001")
    )
    [shares] = [
        e
        for e in ExecutionRepository(engine_for(db_url)).open_entries("SPY")
        if e.instrument_type is InstrumentType.STOCK
    ]
    assert (shares.action, shares.filled_qty) == (Action.BUY, Decimal(100))
    assert shares.filled_avg_price == call.strike_price
    assert shares.position_effect is PositionEffect.OPEN
    assert shares.explain_json["exercise_of"] == call.id
    source = RecommendationRepository(engine_for(db_url)).get(shares.recommendation_id)
    assert source is not None
    assert source.source is RecommendationSource.EXERCISE
    venue_holds = {p.symbol: p.qty for p in adapter.positions()}
    assert venue_holds == {"SPY": Decimal(100)}

    again = record_venue_events(store, adapter, adapter, lambda: now).to_json()
    assert again["new"] == 0
    assert again["read"] == first["read"]
    assert len(store.closes_of(put.id)) == len(store.closes_of(call.id)) == 1

    # The day's realized P&L, venue closes included, is what the daily-loss limit reads.
    exposure, loss = store.risk_state(now)
    assert loss == -(put_close.realized_pnl + call_close.realized_pnl)
    limits = RiskLimits(max_daily_realized_loss=Decimal("0.01"))
    check = check_risk(
        limits,
        ticker="SPY",
        strategy=None,
        order_cost=Decimal(1),
        exposure=exposure,
        realized_loss_today=loss,
        now=now,
        kill_switch_on=False,
    )
    assert check.allowed is (loss < Decimal("0.01"))


def test_the_venue_activities_read_are_oldest_first_with_their_ids(emulator, clients, adapter):  # noqa: F811
    trading, _stocks, options = clients
    chain = options.get_option_chain(
        OptionChainRequest(underlying_symbol="SPY", expiration_date=TODAY)
    )
    symbol = sorted(chain)[0]
    buy(trading, symbol, 1, "sf-open-listing")
    emulator.advance(seconds=2)
    read = poll(lambda: adapter.account_activities(None, ("FILL",)), bool)
    assert [(a.kind, a.symbol, a.side, a.qty) for a in read] == [
        ("FILL", symbol, "buy", Decimal(1))
    ]
    assert read[0].id.split("::")[0].startswith(TODAY.strftime("%Y%m%d"))
    assert read[0].order_id == str(trading.get_order_by_client_id("sf-open-listing").id)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_migration_0009_is_additive_and_refuses_to_lose_venue_records(create_database, dialect):
    from alembic.util import CommandError

    from strikeflow.db import migrate

    url = create_database(dialect)
    migrate.upgrade(url, "head")
    migrate.check(url)  # tables.py agrees with the migrated schema
    recs = RecommendationRepository(engine_for(url))
    recs.insert(recommendation("venue-1", source=RecommendationSource.VENUE))
    with pytest.raises(CommandError, match="source venue or exercise"):
        migrate.downgrade(url, "0008")
    with engine_for(url).begin() as conn:
        conn.execute(text("DELETE FROM recommendations"))
    migrate.downgrade(url, "0008")
    with engine_for(url).connect() as conn:
        tables = inspect(conn).get_table_names()
    assert "venue_activities_seen" not in tables
    venue_source = text(  # the repository's statements name later revisions' columns
        "INSERT INTO recommendations (id, ticker, action, confidence, source, features,"
        " reason, status, created_at, updated_at) VALUES ('venue-2', 'SPY', 'SELL', 1,"
        " 'venue', '{}', 'x', 'executed', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with pytest.raises(IntegrityError), engine_for(url).begin() as conn:
        conn.execute(venue_source)
    migrate.upgrade(url, "head")
    assert recs.insert(recommendation("venue-3", source=RecommendationSource.EXERCISE))[1]
