"""What closing needs from the database beyond the dispatch steps' port.

``ClosingStore`` is read by the closing steps and reconciliation (the dispatch store
implements it beside ``DispatchStore``); ``EntryReads`` and ``CloseRequests`` are what a
close is requested through (the shell's ``close``, the ``strikeflow.close`` task, the
exits): the entries held and the closes already asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.records import Execution, Recommendation


@runtime_checkable
class EntryReads(Protocol):
    def execution_by_id(self, execution_id: int) -> Execution | None: ...

    def closes_of(self, entry_execution_id: int) -> list[Execution]:
        """The CLOSE executions linked to the entry, oldest first."""
        ...

    def open_entries(self, symbol: str) -> list[Execution]:
        """OPEN executions with a fill whose ticker or option symbol is ``symbol``,
        oldest first (what their closes filled is not subtracted here)."""
        ...


@runtime_checkable
class ClosingStore(EntryReads, Protocol):
    def set_realized_pnl(self, execution_id: int, pnl: Decimal) -> None:
        """The realized P&L of a close, once its fill is known (again after more fills)."""
        ...


class CloseRequests(Protocol):
    """The recommendations a close is stored as."""

    def insert(self, rec: Recommendation) -> tuple[Recommendation, bool]: ...

    def get(self, rec_id: str) -> Recommendation | None: ...

    def set_status(
        self,
        recommendation_id: str,
        status: RecommendationStatus,
        reason: str | None = None,
        explain: Mapping[str, Any] | None = None,
    ) -> bool: ...

    def starting_with(self, prefix: str, limit: int = 1_000) -> list[Recommendation]:
        """Recommendations whose id starts with ``prefix`` (taken literally), by id."""
        ...


def closing_store(store: object) -> ClosingStore:
    """``store`` as a ClosingStore, or InvalidPolicy naming what it lacks."""
    if not isinstance(store, ClosingStore):
        raise InvalidPolicy(f"{type(store).__name__} cannot record closes (no ClosingStore)")
    return store
