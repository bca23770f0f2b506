"""The position check: the book against the venue's positions, every difference recorded
and logged, nothing compared while the market is closed; the venue's marks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest

from strikeflow.domain.enums import Action, InstrumentType
from strikeflow.domain.orders import PositionSnapshot
from strikeflow.domain.position_book import BookEntry, CloseFill, DifferenceKind, PositionDifference
from strikeflow.services.position_check import (
    book,
    check_positions,
    compare,
    venue_marks,
    venue_quantities,
)
from tests.unit.fakes_dispatch import FakeClock, FakeMarket

CALL = "XYZ261120C00100000"
D = Decimal


class BookRecords:
    """``PositionRecords`` in memory: the rows handed in, the differences kept."""

    def __init__(self, entries: Sequence[BookEntry] = (), closes: Sequence[CloseFill] = ()):
        self.entries, self.closes = list(entries), list(closes)
        self.recorded: list[tuple[datetime, PositionDifference]] = []

    def book_rows(self) -> tuple[list[BookEntry], list[CloseFill]]:
        return list(self.entries), list(self.closes)

    def record_differences(self, found: Sequence[PositionDifference], at: datetime) -> int:
        self.recorded += [(at, d) for d in found]
        return len(found)

    def recent_differences(self, limit: int = 100) -> list[tuple[datetime, PositionDifference]]:
        return list(reversed(self.recorded))[:limit]


class VenuePositions:
    """A Broker that only answers ``positions()``."""

    def __init__(self, *held: PositionSnapshot) -> None:
        self.held = list(held)

    def positions(self) -> list[PositionSnapshot]:
        return list(self.held)


def entry(eid: int, qty: str, symbol: str = CALL, venue: bool = True) -> BookEntry:
    option = symbol != "XYZ"
    return BookEntry(
        execution_id=eid,
        recommendation_id=f"rec-{eid}",
        symbol=symbol,
        underlying="XYZ",
        instrument=InstrumentType.CALL if option else InstrumentType.STOCK,
        action=Action.BUY,
        filled_qty=D(qty),
        fill_price=D("2.00"),
        venue_held=venue,
    )


def held(symbol: str, qty: str, value: str | None = None) -> PositionSnapshot:
    return PositionSnapshot(symbol, D(qty), D("2.00"), None if value is None else D(value))


@pytest.mark.parametrize(
    ("entries", "closes", "venue", "expected"),
    [
        pytest.param([entry(1, "2")], [], [held(CALL, "2")], [], id="the same"),
        pytest.param(
            [entry(1, "2")],
            [CloseFill(1, D(1))],
            [held(CALL, "1")],
            [],
            id="a partial close the venue agrees with",
        ),
        pytest.param(
            [],
            [],
            [held("XYZ", "100")],
            [("XYZ", "0", "100", DifferenceKind.VENUE_ONLY)],
            id="shares delivered by an exercise",
        ),
        pytest.param(
            [entry(1, "2")],
            [],
            [],
            [(CALL, "2", "0", DifferenceKind.OURS_ONLY)],
            id="liquidated at the venue",
        ),
        pytest.param(
            [entry(1, "3")],
            [],
            [held(CALL, "1")],
            [(CALL, "3", "1", DifferenceKind.QUANTITY)],
            id="quantities differ",
        ),
        pytest.param(
            [entry(1, "2"), entry(2, "5", venue=False)],
            [],
            [held(CALL, "2")],
            [],
            id="a simulated fill is not expected at the venue",
        ),
        pytest.param(
            [entry(1, "2")], [CloseFill(1, D(2))], [held(CALL, "0")], [], id="zero is none"
        ),
    ],
)
def test_compare(entries, closes, venue, expected):
    found = compare(book(BookRecords(entries, closes)), venue)
    assert [(d.symbol, str(d.ours), str(d.venue), d.kind) for d in found] == expected


def test_a_short_venue_position_is_negative_and_lots_add_up():
    assert venue_quantities([held("XYZ", "-10"), held(CALL, "1"), held(CALL, "2")]) == {
        "XYZ": D(-10),
        CALL: D(3),
    }


def test_marks_are_market_value_per_unit():
    marks = venue_marks([held(CALL, "2", "500"), held("XYZ", "10", "512.5"), held("ABC", "3")])
    assert marks == {CALL: D("2.5"), "XYZ": D("51.25")}


def test_an_adjusted_contract_is_marked_and_costed_by_its_own_multiplier():
    """A contract delivering 150 shares: the venue's market value is price x qty x 150,
    and the book's cost and unrealized P&L are in the same shares."""
    marks = venue_marks([held(CALL, "2", "750"), held("XYZ", "10", "512.5")], {CALL: 150})
    assert marks == {CALL: D("2.5"), "XYZ": D("51.25")}
    adjusted = replace(entry(1, "2"), contract_multiplier=150)
    (position,) = book(BookRecords([adjusted]))
    assert position.multiplier == 150
    assert position.cost == adjusted.fill_price * 150 * 2
    assert position.unrealized(D("2.5")) == D("2.5") * 150 * 2 - position.cost


def test_each_difference_is_recorded_and_logged_at_warning(caplog):
    clock = FakeClock()
    records = BookRecords([entry(1, "2")])
    venue = VenuePositions(held("XYZ", "100"))
    with caplog.at_level(logging.WARNING, logger="strikeflow.services.position_check"):
        check = check_positions(records, venue, FakeMarket(clock), clock)
    assert [d.symbol for d in check.differences] == ["XYZ", CALL]
    assert [(at, d.symbol) for at, d in records.recorded] == [(clock.at, "XYZ"), (clock.at, CALL)]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert logged == [
        "position difference: XYZ: ours 0, the venue's 100 (the venue holds what we do not)",
        f"position difference: {CALL}: ours 2, the venue's 0 (the venue holds none of it)",
    ]
    assert check.to_json()["differences"][0] == {
        "symbol": "XYZ",
        "ours": "0",
        "venue": "100",
        "kind": "venue_only",
    }


def test_nothing_is_compared_while_the_market_is_closed():
    clock = FakeClock()
    market = FakeMarket(clock)
    market.is_open = False
    records = BookRecords([entry(1, "2")])
    check = check_positions(records, VenuePositions(), market, clock)
    assert (check.skipped, check.differences, records.recorded) == ("market closed", [], [])
    forced = check_positions(records, VenuePositions(), market, clock, in_session_only=False)
    assert [d.symbol for d in forced.differences] == [CALL]


def test_no_difference_records_nothing():
    clock = FakeClock()
    records = BookRecords([entry(1, "2")])
    check = check_positions(records, VenuePositions(held(CALL, "2")), FakeMarket(clock), clock)
    assert (check.differences, records.recorded) == ([], [])
