"""``strikeflow explain``'s rendering: the whole decision of one recommendation from what
the pipeline stored, in 120 columns, with every candidate's reasons; and the shapes of
id it takes. Against a real database: tests/integration/test_cli_explain.py."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from strikeflow.cli import main
from strikeflow.cli.explain import Decision, print_decision, recommendation_ref
from strikeflow.cli.tables import WIDTH
from strikeflow.domain.enums import Action, RecommendationStatus
from strikeflow.domain.working import WorkEnd, WorkingPolicy
from strikeflow.services.work_record import policy_json, step_json
from tests.hypothesis_profiles import examples
from tests.integration.record_factories import AT, option_execution, recommendation, stock_execution

REC_ID = "sig-20270415T1334Z-TSLA-c8e31ab7606e31506547"


def rejected(strike: str, *reasons: str) -> dict:
    return {"symbol": f"TSLA270423P00{strike}", "reasons": list(reasons)}


SELECTION = {
    "chosen": {
        "symbol": "TSLA270423P00350000",
        "strike": "350",
        "expiration": "2027-04-23",
        "bid": "11.15",
        "ask": "11.5",
        "volume": 0,
        "open_interest": 6486,
        "implied_vol": 0.6336,
        "delta": -0.4297,
        "greeks_source": "venue",
    },
    "policy": {
        "right": "P",
        "window": [7, 30],
        "strike": "|delta| 0.40±0.05",
        "liquidity": {
            "min_volume": 0,
            "min_open_interest": 500,
            "max_spread_pct": 0.1,
            "require_bid": True,
            "max_quote_age_s": 60.0,
        },
    },
    "spot": 354.02,
    "at": "2027-04-15T13:35:00+00:00",
    "candidates": 5,
    "rejected_counts": {"outside |delta| 0.40±0.05": 3, "spread > 10%": 1},
    "rejected": [
        rejected("320000", "|delta| 0.158 outside |delta| 0.40±0.05"),
        rejected("355000", "|delta| 0.489 outside |delta| 0.40±0.05"),
        rejected(
            "352500",
            "spread 14.2% of mid > 10%",
            "open interest 120 < 500 and the quote is a very long way from the money",
        ),
        rejected("400000", "|delta| 0.801 outside |delta| 0.40±0.05"),
    ],
}
EXPLAIN = {
    "selection": SELECTION,
    "sizing": {"describe": "15 × 1150.00 = 17250.00 of budget 18093.65"},
    "risk": {
        "allowed": True,
        "breaches": [],
        "reason": None,
        "open_positions": 0,
        "realized_loss_today": "0",
        "ticker_exposure": "17250.0000000000",
        "order_cost": "17250.00",
        "at": "2027-04-15T09:35:00-04:00",
    },
    "order": {"execution_mode": "PAPER", "broker": "alpaca", "broker_status": "accepted"},
}


def shown(decision: Decision, rows: int = 15) -> str:
    console = Console(width=WIDTH, record=True, file=io.StringIO())
    print_decision(console, decision, rows)
    lines = console.export_text().splitlines()
    # Cells, as a terminal shows them: a combining mark takes none, a wide glyph two.
    wide = [line for line in lines if cell_len(line.rstrip()) > WIDTH]
    assert not wide, wide
    return "\n".join(lines)


def executed() -> Decision:
    rec = replace(
        recommendation(REC_ID, ticker="TSLA", action="SELL", instrument_type="PUT"),
        status=RecommendationStatus.EXECUTED,
    )
    execution = option_execution(
        "sf-open-7b8ab95bcc4f135d77f42400b9d4c5bf",
        REC_ID,
        ticker="TSLA",
        instrument_type="PUT",
        option_symbol="TSLA270423P00350000",
        strike_price=Decimal("350.00"),
        contracts=15,
        filled_avg_price=Decimal("11.50"),
        delta=Decimal("-0.4297"),
        broker_order_id="324a701c-9d27-439a-99f9-39e0d5133046",
        explain_json=EXPLAIN,
    )
    return Decision(rec, None, [execution])


def test_the_whole_decision_reads_in_120_columns():
    text = shown(executed())
    for expected in (
        f"{REC_ID}: executed",
        "SELL TSLA PUT day",  # what was asked
        "volume surge with momentum",  # the signal's reason
        "puts 7-30 DTE, strike |delta| 0.40±0.05",
        "open interest ≥ 500",
        "spread ≤ 10%",
        "spot 354.02",
        "5 puts considered, 4 rejected: 3 outside |delta| 0.40±0.05, 1 spread > 10%",
        "chosen TSLA270423P00350000 ask 11.50, delta -0.430, IV 63.4% (Greeks: venue)",
        "spread 14.2% of mid > 10%",  # every reason a candidate failed
        "open interest 120 < 500",
        "15 × 1150.00 = 17250.00",
        "ticker exposure 17,250.00",  # money at cents, whatever the stored scale
        "sf-open-7b8ab95bcc4f135d77f42400b9d4c5bf",
        "324a701c-9d27-439a-99f9-39e0d5133046",
        "15 contracts, filled 15",
        "17,250.00 in all",
    ):
        assert expected in text, f"{expected!r} missing:\n{text}"
    assert "17250.0000000000" not in text


def test_the_rejected_listed_are_the_nearest_the_money_and_the_rest_counted():
    text = shown(executed(), rows=2)
    assert "TSLA270423P00355000" in text  # 0.98 from spot 354.02
    assert "TSLA270423P00352500" in text  # 1.52 from it
    assert "TSLA270423P00320000" not in text
    assert "TSLA270423P00400000" not in text
    assert "2 more: --rows 4 lists them all" in text


def test_a_refusal_before_any_order_is_explained_from_its_status():
    rec = replace(
        recommendation(REC_ID),
        status=RecommendationStatus.REJECTED,
        status_reason="rejected: strikeflow.size_position: DispatchRejected: risk: too much",
    )
    refusal = {
        **EXPLAIN,
        "risk": {
            **EXPLAIN["risk"],
            "allowed": False,
            "breaches": ["max_ticker_exposure"],
            "reason": "TSLA exposure 17250.00 + order 14220.00 exceeds the maximum 25000.00",
        },
    }
    text = shown(Decision(rec, refusal, []))
    assert "rejected: size_position: DispatchRejected: risk: too much" in text
    assert "refused: TSLA exposure 17250.00 + order 14220.00 exceeds" in text
    assert "none was sent" in text


def test_a_fallback_to_stock_says_why():
    rec = replace(
        recommendation(REC_ID),
        status=RecommendationStatus.FELL_BACK,
        status_reason="no eligible contract: 5 candidates, 5 rejected",
    )
    fallback = {
        "selection": {**SELECTION, "chosen": None},
        "fallback": {"reason": "no eligible contract: 5 candidates, 5 rejected"},
        "sizing": {"describe": "12 × 229.14 = 2749.68 of budget 2800.00"},
    }
    text = shown(Decision(rec, None, [stock_execution("sf-open-1", REC_ID, explain_json=fallback)]))
    assert "to stock: no eligible contract: 5 candidates, 5 rejected" in text
    assert "chosen" not in text
    assert "STOCK AAPL" in text


def test_an_odd_stored_document_still_prints():
    rec = recommendation(REC_ID)
    odd = {"selection": {"rejected": [{"symbol": "not-an-occ", "reasons": "one"}, 7]}, "risk": 3}
    text = shown(Decision(rec, odd, []))
    assert "not-an-occ" in text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["selection", "fallback", "sizing", "risk", "short", "refusal", "price_checks", "adopted"]
)
SELECTION_KEYS = st.sampled_from(
    ["chosen", "policy", "spot", "at", "candidates", "rejected_counts", "rejected"]
)


@settings(max_examples=examples(100))
@given(
    st.dictionaries(KEYS, JSON | st.dictionaries(SELECTION_KEYS, JSON), max_size=6),
    st.dictionaries(SELECTION_KEYS, JSON, max_size=7),
)
def test_any_stored_document_prints_without_an_error(document, selection):
    """A document of any shape (an older release's, a hand-edited row) prints what it can."""
    rec = recommendation(REC_ID)
    text = shown(Decision(rec, {**document, "selection": selection}, []))
    assert f"{REC_ID}: pending" in text


@pytest.mark.parametrize(
    ("given", "taken"),
    [
        (REC_ID, REC_ID),
        ("manual-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "manual-0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ("…31506547", "31506547"),  # copied from a table with its ellipsis
        ("...31506547", "31506547"),
        ("rec-aapl-1", "rec-aapl-1"),
    ],
)
def test_an_id_or_its_tail_is_taken(given, taken):
    assert recommendation_ref(given) == taken


@pytest.mark.parametrize("given", ["", "a b", "x" * 65, "rec;DROP", "rec'1", "…"])
def test_a_malformed_id_is_refused(given):
    with pytest.raises(argparse.ArgumentTypeError, match="not a recommendation id"):
        recommendation_ref(given)


def test_a_malformed_id_is_a_usage_error_before_any_read(capsys, monkeypatch):
    monkeypatch.setenv("STRIKEFLOW_DATABASE_URL", "sqlite:////nonexistent/never-opened.db")
    with pytest.raises(SystemExit) as usage:
        main(["explain", "a b"])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "not a recommendation id: 'a b'" in err
    assert "Traceback" not in err


def worked_decision() -> Decision:
    """A PUT entry worked from the mid (bid 11.00, ask 11.50) in three steps, filled at
    the second step's 11.30 (step 0 placed at the mid, then one replace)."""
    policy = WorkingPolicy(
        start_toward_far=Decimal("0"),
        steps=3,
        interval_s=10.0,
        final_toward_far=Decimal("0.8"),
        max_slippage_pct=Decimal("5"),
        hold_s=30.0,
        end=WorkEnd.CANCEL,
    )
    order = "sf-open-w0"
    placed = {"limit_price": Decimal("11.25")}
    work = {
        "policy": policy_json(policy),
        "decision": {"bid": "11.00", "ask": "11.50"},
        "client_order_id": "sf-open-w1",
        "replaces": 1,
        "steps": [
            step_json(0, placed["limit_price"], AT, order, "placed"),
            step_json(1, Decimal("11.30"), AT + timedelta(seconds=10), "sf-open-w1", "replaced"),
        ],
    }
    decision = executed()
    (execution,) = decision.executions
    worked = replace(
        execution,
        filled_avg_price=Decimal("11.30"),
        action=Action.BUY,
        explain_json={**EXPLAIN, "work": work},
    )
    return replace(decision, executions=[worked])


def test_a_worked_order_shows_its_ladder_and_what_the_fill_kept():
    text = shown(worked_decision())
    for expected in (
        "worked",
        "bid 11.00, ask 11.50 at decision",
        "from 0.0% toward the far side to 80.0% in 3 steps of 10.0 s, hold 30.0 s, then cancel",
        "limit 11.25: placed (sf-open-w0)",
        "limit 11.30: replaced (sf-open-w1)",
        "replaces",
        # (11.50 - 11.30) x 15 contracts x 100 kept; 0.20 of a 0.25 half-spread
        "300.00 against the far side (80.0% of the half-spread)",
        # (11.30 - 11.25) x 15 x 100 paid against the mid
        "75.00 paid against the mid",
    ):
        assert expected in text, (expected, text)


def test_an_order_not_worked_shows_no_ladder():
    text = shown(executed())
    assert "at decision" not in text
    assert "replaces" not in text
