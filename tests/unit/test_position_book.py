"""The position book: entries and partial closes -> open quantities, costs and the
differences from the venue, table by table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from strikeflow.domain.enums import Action, InstrumentType
from strikeflow.domain.position_book import (
    BookEntry,
    CloseFill,
    DifferenceKind,
    PositionDifference,
    by_symbol,
    differences,
    held_quantity,
    open_lots,
)

CALL = "XYZ261120C00100000"
EXPIRY = date(2026, 11, 20)
D = Decimal


def entry(
    eid: int,
    qty: str,
    price: str | None = "2.00",
    *,
    symbol: str = CALL,
    action: Action = Action.BUY,
    venue: bool = True,
) -> BookEntry:
    option = symbol != "XYZ"
    return BookEntry(
        execution_id=eid,
        recommendation_id=f"rec-{eid}",
        symbol=symbol,
        underlying="XYZ",
        instrument=InstrumentType.CALL if option else InstrumentType.STOCK,
        action=action,
        filled_qty=D(qty),
        fill_price=None if price is None else D(price),
        venue_held=venue,
        expiration=EXPIRY if option else None,
    )


@pytest.mark.parametrize(
    ("entries", "closes", "expected"),
    [
        pytest.param([entry(1, "5")], [], {1: ("0", "5")}, id="an entry, no close"),
        pytest.param(
            [entry(1, "5")], [CloseFill(1, D("2"))], {1: ("2", "3")}, id="a partial close"
        ),
        pytest.param(
            [entry(1, "5")],
            [CloseFill(1, D("2")), CloseFill(1, D("1"))],
            {1: ("3", "2")},
            id="two partial closes add up",
        ),
        pytest.param([entry(1, "5")], [CloseFill(1, D("5"))], {}, id="closed whole"),
        pytest.param(
            [entry(1, "5")], [CloseFill(1, D("7"))], {}, id="overclosed: nothing, never negative"
        ),
        pytest.param(
            [entry(1, "5"), entry(2, "3")],
            [CloseFill(2, D("1"))],
            {1: ("0", "5"), 2: ("1", "2")},
            id="a close takes from its own entry only",
        ),
        pytest.param(
            [entry(1, "100", "50", symbol="XYZ", action=Action.SELL)],
            [CloseFill(1, D("40"))],
            {1: ("40", "-60")},
            id="a short stock entry holds a negative quantity",
        ),
        pytest.param(
            [entry(1, "5")], [CloseFill(99, D("5"))], {1: ("0", "5")}, id="a close of another"
        ),
    ],
)
def test_open_quantities(entries, closes, expected):
    lots = open_lots(entries, closes)
    assert {lot.entry.execution_id: (str(lot.closed_qty), str(lot.open_qty)) for lot in lots} == (
        expected
    )


@pytest.mark.parametrize(
    ("as_of", "listed"),
    [
        (None, True),
        (date(2026, 11, 19), True),
        (EXPIRY, True),  # listed on its expiry day
        (date(2026, 11, 21), False),
    ],
)
def test_options_expired_before_as_of_are_not_listed(as_of, listed):
    stock = entry(2, "10", "50", symbol="XYZ")
    lots = open_lots([entry(1, "5"), stock], [], as_of)
    assert [lot.entry.execution_id for lot in lots] == ([1, 2] if listed else [2])


@pytest.mark.parametrize(
    ("status", "quantity", "filled", "held"),
    [
        ("filled", "5", None, "5"),  # filled, fills never recorded: the whole order
        ("filled", "5", "5", "5"),
        ("canceled", "5", "3", "3"),  # canceled after part filled holds the part
        ("canceled", "5", None, "0"),
        ("accepted", "5", None, "0"),
        ("partially_filled", "5", "2", "2"),
    ],
)
def test_held_quantity(status, quantity, filled, held):
    assert held_quantity(status, D(quantity), None if filled is None else D(filled)) == D(held)


def test_cost_is_fill_price_times_multiplier_times_open_quantity():
    (option,) = open_lots([entry(1, "5", "2.15")], [CloseFill(1, D("2"))])
    assert option.cost == D("2.15") * 100 * 3
    (stock,) = open_lots([entry(2, "10", "50.25", symbol="XYZ")], [])
    assert stock.cost == D("502.50")


def test_lots_add_up_per_symbol_with_an_average_price_and_unrealized_pnl():
    lots = open_lots(
        [entry(1, "2", "2.00"), entry(2, "3", "3.00"), entry(3, "10", "50", symbol="XYZ")],
        [CloseFill(2, D("1"))],
    )
    stock, call = by_symbol(lots)  # by symbol: "XYZ" before "XYZ261120C…"
    assert (call.symbol, call.open_qty, call.cost) == (CALL, D("4"), D("1000.00"))
    assert call.avg_price == D("2.50")
    assert call.unrealized(D("3.00")) == D("200.00")
    assert call.unrealized(None) is None
    assert (stock.symbol, stock.open_qty, stock.cost, stock.multiplier) == ("XYZ", 10, 500, 1)
    assert stock.unrealized(D("49")) == D("-10")
    assert [lot.entry.execution_id for lot in call.lots] == [1, 2]


def test_a_short_position_gains_as_the_price_falls():
    (short,) = by_symbol(open_lots([entry(1, "10", "50", symbol="XYZ", action=Action.SELL)], []))
    assert short.open_qty == -10
    assert short.unrealized(D("45")) == D("50")


def test_a_lot_without_a_fill_price_has_no_cost():
    (position,) = by_symbol(open_lots([entry(1, "2", None), entry(2, "1")], []))
    assert position.cost is None
    assert position.avg_price is None
    assert position.unrealized(D("3")) is None


def test_simulated_fills_are_in_the_book_but_not_at_the_venue():
    (position,) = by_symbol(open_lots([entry(1, "2"), entry(2, "3", venue=False)], []))
    assert (position.open_qty, position.venue_qty) == (5, 2)


@pytest.mark.parametrize(
    ("ours", "venue", "expected"),
    [
        ({}, {}, []),
        ({"XYZ": D(10)}, {"XYZ": D(10)}, []),
        ({}, {"XYZ": D(100)}, [("XYZ", "0", "100", DifferenceKind.VENUE_ONLY)]),
        ({CALL: D(2)}, {}, [(CALL, "2", "0", DifferenceKind.OURS_ONLY)]),
        ({CALL: D(5)}, {CALL: D(3)}, [(CALL, "5", "3", DifferenceKind.QUANTITY)]),
        ({"XYZ": D(-10)}, {"XYZ": D(10)}, [("XYZ", "-10", "10", DifferenceKind.QUANTITY)]),
        (
            {"B": D(1), "A": D(1)},
            {"A": D(2), "C": D(1)},
            [
                ("A", "1", "2", DifferenceKind.QUANTITY),
                ("B", "1", "0", DifferenceKind.OURS_ONLY),
                ("C", "0", "1", DifferenceKind.VENUE_ONLY),
            ],
        ),
    ],
)
def test_differences(ours, venue, expected):
    found = differences(ours, venue)
    assert [(d.symbol, str(d.ours), str(d.venue), d.kind) for d in found] == expected


@pytest.mark.parametrize(
    ("difference", "line"),
    [
        (
            PositionDifference("XYZ", D(0), D("100.000000")),
            "XYZ: ours 0, the venue's 100 (the venue holds what we do not)",
        ),
        (
            PositionDifference(CALL, D("2.000000"), D(0)),
            f"{CALL}: ours 2, the venue's 0 (the venue holds none of it)",
        ),
        (
            PositionDifference("XYZ", D("2.5"), D(3)),
            "XYZ: ours 2.5, the venue's 3 (the quantities differ)",
        ),
    ],
)
def test_a_difference_reads_as_one_line(difference, line):
    assert difference.describe() == line
