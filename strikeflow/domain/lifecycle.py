"""Rows only move forward: the order of an execution's states and of a recommendation's.

At-least-once delivery means a stale copy of a step can arrive after a newer one (a worker
stopped while it held the venue's ``accepted`` reply, resumed after another worker stored
``filled``). Every write of a row's state is therefore a compare-and-set against these
orders (``db.repositories``): a report is written only when it is not behind what is stored.

An execution (the venue's order, ``ExecutionStatus``; Alpaca's ``pending_new`` is
``submitted``, ``new``/``accepted``/``held``... are ``accepted``, ``expired`` is ``canceled``,
``replaced`` is ``replaced``, ``suspended`` is ``rejected``)::

    submitted → accepted → partially_filled → filled | canceled | rejected | failed | replaced

A final state is never left, not even for another final state, and ``filled_qty`` never
decreases (a partly filled order reports more fills in the same state).

A recommendation (``RecommendationStatus``)::

    pending → dispatched → executed | fell_back | rejected | failed | unfilled

with one correction of a final state: ``executed`` or ``fell_back`` become ``unfilled``
when the venue's final word says nothing filled (``domain.final_word``).
"""

from __future__ import annotations

from decimal import Decimal

from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus

# How far along its life an order is: a later rank is newer.
EXECUTION_RANK: dict[ExecutionStatus, int] = {
    ExecutionStatus.SUBMITTED: 0,
    ExecutionStatus.ACCEPTED: 1,
    ExecutionStatus.PARTIALLY_FILLED: 2,
    ExecutionStatus.FILLED: 3,
    ExecutionStatus.CANCELED: 3,
    ExecutionStatus.REJECTED: 3,
    ExecutionStatus.FAILED: 3,
    ExecutionStatus.REPLACED: 3,
}
FINAL_RANK = max(EXECUTION_RANK.values())

RECOMMENDATION_RANK: dict[RecommendationStatus, int] = {
    RecommendationStatus.PENDING: 0,
    RecommendationStatus.DISPATCHED: 1,
    **{s: 2 for s in RecommendationStatus if s.terminal},
}
# The one correction of a final state (``domain.final_word``).
CORRECTIONS = frozenset(
    {
        (RecommendationStatus.EXECUTED, RecommendationStatus.UNFILLED),
        (RecommendationStatus.FELL_BACK, RecommendationStatus.UNFILLED),
    }
)


def execution_may_become(
    stored: ExecutionStatus,
    stored_filled: Decimal | None,
    reported: ExecutionStatus,
    reported_filled: Decimal | None,
) -> bool:
    """Whether a report (``reported``, ``reported_filled``; None: no fill figure) may be
    written over the stored state: it is a later state, or the same one, and it does not
    report fewer fills. Repeating what is stored is allowed (it changes nothing)."""
    stored, reported = ExecutionStatus(stored), ExecutionStatus(reported)
    later = EXECUTION_RANK[reported] > EXECUTION_RANK[stored]
    if not (later or reported is stored):
        return False
    if reported_filled is None:
        return True
    return reported_filled >= (stored_filled or Decimal(0))


def execution_predecessors(reported: ExecutionStatus) -> frozenset[ExecutionStatus]:
    """The stored states a report of ``reported`` may replace (fills aside): what the
    database's compare-and-set admits."""
    reported = ExecutionStatus(reported)
    return frozenset(
        s for s in ExecutionStatus if s is reported or EXECUTION_RANK[s] < EXECUTION_RANK[reported]
    )


def recommendation_may_become(stored: RecommendationStatus, new: RecommendationStatus) -> bool:
    """Whether a recommendation in ``stored`` may be set to ``new``: forward while in
    flight (a repeat of a state in flight is allowed: a re-driven chain marks it
    dispatched again), never out of a final state but by the one correction."""
    stored, new = RecommendationStatus(stored), RecommendationStatus(new)
    if (stored, new) in CORRECTIONS:
        return True
    if stored.terminal:
        return False
    return RECOMMENDATION_RANK[new] > RECOMMENDATION_RANK[stored] or new is stored


def recommendation_predecessors(new: RecommendationStatus) -> frozenset[RecommendationStatus]:
    """The stored states ``set_status`` may move to ``new`` (the correction is ``settle``'s
    alone: it needs the venue's final word, not a step's say-so)."""
    new = RecommendationStatus(new)
    return frozenset(
        s for s in RecommendationStatus if not s.terminal and recommendation_may_become(s, new)
    )
