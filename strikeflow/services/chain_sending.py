"""Sending a recommendation's chain, and marking it dispatched: one order, for every sender.

The entry task, the scan, the shell's ``signal`` and recovery all send chains. Each sends
first and marks DISPATCHED after: a chain sent but never marked stays pending, where
``strikeflow recover`` finds it and sends it again (harmless: the client_order_id and the
upsert make a duplicate chain a no-op); a mark without a chain could not be told apart
from a chain in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.records import Recommendation
from strikeflow.services.manual_signal import manual_recommendation_from, stored_recommendation_id

Sent = TypeVar("Sent")


class StatusWriter(Protocol):
    def set_status(self, recommendation_id: str, status: RecommendationStatus) -> object: ...


class RecommendationBook(StatusWriter, Protocol):
    def insert(self, rec: Recommendation) -> tuple[Recommendation, bool]: ...

    def get(self, rec_id: str) -> Recommendation | None: ...


def send_and_mark(
    store: StatusWriter, send_chain: Callable[[str], Sent], recommendation_id: str
) -> Sent:
    """Send the chain of ``recommendation_id``, then mark it dispatched; what the sender
    returned (the chain's AsyncResult, for Celery)."""
    sent = send_chain(recommendation_id)
    store.set_status(recommendation_id, RecommendationStatus.DISPATCHED)
    return sent


def enter(
    store: RecommendationBook,
    send_chain: Callable[[str], Any],
    recommendation_id: str | None,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """The entry point's work: send the chain of a stored recommendation, or of a manual
    one stored first from ``fields`` (ticker, action, instrument, strategy, confidence,
    reason).

    A recommendation already terminal is not sent again; one already dispatched is
    (a duplicate chain is harmless: the client_order_id and the upsert make it so).
    """
    if recommendation_id is None:
        rec, _ = store.insert(manual_recommendation_from(dict(fields)))
    else:
        if fields:
            raise InvalidRecord(
                "fields", "give a recommendation_id or a new one's fields, not both"
            )
        rec = store.get(stored_recommendation_id(recommendation_id))
        if rec is None:
            raise InvalidRecord(
                "recommendation_id", f"names no stored recommendation: {recommendation_id!r}"
            )
    if rec.status.terminal:
        return {"recommendation_id": rec.id, "status": rec.status.value, "sent": False}
    sent = send_and_mark(store, send_chain, rec.id)
    chain_id = getattr(sent, "id", None)
    return {"recommendation_id": rec.id, "status": "dispatched", "sent": True, "chain": chain_id}
