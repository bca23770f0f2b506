"""Venue events over hand-written fakes: each activity type becomes the rows it should,
closes never exceed what is held, an activity about nothing held is "not ours", and the
same activities read twice are recorded once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
    RecommendationStatus,
)
from strikeflow.domain.market import StockBar, StockQuote
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.venue_activity import VenueActivity, VenueRecord
from strikeflow.services.venue_events import (
    LIQUIDATED,
    NOT_OURS,
    VenueEventStore,
    record_venue_events,
)
from tests.integration.record_factories import option_execution, stock_execution

CALL = "AAPL261120C00230000"
PUT = "AAPL261120P00220000"
EXPIRY = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 New York
NOW = EXPIRY + timedelta(minutes=5)


class FakeVenueStore:
    """Executions by id and the activities seen, with the SQL store's rules: one
    activity's records and its seen row at once, and never twice."""

    def __init__(self) -> None:
        self.executions: dict[int, Execution] = {}
        self.recs: dict[str, Recommendation] = {}
        self.seen: dict[str, tuple[datetime, str, list[int]]] = {}

    def add(self, execution: Execution) -> Execution:
        stored = replace(execution, id=len(self.executions) + 1)
        self.executions[stored.id] = stored
        return stored

    def execution_by_id(self, execution_id: int) -> Execution | None:
        return self.executions.get(execution_id)

    def closes_of(self, entry_execution_id: int) -> list[Execution]:
        return [
            e
            for e in self.executions.values()
            if e.closes_execution_id == entry_execution_id
            and e.position_effect is PositionEffect.CLOSE
        ]

    def open_entries(self, symbol: str) -> list[Execution]:
        return [
            e
            for e in self.executions.values()
            if e.position_effect is PositionEffect.OPEN
            and symbol in (e.ticker, e.option_symbol)
            and e.filled_qty
        ]

    def seen_ids(self, ids):
        return {i for i in ids if i in self.seen}

    def last_seen_at(self):
        return max((at for at, _, _ in self.seen.values()), default=None)

    def owns_order(self, broker_order_id: str) -> bool:
        return any(e.broker_order_id == broker_order_id for e in self.executions.values())

    def record_event(self, record: VenueRecord, processed_at: datetime) -> list[Execution]:
        if record.activity.id in self.seen:
            return []
        known = {e.client_order_id for e in self.executions.values()}
        written = []
        for rec, execution in record.rows:
            self.recs.setdefault(rec.id, rec)
            if execution.client_order_id not in known:
                written.append(self.add(execution))
        ids = [e.id for e in written]
        self.seen[record.activity.id] = (record.activity.at, record.note, ids)
        return written

    def rows(self, effect: PositionEffect) -> list[Execution]:
        return [e for e in self.executions.values() if e.position_effect is effect]


class FakeVenue:
    def __init__(self, *activities: VenueActivity) -> None:
        self.activities = list(activities)
        self.asked: list[datetime | None] = []

    def account_activities(self, after, types):
        self.asked.append(after)
        return [a for a in self.activities if after is None or a.at > after]


class FakeMarket:
    """The underlying's day bar (its close is what exercise is judged at)."""

    def __init__(self, close: str = "235.00") -> None:
        self.close = Decimal(close)

    def stock_bars(self, symbols, timeframe, start, end):
        bar = StockBar("AAPL", start, *(self.close,) * 4, volume=1)
        return {"AAPL": [bar]}

    def stock_quote(self, symbol):
        return StockQuote(symbol, self.close, self.close, 1, 1, NOW)

    def stock_quotes(self, symbols):
        return {s: self.stock_quote(s) for s in symbols}


def activity(n: int, kind: str, symbol: str, qty: str, **extra) -> VenueActivity:
    return VenueActivity(
        id=f"20261120160000{n:03d}::act-{n}",
        kind=kind,
        at=EXPIRY + timedelta(milliseconds=n),
        symbol=symbol,
        qty=Decimal(qty),
        **extra,
    )


def call_entry(store: FakeVenueStore, **overrides) -> Execution:
    """3 contracts of the 230 call bought at 2.15 (``option_execution``'s)."""
    return store.add(option_execution(f"sf-open-{len(store.executions)}", **overrides))


def put_entry(store: FakeVenueStore, contracts: int = 2) -> Execution:
    return store.add(
        option_execution(
            f"sf-open-{len(store.executions)}",
            instrument_type=InstrumentType.PUT,
            option_symbol=PUT,
            strike_price=Decimal("220.00"),
            contracts=contracts,
            quantity=Decimal(contracts),
            filled_qty=Decimal(contracts),
            filled_avg_price=Decimal("1.10"),
            premium_paid=Decimal("1.10"),
        )
    )


def run(store, *activities, market=None):
    assert isinstance(store, VenueEventStore)
    return record_venue_events(store, FakeVenue(*activities), market or FakeMarket(), lambda: NOW)


def test_an_expiry_closes_the_entry_at_zero_for_minus_its_cost():
    store = FakeVenueStore()
    entry = put_entry(store)
    out = run(store, activity(1, "OPEXP", PUT, "2", net_amount=Decimal(0)))
    [close] = store.rows(PositionEffect.CLOSE)
    assert close.closes_execution_id == entry.id
    assert (close.action, close.status) == (Action.SELL, ExecutionStatus.FILLED)
    assert (close.filled_qty, close.filled_avg_price) == (Decimal(2), Decimal(0))
    assert close.realized_pnl == Decimal("-220.0000")  # 1.10 x 100 x 2
    assert close.option_symbol == PUT
    assert close.contracts == 2
    assert close.created_at == EXPIRY + timedelta(milliseconds=1)
    rec = store.recs[close.recommendation_id]
    assert (rec.source, rec.status) == (RecommendationSource.VENUE, RecommendationStatus.EXECUTED)
    assert "expired worthless" in (rec.reason or "")
    assert out.to_json()["new"] == 1
    assert out.recorded[0]["execution_ids"] == [close.id]


def test_an_exercise_closes_the_call_at_intrinsic_and_enters_the_delivered_shares():
    store = FakeVenueStore()
    entry = call_entry(store)  # 3 contracts bought at 2.15, strike 230
    out = run(
        store,
        activity(1, "OPEXC", CALL, "3", net_amount=Decimal(0)),
        activity(2, "OPTRD", "AAPL", "300", price=Decimal(230), net_amount=Decimal(-69000)),
        market=FakeMarket("235.00"),
    )
    [close] = store.rows(PositionEffect.CLOSE)
    assert close.closes_execution_id == entry.id
    assert close.filled_avg_price == Decimal("5.0000")
    assert close.realized_pnl == Decimal("855.0000")  # (5 - 2.15) x 100 x 3
    [shares] = [e for e in store.rows(PositionEffect.OPEN) if e.id != entry.id]
    assert shares.instrument_type is InstrumentType.STOCK
    assert (shares.ticker, shares.action) == ("AAPL", Action.BUY)
    assert (shares.filled_qty, shares.filled_avg_price) == (Decimal(300), Decimal(230))
    assert shares.explain_json["exercise_of"] == entry.id
    assert store.recs[shares.recommendation_id].source is RecommendationSource.EXERCISE
    trade = out.recorded[1]
    assert (trade["type"], trade["execution_ids"]) == ("OPTRD", [])


def test_a_cash_settlement_closes_at_the_cash_per_share():
    store = FakeVenueStore()
    call_entry(store)
    run(store, activity(1, "OPCSH", CALL, "3", price=Decimal("1.50"), net_amount=Decimal(450)))
    [close] = store.rows(PositionEffect.CLOSE)
    assert close.filled_avg_price == Decimal("1.50")
    assert close.realized_pnl == Decimal("-195.0000")  # (1.50 - 2.15) x 100 x 3


def test_a_fill_of_the_venues_own_order_is_a_liquidation_of_what_is_held():
    store = FakeVenueStore()
    entry = call_entry(store, broker_order_id="our-order")
    out = run(
        store,
        activity(1, "FILL", CALL, "2", price=Decimal("0.90"), side="sell", order_id="their-order"),
        activity(2, "FILL", CALL, "1", price=Decimal("2.15"), side="buy", order_id="our-order"),
    )
    [close] = store.rows(PositionEffect.CLOSE)
    assert (close.closes_execution_id, close.filled_qty) == (entry.id, Decimal(2))
    assert close.broker_order_id == "their-order"
    assert close.realized_pnl == Decimal("-250.0000")  # (0.90 - 2.15) x 100 x 2
    assert LIQUIDATED in (store.recs[close.recommendation_id].reason or "")
    assert "our order" in out.recorded[1]["recorded"]


def test_the_same_activities_twice_are_recorded_once():
    store = FakeVenueStore()
    call_entry(store)
    put_entry(store)
    activities = (
        activity(1, "OPEXC", CALL, "3", net_amount=Decimal(0)),
        activity(2, "OPTRD", "AAPL", "300", price=Decimal(230), net_amount=Decimal(-69000)),
        activity(3, "OPEXP", PUT, "2", net_amount=Decimal(0)),
    )
    first = run(store, *activities)
    rows = dict(store.executions)
    second = run(store, *activities, *activities)
    assert first.to_json()["new"] == 3
    assert second.to_json() == {"read": 3, "new": 0, "recorded": []}
    assert store.executions == rows


def test_an_activity_about_nothing_held_is_seen_as_not_ours_and_nothing_else():
    store = FakeVenueStore()
    out = run(
        store,
        activity(1, "OPEXP", PUT, "2"),
        activity(2, "FILL", CALL, "1", price=Decimal("1"), side="sell", order_id="theirs"),
    )
    assert [r["recorded"] for r in out.recorded] == [NOT_OURS, NOT_OURS]
    assert store.executions == {}
    assert set(store.seen) == {a["id"] for a in out.recorded}


def test_closes_never_exceed_what_the_book_holds():
    store = FakeVenueStore()
    entry = call_entry(store)
    store.add(  # a close of ours sold 2 of the 3 contracts before expiry
        option_execution(
            "sf-close-1",
            action=Action.SELL,
            position_effect=PositionEffect.CLOSE,
            closes_execution_id=entry.id,
            contracts=2,
            quantity=Decimal(2),
            filled_qty=Decimal(2),
        )
    )
    other_broker = call_entry(store, broker=BrokerName.SIMULATED)  # never reached the venue
    out = run(store, activity(1, "OPEXP", CALL, "3"))
    closes = [e for e in store.rows(PositionEffect.CLOSE) if e.client_order_id != "sf-close-1"]
    assert [(c.closes_execution_id, c.filled_qty) for c in closes] == [(entry.id, Decimal(1))]
    assert other_broker.id not in {c.closes_execution_id for c in closes}
    assert out.recorded[0]["recorded"].endswith(f"2 {NOT_OURS}")


def test_several_entries_close_oldest_first():
    store = FakeVenueStore()
    first = call_entry(store)
    second = call_entry(store)
    run(store, activity(1, "OPEXP", CALL, "4"))
    closes = store.rows(PositionEffect.CLOSE)
    assert [(c.closes_execution_id, c.filled_qty) for c in closes] == [
        (first.id, Decimal(3)),
        (second.id, Decimal(1)),
    ]
    assert len({c.client_order_id for c in closes}) == 2


def test_a_put_exercise_trade_closes_the_shares_it_sold():
    store = FakeVenueStore()
    shares = store.add(
        stock_execution("sf-open-stock", quantity=Decimal(200), filled_qty=Decimal(200))
    )
    run(store, activity(1, "OPTRD", "AAPL", "200", price=Decimal(220), net_amount=Decimal(44000)))
    [close] = store.rows(PositionEffect.CLOSE)
    assert (close.closes_execution_id, close.filled_qty) == (shares.id, Decimal(200))
    assert close.realized_pnl == (Decimal(220) - shares.filled_avg_price) * 200


def test_reading_starts_a_day_before_the_latest_activity_seen():
    store = FakeVenueStore()
    venue = FakeVenue(activity(1, "OPEXP", PUT, "1"))
    record_venue_events(store, venue, FakeMarket(), lambda: NOW)
    record_venue_events(store, venue, FakeMarket(), lambda: NOW)
    assert venue.asked == [NOW - timedelta(days=7), venue.activities[0].at - timedelta(days=1)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {
                "id": "20261120103000123::9b3c",
                "activity_type": "FILL",
                "transaction_time": "2026-11-20T15:30:00.123Z",
                "type": "fill",
                "price": "0.9",
                "qty": "2",
                "side": "sell",
                "symbol": CALL,
                "order_id": "o-1",
            },
            ("FILL", datetime(2026, 11, 20, 15, 30, 0, 123000, tzinfo=UTC), "sell", "o-1"),
        ),
        (
            {
                "id": "20261120160000007::9b3d",
                "activity_type": "OPEXP",
                "date": "2026-11-20",
                "net_amount": "0",
                "symbol": PUT,
                "qty": "2",
                "price": None,
            },
            ("OPEXP", datetime(2026, 11, 20, 21, 0, 0, 7000, tzinfo=UTC), None, None),
        ),
    ],
)
def test_alpaca_activity_shapes_parse(raw, expected):
    from strikeflow.broker_adapters.alpaca.parsing import venue_activity

    parsed = venue_activity(raw)
    assert (parsed.kind, parsed.at, parsed.side, parsed.order_id) == expected
    assert parsed.id == raw["id"]
    assert parsed.qty == Decimal(2)


def test_the_task_is_a_thin_shell_over_the_service(monkeypatch):
    from types import SimpleNamespace

    from strikeflow import bootstrap
    from strikeflow.tasks.venue_events import record_venue_events as task

    store = FakeVenueStore()
    put_entry(store)
    venue = FakeVenue(activity(1, "OPEXP", PUT, "2"))
    context = SimpleNamespace(broker=venue, market=FakeMarket(), now=lambda: NOW)
    runtime = SimpleNamespace(context=context, settings=SimpleNamespace(database_url="db"))
    monkeypatch.setattr(bootstrap, "runtime", lambda: runtime)
    monkeypatch.setattr(bootstrap, "venue_event_store", lambda url: store, raising=False)
    assert task.run()["new"] == 1
    assert task.run()["new"] == 0
    context.broker = object()  # a broker without activities: nothing to read
    assert task.run()["skipped"] == "the broker lists no activities"
