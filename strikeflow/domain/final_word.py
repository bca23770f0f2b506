"""The venue's final word on an order, as the recommendation's terminal state and reason.

A recommendation is settled when its order is placed (``executed`` once the venue
accepts it), but the order lives on at the venue: a limit entry may expire unfilled at
the close, be canceled (by us, after resting too long, or by the venue), or be rejected
after acceptance. Once the order is final, what filled decides:

- everything: ``executed``, no reason needed;
- part of it: ``executed``, for what filled ("3 of 5 filled; the rest expired");
- nothing: ``unfilled`` ("order expired at the close with 0 of 5 filled").

``unfilled`` is the one state a settled recommendation (``executed``, ``fell_back``)
may still become: the correction the venue's final word makes (``db.repositories``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.position_book import quantity_text

# How the venue's word for a final, not (wholly) filled order reads in a reason: the
# phrase after "order ..." and the one after "the rest ...".
ENDED = {
    "expired": ("expired at the close", "expired"),
    "canceled": ("canceled", "canceled"),
    "replaced": ("replaced", "replaced"),
    "rejected": ("rejected after it was accepted", "rejected"),
    "suspended": ("suspended", "suspended"),
    "failed": ("failed", "failed"),
}
# The explain key under which a cancel we asked for keeps its cause ("after resting
# 5 min 00 s"), so the final word names it however the cancel's answer arrives.
CANCEL_KEY = "cancel"


@dataclass(frozen=True, slots=True)
class FinalWord:
    """The recommendation's state once its order is final, and why (None: nothing to add)."""

    status: RecommendationStatus
    reason: str | None


quantity = quantity_text  # ``5`` rather than ``5.000000`` (NUMERIC(18, 6) as stored)


def final_word(order: BrokerOrder, cancel_cause: str | None = None) -> FinalWord | None:
    """What the order's final state says of its recommendation; None while it is open.

    ``cancel_cause`` is why we asked the venue to cancel it (``stale_entries``): an
    order that then ends canceled says so rather than the bare "canceled"."""
    if order.is_open:
        return None
    filled, qty = order.filled_qty or Decimal(0), order.qty
    if order.status is ExecutionStatus.FILLED or filled >= qty:
        return FinalWord(RecommendationStatus.EXECUTED, None)
    word = (order.broker_status or order.status.value).lower()
    whole, rest = ENDED.get(word, (word, word))
    ours = order.status is ExecutionStatus.CANCELED and word == "canceled"
    asked = cancel_cause if ours else None
    if filled > 0:
        rest = f"canceled {asked}" if asked else rest
        return FinalWord(
            RecommendationStatus.EXECUTED,
            f"{quantity(filled)} of {quantity(qty)} filled; the rest {rest}",
        )
    if asked:
        reason = f"canceled {asked} unfilled (0 of {quantity(qty)} filled)"
    else:
        reason = f"order {whole} with 0 of {quantity(qty)} filled"
    return FinalWord(RecommendationStatus.UNFILLED, reason)


# The settled states the venue's final word may still correct: an order was placed.
CORRECTABLE = frozenset({RecommendationStatus.EXECUTED, RecommendationStatus.FELL_BACK})


def settled(
    current: RecommendationStatus, current_reason: str | None, word: FinalWord
) -> tuple[RecommendationStatus, str | None] | None:
    """The recommendation's (status, reason) once ``word`` is heard; None: unchanged.

    Not yet terminal: the word's state. ``executed`` or ``fell_back``: ``unfilled`` when
    nothing filled (the one overwrite of a terminal state), else the same state with the
    word's reason added to any it had ("fell back: …; 3 of 5 filled; the rest expired").
    Any other terminal state (rejected, failed, unfilled) stays as it is. Hearing the
    same word twice changes nothing the second time."""
    if not current.terminal:
        return word.status, word.reason
    if current not in CORRECTABLE:
        return None
    if word.status is RecommendationStatus.UNFILLED:
        return word.status, word.reason
    if word.reason is None or (current_reason and word.reason in current_reason):
        return None
    return current, word.reason if not current_reason else f"{current_reason}; {word.reason}"
