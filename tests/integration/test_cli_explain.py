"""``strikeflow explain`` and ``executions`` on a real database (PostgreSQL and SQLite)
holding what the pipeline stores: the tables fit 120 columns, the short id a table shows
finds its recommendation, and the decision reads back whole."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal

import pytest

from strikeflow.cli import main
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.domain.enums import RecommendationStatus
from tests.integration.record_factories import option_execution, recommendation, stock_execution

CALL_ID = "sig-20261119T1530Z-AAPL-0f3c2a9be4d1c8a7b6e5"
STOCK_ID = "manual-7d41c0e2a9b84f6d9c3e1a2b5f607182"
REFUSED_ID = "sig-20261119T1545Z-TSLA-9a8b7c6d5e4f3a2b1c0d"
SHORT_ID = re.compile(r"…([0-9a-f]{8})")
SELECTION = {
    "chosen": {
        "symbol": "AAPL261120C00230000",
        "ask": "2.15",
        "implied_vol": 0.2633,
        "delta": 0.4812,
        "greeks_source": "venue",
    },
    "policy": {"right": "C", "window": [0, 1], "strike": "ATM", "liquidity": {}},
    "spot": 229.87,
    "at": "2026-11-19T15:30:00+00:00",
    "candidates": 3,
    "rejected_counts": {"spread > 10%": 1, "off target (ATM)": 1},
    "rejected": [
        {"symbol": "AAPL261120C00232500", "reasons": ["spread 18.0% of mid > 10%"]},
        {"symbol": "AAPL261120C00227500", "reasons": ["strike 227.5 is not 230, the strike ATM"]},
    ],
}
RISK = {
    "allowed": True,
    "breaches": [],
    "reason": None,
    "open_positions": 0,
    "ticker_exposure": "0",
    "order_cost": "645.00",
}


@pytest.fixture
def stored(db_url):
    """An option trade, a stock trade, and a signal the risk check refused."""
    engine = engine_for(db_url)
    recs, executions = RecommendationRepository(engine), ExecutionRepository(engine)
    for rec_id, ticker in ((CALL_ID, "AAPL"), (STOCK_ID, "AAPL"), (REFUSED_ID, "TSLA")):
        recs.insert(recommendation(rec_id, ticker=ticker))
    explain = {"selection": SELECTION, "sizing": {"describe": "3 × 215.00 = 645.00"}, "risk": RISK}
    executions.insert_with_status(
        option_execution(
            "sf-open-aapl-call", CALL_ID, explain_json=explain, broker_order_id="ord-call-1"
        ),
        RecommendationStatus.EXECUTED,
    )
    executions.insert_with_status(
        stock_execution("sf-open-aapl-stock", STOCK_ID), RecommendationStatus.EXECUTED
    )
    refusal = {"risk": {**RISK, "allowed": False, "reason": "TSLA exposure over 25000.00"}}
    recs.set_status(
        REFUSED_ID,
        RecommendationStatus.REJECTED,
        "rejected: strikeflow.size_position: DispatchRejected: risk: TSLA exposure over 25000.00",
        explain=refusal,
    )
    dispose_all()
    return db_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_executions_fit_120_columns_and_their_short_ids_explain(stored, capsys):
    code, out, err = run(capsys, "executions", "--db", stored)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 120
    assert "AAPL261120C00230000" in out
    assert "229.14" in out
    assert "229.1400" not in out
    tails = SHORT_ID.findall(out)
    assert sorted(tails) == sorted([CALL_ID[-8:], STOCK_ID[-8:]])

    code, out, err = run(capsys, "explain", f"…{CALL_ID[-8:]}", "--db", stored)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 120
    for expected in (
        f"{CALL_ID}: executed",
        "3 calls considered, 2 rejected: 1 spread > 10%, 1 off target (ATM)",
        "chosen AAPL261120C00230000 ask 2.15, delta +0.481, IV 26.3%",
        "spread 18.0% of mid > 10%",
        "strike 227.5 is not 230",
        "3 × 215.00 = 645.00",
        "sf-open-aapl-call (venue ord-call-1)",
        "BUY 3 contracts, filled 3",
        "delta +0.481, theta -0.221/day, IV 26.3%",
    ):
        assert expected in out, f"{expected!r} missing:\n{out}"


def test_wide_and_json_show_everything(stored, capsys):
    code, out, _ = run(capsys, "executions", "--wide", "--db", stored)
    assert code == 0
    assert CALL_ID in out
    assert "sf-open-aapl-stock" in out
    assert "implied_volatility" in out
    code, out, _ = run(capsys, "executions", "--json", "--db", stored)
    assert code == 0
    rows = {row["recommendation_id"]: row for row in json.loads(out)["executions"]}
    stock = rows[STOCK_ID]
    assert isinstance(stock["filled_avg_price"], str)
    assert Decimal(stock["filled_avg_price"]) == Decimal("229.14")
    assert rows[CALL_ID]["explain_json"]["selection"]["rejected"] == SELECTION["rejected"]


def test_a_refusal_is_explained_from_what_its_status_kept(stored, capsys):
    code, out, err = run(capsys, "explain", REFUSED_ID, "--db", stored)
    assert code == 0, err
    assert "rejected: size_position: DispatchRejected: risk: TSLA exposure over" in out
    assert "refused: TSLA exposure over 25000.00" in out
    assert "none was sent" in out
    code, out, _ = run(capsys, "explain", REFUSED_ID, "--json", "--db", stored)
    assert code == 0
    shown = json.loads(out)
    assert shown["recommendation"]["status"] == "rejected"
    assert shown["status_explain"]["risk"]["allowed"] is False
    assert shown["executions"] == []


def test_an_unknown_id_is_one_line_and_exit_1(stored, capsys):
    code, out, err = run(capsys, "explain", "sig-nothing-like-it", "--db", stored)
    assert code == 1
    assert out == ""
    assert err == "strikeflow explain: no recommendation 'sig-nothing-like-it'\n"


def test_a_tail_two_ids_share_is_refused_and_names_them(stored, capsys):
    engine = engine_for(stored)
    RecommendationRepository(engine).insert(recommendation("rec-one-7182"))
    dispose_all()
    code, _, err = run(capsys, "explain", "7182", "--db", stored)
    assert code == 1
    assert err.count("\n") == 1
    assert STOCK_ID in err
    assert "rec-one-7182" in err


def test_an_underscore_in_a_tail_is_not_a_wildcard(stored, capsys):
    engine = engine_for(stored)
    recs = RecommendationRepository(engine)
    recs.insert(replace(recommendation("rec-x_y9"), ticker="MSFT"))
    recs.insert(replace(recommendation("rec-xzy9"), ticker="NVDA"))
    dispose_all()
    code, out, err = run(capsys, "explain", "x_y9", "--db", stored)
    assert code == 0, err
    assert "rec-x_y9" in out
    assert "BUY MSFT" in out


def test_a_malformed_id_is_a_usage_error(stored, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["explain", "x%' OR 1=1 --", "--db", stored])
    assert usage.value.code == 2
    assert "not a recommendation id" in capsys.readouterr().err
