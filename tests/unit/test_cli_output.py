"""What the read commands print for a person: tables laid out in 120 columns with every
value whole, money at cents, Greeks and IV at a readable precision, and the outcome of
``signal --wait`` in a dozen lines rather than the explain document."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from rich.console import Console

from strikeflow.cli import formats
from strikeflow.cli.tables import (
    WIDE_EXECUTIONS,
    WIDTH,
    execution_table,
    outcome_table,
    view_table,
)
from strikeflow.domain.enums import ExecutionMode, ExecutionStatus, RecommendationStatus
from strikeflow.domain.records import Recommendation
from tests.integration.record_factories import (
    AT,
    option_execution,
    recommendation,
    stock_execution,
)

SIG_ID = "sig-20270415T1334Z-TSLA-c8e31ab7606e31506547"


def rendered(renderable, width: int = WIDTH) -> list[str]:
    """The lines a ``width``-column terminal shows (recorded, never printed)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def fits(lines: list[str], width: int = WIDTH) -> None:
    wide = [line for line in lines if len(line.rstrip()) > width]
    assert not wide, f"{len(wide)} lines wider than {width}: {wide[:2]}"


def day_of_executions():
    """An option fill, a stock fill at a sub-cent average, a partial fill on the
    emulator's simulated path, and a long ticker: the widest values a day holds."""
    return [
        option_execution("sf-call-1", SIG_ID),
        stock_execution("sf-stock-1", "manual-0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        option_execution(
            "sf-put-1",
            "rec-spy-put",
            ticker="GOOGL",
            instrument_type="PUT",
            option_symbol="GOOGL261218P01234500",
            strike_price=Decimal("1234.50"),
            expiration_date=date(2026, 12, 18),
            contracts=120,
            filled_qty=Decimal(40),
            filled_avg_price=Decimal("12.3456"),
            premium_paid=Decimal("12.35"),
            status=ExecutionStatus.PARTIALLY_FILLED,
            execution_mode=ExecutionMode.SIMULATED,
            broker="simulated",
        ),
        stock_execution(
            "sf-stock-2", "rec-brk", ticker="BRK.B", filled_avg_price=Decimal("0.4512")
        ),
    ]


def test_the_executions_fit_120_columns_with_every_value_whole():
    lines = rendered(execution_table(day_of_executions()))
    fits(lines)
    shown = "\n".join(lines)
    for whole in (
        "AAPL261120C00230000",
        "GOOGL261218P01234500",
        "…31506547",  # the recommendations' short ids
        "…c6d7e8f9",
        "…-spy-put",
        "partially_filled",
        "SIMULATED",
        "40/120",  # filled of ordered while partly filled
        "229.14",  # the stock's average fill, at cents
        "12.35",  # the option's fill, at cents
        "0.4512",  # a sub-dollar fill keeps its sub-cent digits
        "2026-11-19 10:30",  # created, on the New York clock
        "BRK.B",
    ):
        assert whole in shown, f"{whole!r} not shown whole:\n{shown}"
    assert "229.1400" not in shown
    assert shown.count("…") == 3, "a value cut short"  # the three long ids' tails only


def test_wide_has_every_column_but_the_explain_document():
    rows = day_of_executions()
    table = execution_table(rows, wide=True)
    headers = [str(column.header) for column in table.columns]
    assert headers == list(WIDE_EXECUTIONS)
    assert "explain_json" not in headers
    assert {"client_order_id", "broker_order_id", "gamma", "vega", "notional"} <= set(headers)
    lines = rendered(table, width=1_000)
    assert any(SIG_ID in line for line in lines)  # the whole id, not its tail
    assert any("sf-put-1" in line for line in lines)


def positions_row(**overrides) -> dict:
    row = {
        "execution_id": 7,
        "recommendation_id": SIG_ID,
        "ticker": "TSLA",
        "instrument_type": "PUT",
        "option_symbol": "TSLA270423P00350000",
        "strike_price": Decimal("350.00"),
        "expiration_date": date(2027, 4, 23),
        "contracts": 15,
        "premium_paid": Decimal("11.50"),
        "delta": Decimal("-0.4297"),
        "theta": Decimal("-0.7841"),
        "implied_volatility": Decimal("0.6336"),
        "strategy_type": "swing_trade",
        "execution_mode": "PAPER",
        "filled_at": AT,
        "days_to_expiry": 8,
    }
    return {**row, **overrides}


def test_positions_fit_120_columns_with_greeks_at_readable_precision():
    rows = [
        positions_row(),
        positions_row(
            option_symbol="GOOGL261218C01234500",
            strike_price=Decimal("1234.50"),
            contracts=120,
            premium_paid=Decimal("123.45"),
            delta=Decimal("0.5012"),
            days_to_expiry=365,
        ),
    ]
    lines = rendered(view_table("active_options_positions", rows))
    fits(lines)
    shown = "\n".join(lines)
    for whole in (
        "TSLA270423P00350000",
        "GOOGL261218C01234500",
        "…31506547",
        "-0.430",
        "-0.784",
        "63.4%",
        "+0.501",
        "1,234.50",
        "123.45",
        "2027-04-23",
        "swing",
        "365",
    ):
        assert whole in shown, f"{whole!r} not shown whole:\n{shown}"
    assert "0.4297" not in shown
    assert "0.6336" not in shown


def test_the_report_shows_money_at_cents():
    daily = [
        {
            "trading_day": date(2027, 4, 15),
            "instrument_type": "PUT",
            "executions": 2,
            "contracts": 29,
            "premium_spent": Decimal("20442.00000000"),
            "fills": 2,
            "rejections": 0,
        }
    ]
    performance = [
        {
            "strategy_type": "day_trade",
            "trades": 3,
            "wins": 2,
            "losses": 1,
            "win_rate": Decimal("0.6667"),
            "total_realized_pnl": Decimal("-1234.5678"),
            "avg_realized_pnl": Decimal("-411.5226"),
        }
    ]
    shown = "\n".join(
        rendered(view_table("daily_options_summary", daily))
        + rendered(view_table("options_performance_by_strategy", performance))
    )
    fits(shown.splitlines())
    for expected in ("20,442.00", "66.7%", "-1,234.57", "-411.52", "2027-04-15"):
        assert expected in shown, f"{expected!r} missing:\n{shown}"
    assert "20442.0000" not in shown
    assert "1234.5678" not in shown


def test_an_empty_view_says_so():
    assert view_table("daily_options_summary", []) == "daily_options_summary: no rows"


def test_the_wait_outcome_is_a_dozen_lines_without_the_explain_document():
    rec = replace(
        recommendation(SIG_ID),
        status=RecommendationStatus.FELL_BACK,
        status_reason="no eligible contract: 112 candidates, every one rejected",
    )
    execution = option_execution(
        "sf-open-7b8ab95bcc4f135d77f42400b9d4c5bf",
        SIG_ID,
        broker_order_id="324a701c-9d27-439a-99f9-39e0d5133046",
        explain_json={"selection": {"rejected_counts": {"spread > 10%": 93}, "rejected": []}},
    )
    lines = [line for line in rendered(outcome_table(rec, execution)) if line.strip()]
    fits(lines)
    assert len(lines) <= 14, "\n".join(lines)
    shown = "\n".join(lines)
    for expected in (
        f"{SIG_ID}: fell_back",
        "sf-open-7b8ab95bcc4f135d77f42400b9d4c5bf",
        "324a701c-9d27-439a-99f9-39e0d5133046",
        "AAPL261120C00230000",
        "strike 230.00",
        "2026-11-20",
        "BUY 3 contracts",
        "2.15 a share",
        "645.00 in all",  # 3 contracts × 100 shares × 2.15
        "delta +0.481",
        "theta -0.221/day",
        "IV 26.3%",
        "no eligible contract: 112 candidates",
    ):
        assert expected in shown, f"{expected!r} missing:\n{shown}"
    assert "rejected_counts" not in shown


def test_the_wait_outcome_of_a_stock_order_and_of_none():
    rec = replace(recommendation("rec-1"), status=RecommendationStatus.EXECUTED)
    shown = "\n".join(rendered(outcome_table(rec, stock_execution("sf-stock-1", "rec-1"))))
    assert "STOCK AAPL" in shown
    assert "BUY 12 shares" in shown
    assert "2,749.68 in all" in shown
    assert "delta" not in shown
    refused: Recommendation = replace(
        rec,
        status=RecommendationStatus.REJECTED,
        status_reason="rejected: strikeflow.size_position: risk: kill switch on",
    )
    shown = "\n".join(rendered(outcome_table(refused, None)))
    assert "size_position: risk: kill switch on" in shown
    assert "strikeflow.size_position" not in shown  # the task-name prefix left out
    assert "none recorded" in shown


@pytest.mark.parametrize(
    ("shown", "value", "expected"),
    [
        (formats.money, Decimal("17250.0000000000"), "17,250.00"),
        (formats.money, "-1.006", "-1.01"),
        (formats.money, None, ""),
        (formats.money, "n/a", "n/a"),  # an odd stored figure is shown, not refused
        (formats.price, Decimal("2.15"), "2.15"),
        (formats.price, Decimal("229.1400"), "229.14"),
        (formats.price, Decimal("0.4512"), "0.4512"),
        (formats.price, Decimal("0.4500"), "0.45"),
        (formats.quantity, Decimal("12.000000"), "12"),
        (formats.quantity, Decimal("0.500000"), "0.5"),
        (formats.greek, Decimal("0.4812"), "+0.481"),
        (formats.greek, -0.22104, "-0.221"),
        (formats.greek, float("nan"), "nan"),
        (formats.percent, Decimal("0.2633"), "26.3%"),
        (formats.short_id, SIG_ID, "…31506547"),
        (formats.short_id, "rec-1", "rec-1"),
    ],
)
def test_a_value_reads_at_its_precision(shown, value, expected):
    assert shown(value) == expected


def test_an_instant_reads_on_the_new_york_clock():
    assert formats.instant(AT) == "2026-11-19 10:30"
    assert formats.instant(AT.replace(tzinfo=None)) == "2026-11-19 10:30"  # SQLite's naive UTC
    assert formats.instant("2027-04-15T13:35:00+00:00", "%H:%M") == "09:35"


def test_stored_text_cannot_drive_the_terminal():
    assert formats.printable("spread\x1b[2J wide\nnext\tcell") == "spread\\x1b[2J wide next cell"
    rec = replace(
        recommendation("rec-1"),
        status=RecommendationStatus.REJECTED,
        status_reason="rejected: venue said \x1b]0;owned\x07 [bold]no[/bold]",
    )
    console = Console(width=WIDTH, file=io.StringIO(), force_terminal=True)
    console.print(outcome_table(rec, None))
    written = console.file.getvalue()
    assert "\x1b]0;" not in written  # the stored escape is spelled out, not sent
    assert "\\x1b]0;owned\\x07" in written
    assert "[bold]no[/bold]" in written  # stored text is never read as markup


def test_json_keeps_full_precision():
    payload = {"premium": Decimal("2.123456789"), "at": AT, "day": date(2027, 4, 15)}
    assert json.loads(json.dumps(payload, default=formats.json_default)) == {
        "premium": "2.123456789",
        "at": "2026-11-19T15:30:00+00:00",
        "day": "2027-04-15",
    }
