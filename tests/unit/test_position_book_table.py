"""``strikeflow positions`` as a table: every column fits 120, marks or "—"."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from rich.console import Console

from strikeflow.cli.tables import WIDTH, differences_table, position_table
from strikeflow.domain.enums import Action, InstrumentType
from strikeflow.domain.position_book import BookEntry, PositionDifference, by_symbol, open_lots

LONG_OCC = "GOOGL371218C01234500"


def rendered(renderable, width: int = WIDTH) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def entry(eid: int, symbol: str, qty: str, price: str) -> BookEntry:
    option = symbol != "GOOGL"
    return BookEntry(
        execution_id=eid,
        recommendation_id=f"manual-{eid:032x}",
        symbol=symbol,
        underlying="GOOGL",
        instrument=InstrumentType.CALL if option else InstrumentType.STOCK,
        action=Action.BUY,
        filled_qty=Decimal(qty),
        fill_price=Decimal(price),
        expiration=date(2037, 12, 18) if option else None,
    )


def test_the_book_fits_120_columns_with_a_mark_and_without():
    positions = by_symbol(
        open_lots(
            [
                entry(1, LONG_OCC, "250", "123.45"),
                entry(2, LONG_OCC, "250", "99.99"),
                entry(3, "GOOGL", "100000", "9999.99"),
            ],
            [],
        )
    )
    lines = rendered(position_table(positions, {LONG_OCC: Decimal("130.10")}, caption="a note"))
    assert max(len(line) for line in lines) <= WIDTH
    text = "\n".join(lines)
    for shown in (LONG_OCC, "500", "5,586,000.00", "130.10", "919,000.00", "999,999,000.00"):
        assert shown in text, shown
    (stock_line,) = [line for line in lines if line.startswith("GOOGL ")]
    assert stock_line.count("—") == 2  # no mark, no unrealized P&L


def test_no_open_position_says_so():
    assert position_table([], {}) == "positions: none open"


def test_differences_fit_and_say_what_kind():
    found = [
        PositionDifference("AAPL", Decimal(0), Decimal(100)),
        PositionDifference(LONG_OCC, Decimal(2), Decimal(0)),
    ]
    lines = rendered(differences_table(found))
    assert max(len(line) for line in lines) <= WIDTH
    text = "\n".join(lines)
    assert "the venue holds what we do not" in text
    assert "the venue holds none of it" in text


def test_wide_names_each_entry_s_recommendation():
    positions = by_symbol(
        open_lots([entry(1, LONG_OCC, "1", "2"), entry(2, LONG_OCC, "1", "2")], [])
    )
    narrow = "\n".join(rendered(position_table(positions, {}), width=300))
    wide = "\n".join(rendered(position_table(positions, {}, wide=True), width=300))
    ids = f"manual-{1:032x} manual-{2:032x}"
    assert ids not in narrow
    assert ids in wide
