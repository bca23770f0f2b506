"""The order of an execution's and a recommendation's states (``domain.lifecycle``), as
tables: every pair of states, and the fills that may or may not be written over."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus
from strikeflow.domain.lifecycle import (
    execution_may_become,
    execution_predecessors,
    recommendation_may_become,
    recommendation_predecessors,
)

E = ExecutionStatus
R = RecommendationStatus
SUB, ACC, PART, FILL = E.SUBMITTED, E.ACCEPTED, E.PARTIALLY_FILLED, E.FILLED
CAN, REJ, FAIL, REPL = E.CANCELED, E.REJECTED, E.FAILED, E.REPLACED
FINAL = (FILL, CAN, REJ, FAIL, REPL)

# stored → the reports that may be written over it (fills aside)
EXECUTION_FORWARD = {
    SUB: {SUB, ACC, PART, *FINAL},
    ACC: {ACC, PART, *FINAL},
    PART: {PART, *FINAL},
    FILL: {FILL},
    CAN: {CAN},
    REJ: {REJ},
    FAIL: {FAIL},
    REPL: {REPL},
}


@pytest.mark.parametrize("stored", list(E))
@pytest.mark.parametrize("reported", list(E))
def test_an_execution_moves_only_forward(stored, reported):
    allowed = reported in EXECUTION_FORWARD[stored]
    assert execution_may_become(stored, None, reported, None) is allowed
    assert (stored in execution_predecessors(reported)) is allowed


@pytest.mark.parametrize(
    ("stored", "stored_filled", "reported", "reported_filled", "allowed"),
    [
        (PART, Decimal(2), PART, Decimal(3), True),  # more fills, same state
        (PART, Decimal(3), PART, Decimal(3), True),  # a repeat
        (PART, Decimal(3), PART, Decimal(2), False),  # fewer fills: stale
        (PART, Decimal(3), CAN, Decimal(0), False),  # final, but fewer fills
        (PART, Decimal(3), CAN, Decimal(3), True),  # the rest canceled
        (PART, Decimal(3), FILL, Decimal(5), True),
        (FILL, Decimal(5), ACC, Decimal(0), False),  # the stale "accepted" after "filled"
        (FILL, Decimal(5), FILL, Decimal(5), True),
        (ACC, None, PART, Decimal(1), True),  # no fill stored reads as 0
        (ACC, None, ACC, Decimal(0), True),
        (ACC, Decimal(1), ACC, None, True),  # no fill figure reported: fills untouched
        (FILL, Decimal(5), CAN, Decimal(5), False),  # one final state never becomes another
    ],
)
def test_filled_qty_never_decreases(stored, stored_filled, reported, reported_filled, allowed):
    assert execution_may_become(stored, stored_filled, reported, reported_filled) is allowed


# stored → the states set_status may write over it
RECOMMENDATION_FORWARD = {
    R.PENDING: {R.PENDING, R.DISPATCHED, R.EXECUTED, R.FELL_BACK, R.REJECTED, R.FAILED, R.UNFILLED},
    R.DISPATCHED: {R.DISPATCHED, R.EXECUTED, R.FELL_BACK, R.REJECTED, R.FAILED, R.UNFILLED},
    R.EXECUTED: {R.UNFILLED},  # the venue's final word: nothing filled
    R.FELL_BACK: {R.UNFILLED},
    R.REJECTED: set(),
    R.FAILED: set(),
    R.UNFILLED: set(),
}


@pytest.mark.parametrize("stored", list(R))
@pytest.mark.parametrize("new", list(R))
def test_a_recommendation_never_leaves_a_final_state_but_by_the_correction(stored, new):
    allowed = new in RECOMMENDATION_FORWARD[stored]
    assert recommendation_may_become(stored, new) is allowed
    # set_status never makes the correction (settle does, on the venue's final word)
    assert (stored in recommendation_predecessors(new)) is (allowed and not stored.terminal)
