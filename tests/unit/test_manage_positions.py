"""manage_positions over the hand-written fakes: entries held in a FakeStore, quotes from
a FakeMarket, the book's marks in a FakeBook, closes "sent" to a recording sender."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from strikeflow.app_state.in_process import InProcessScanLock
from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    RecommendationSource,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.exit_rules import ExitRuleBook, ExitRules, StrategyExits
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import Execution
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.manage_positions import ManageContext, manage_positions
from strikeflow.services.ports import HeldGreeks
from tests.unit.factories import NOW, contract
from tests.unit.fakes_dispatch import FakeBook, FakeClock, FakeMarket, FakeStore

DAY_RULES = ExitRules(take_profit_pct=50, stop_loss_pct=30, time_exit=time(15, 45))
TRAILING = ExitRules(trailing_stop_pct=20)


class Sender:
    """A chain sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, recommendation_id: str) -> str:
        self.sent.append(recommendation_id)
        return recommendation_id


def book_of(option: ExitRules) -> ExitRuleBook:
    same = StrategyExits(option=option, stock=ExitRules())
    return ExitRuleBook(day_trade=same, swing_trade=same)


class Desk:
    """One held-positions world: the market, the store and book, the clock, the sender."""

    def __init__(self, option_rules: ExitRules = DAY_RULES, strikes=(100,)) -> None:
        self.clock = FakeClock(NOW)
        self.market = FakeMarket(self.clock, [contract(k) for k in strikes])
        self.store = FakeStore()
        self.book = FakeBook(self.store)
        self.sender = Sender()
        self.lock = InProcessScanLock()
        self.rules = book_of(option_rules)
        self.entries = [self.hold(i, c) for i, c in enumerate(self.market.contracts, 1)]

    def hold(self, n: int, listed, price: str = "2.00") -> Execution:
        """A DAY_TRADE CALL entry of 3 contracts filled at ``price`` half an hour ago."""
        entry = Execution(
            recommendation_id=f"rec-{n}",
            client_order_id=client_order_id_for(f"rec-{n}"),
            ticker="XYZ",
            action=Action.BUY,
            instrument_type=InstrumentType.CALL,
            broker=BrokerName.ALPACA,
            execution_mode=ExecutionMode.PAPER,
            status=ExecutionStatus.FILLED,
            quantity=Decimal(3),
            filled_qty=Decimal(3),
            filled_avg_price=Decimal(price),
            strike_price=listed.strike,
            expiration_date=listed.expiration,
            contracts=3,
            premium_paid=Decimal(price),
            option_symbol=listed.symbol,
            strategy_type=StrategyType.DAY_TRADE,
            filled_at=NOW - timedelta(minutes=30),
            created_at=NOW - timedelta(minutes=30),
        )
        stored, _ = self.store.upsert_execution(entry)
        return stored

    def quote(self, bid: str, ask: str, age_s: float = 1.0, index: int = 0) -> None:
        c = self.market.contracts[index]
        self.market.contracts[index] = replace(
            c,
            bid=Decimal(bid),
            ask=Decimal(ask),
            quote_time=self.clock() - timedelta(seconds=age_s),
        )

    def context(self) -> ManageContext:
        return ManageContext(
            self.market, self.book, self.store, self.store, self.lock, self.rules, self.sender
        )

    def run(self):
        return manage_positions(self.context(), self.clock())

    def later(self, minutes: float) -> None:
        self.clock.at += timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("bid", "ask", "rule"),
    [("3.10", "3.20", "take_profit"), ("1.30", "1.40", "stop_loss")],
)
def test_a_price_exit_sends_exactly_one_close(bid, ask, rule):
    desk = Desk()
    desk.quote(bid, ask)
    outcome = desk.run()
    entry_id = desk.entries[0].id
    assert [e.rule for e in outcome.exits] == [rule]
    assert desk.sender.sent == [f"close-{entry_id}-1"]
    close = desk.store.recs[f"close-{entry_id}-1"]
    assert close.source is RecommendationSource.EXIT
    assert close.action is Action.SELL
    assert close.features["exit"]["rule"] == rule
    assert close.features["closes_execution_id"] == entry_id
    desk.later(1)
    desk.quote(bid, ask)
    again = desk.run()  # the rule still fires, but the close is in flight
    assert [e.sent for e in again.exits] == [False]
    assert desk.sender.sent == [f"close-{entry_id}-1"]


def test_a_quiet_minute_sends_nothing():
    desk = Desk()
    desk.quote("2.10", "2.20")
    outcome = desk.run()
    assert outcome.exits == ()
    assert outcome.held == 1
    assert desk.sender.sent == []


def test_two_runs_in_the_same_minute_decide_once():
    desk = Desk()
    desk.quote("3.10", "3.20")
    first = desk.run()
    desk.clock.at += timedelta(seconds=20)  # the same minute, later
    second = desk.run()
    assert len(first.exits) == 1
    assert second.skipped is not None
    assert "already managed" in second.skipped
    assert desk.book.reads == 1
    assert len(desk.sender.sent) == 1


def test_a_stale_quote_fires_no_price_exit_but_the_time_exit_still_fires():
    desk = Desk()
    desk.quote("3.10", "3.20", age_s=600)  # a take profit, were it fresh
    assert desk.run().exits == ()
    assert desk.sender.sent == []
    desk.clock.at = NOW.replace(hour=15, minute=50)
    desk.quote("3.10", "3.20", age_s=600)
    outcome = desk.run()
    assert [e.rule for e in outcome.exits] == ["time_of_day"]
    assert len(desk.sender.sent) == 1


def test_no_quote_at_all_still_lets_the_time_exit_fire():
    desk = Desk()
    desk.market.contracts.clear()
    desk.clock.at = NOW.replace(hour=15, minute=46)
    assert [e.rule for e in desk.run().exits] == ["time_of_day"]


def test_the_high_water_mark_is_kept_across_minutes_and_contexts():
    desk = Desk(TRAILING)
    entry_id = desk.entries[0].id
    desk.quote("2.90", "3.10")  # mark 3.00, the new high
    assert desk.run().exits == ()
    assert desk.book.high_water == {entry_id: Decimal("3.00")}
    desk.later(1)
    desk.quote("2.70", "2.90")  # mark 2.80: 6.7 % below the high, no stop
    assert desk.run().exits == ()
    assert desk.book.high_water == {entry_id: Decimal("3.00")}  # never lowered
    desk.later(1)
    desk.quote("2.30", "2.50")  # mark 2.40: 20 % below 3.00, though still above entry
    outcome = desk.run()
    assert [e.rule for e in outcome.exits] == ["trailing_stop"]


def test_a_stale_quote_does_not_raise_the_high_water_mark():
    desk = Desk(TRAILING)
    desk.quote("4.90", "5.10", age_s=600)
    desk.run()
    assert desk.book.high_water == {}


def test_the_greeks_are_refreshed_from_the_snapshot():
    desk = Desk()
    desk.market.snapshot_greeks = True
    desk.quote("2.10", "2.20")
    desk.run()
    assert desk.book.greeks == {
        desk.entries[0].id: HeldGreeks(Decimal("0.5"), Decimal("-0.08"), Decimal("0.3"))
    }


def test_every_held_contract_is_quoted_in_one_request():
    desk = Desk(strikes=(95, 100, 105))
    for i in range(3):
        desk.quote("2.10", "2.20", index=i)
    desk.run()
    assert desk.market.snapshot_calls == 1
    assert sorted(desk.market.snapshot_queries[0]) == sorted(
        c.symbol for c in desk.market.contracts
    )


def test_every_share_held_is_quoted_in_one_request():
    """Shares of two tickers: one stock quote request names both, and each one's exit is
    decided from its own quote (AAA up 11 % takes its profit, BBB up 1 % is held)."""
    desk = Desk(strikes=())
    shares = StrategyExits(option=DAY_RULES, stock=ExitRules(take_profit_pct=10))
    desk.rules = ExitRuleBook(day_trade=shares, swing_trade=shares)
    for n, ticker in enumerate(("AAA", "BBB"), 1):
        held = desk.hold(n, contract(100))
        desk.store.executions[held.client_order_id] = replace(
            held,
            ticker=ticker,
            instrument_type=InstrumentType.STOCK,
            option_symbol=None,
            strike_price=None,
            expiration_date=None,
            contracts=None,
            quantity=Decimal(10),
            filled_qty=Decimal(10),
            filled_avg_price=Decimal("100.00"),
            premium_paid=Decimal("100.00"),
        )
    desk.market.quote_stock("AAA", "111.00")
    desk.market.quote_stock("BBB", "101.00")
    outcome = desk.run()
    assert desk.market.stock_calls == 1
    assert outcome.held == 2
    assert [(e.symbol, e.rule) for e in outcome.exits] == [("AAA", "take_profit")]


def test_a_closed_market_reads_nothing():
    desk = Desk()
    desk.market.is_open = False
    outcome = desk.run()
    assert outcome.skipped is not None
    assert "closed" in outcome.skipped
    assert desk.book.reads == 0
    assert desk.sender.sent == []


def test_a_closed_entry_is_not_managed():
    desk = Desk()
    entry = desk.entries[0]
    close = replace(
        entry,
        id=None,
        recommendation_id="close-1-1",
        client_order_id="sf-close-x",
        action=Action.SELL,
        position_effect="CLOSE",
        closes_execution_id=entry.id,
    )
    desk.store.upsert_execution(close)
    desk.quote("3.10", "3.20")
    outcome = desk.run()
    assert outcome.held == 0
    assert desk.sender.sent == []


def test_the_exit_is_logged_once_with_the_rule(caplog):
    desk = Desk()
    desk.quote("3.10", "3.20")
    with caplog.at_level("INFO", logger="strikeflow.services.manage_positions"):
        desk.run()
        desk.later(1)
        desk.run()  # the take profit fires again; its close is in flight: nothing sent, no line
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "rule=take_profit" in lines[0]
    assert "rec=close-1-1" in lines[0]


def test_the_minute_is_new_york_time_aware():
    """The time exit reads New York's wall time whatever zone the clock gives: 20:45 UTC
    is 15:45 in New York (past 15:10), 15:45 UTC is 10:45 there (not yet)."""
    desk = Desk()
    day = NOW.astimezone(NEW_YORK).date()
    desk.clock.at = datetime(day.year, day.month, day.day, 15, 45, tzinfo=UTC)
    assert desk.run().exits == ()
    desk.clock.at = datetime(day.year, day.month, day.day, 20, 45, tzinfo=UTC)
    assert [e.rule for e in desk.run().exits] == ["time_of_day"]


def test_a_refused_close_is_asked_for_again_only_after_a_wait():
    desk = Desk()
    entry_id = desk.entries[0].id
    desk.quote("3.10", "3.20")
    desk.run()
    first = f"close-{entry_id}-1"
    desk.store.set_status(first, RecommendationStatus.REJECTED, "the venue refused")
    for _ in range(4):  # within the wait: nothing asked
        desk.later(1)
        desk.quote("3.10", "3.20")
        assert desk.run().exits == ()
    desk.later(1)
    desk.quote("3.10", "3.20")
    outcome = desk.run()
    assert [e.recommendation_id for e in outcome.exits] == [f"close-{entry_id}-2"]
    assert desk.sender.sent == [first, f"close-{entry_id}-2"]
