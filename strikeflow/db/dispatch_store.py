"""The DispatchStore port over the repositories: what the dispatch steps read and write."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.domain.claims import ClaimRefused, CloseClaims
from strikeflow.domain.enums import ExecutionStatus, RecommendationStatus
from strikeflow.domain.errors import StoreUnavailable
from strikeflow.domain.expiry import trading_date
from strikeflow.domain.final_word import FinalWord
from strikeflow.domain.money import CENT
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.risk import OpenExposure, open_exposure
from strikeflow.services.ports import OrderGuard

F = TypeVar("F", bound=Callable[..., Any])


def _reachable(method: F) -> F:
    """A database that cannot be reached is StoreUnavailable (the tasks retry it); a
    refused value stays the InvalidRecord the repositories raise."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (OperationalError, InterfaceError) as down:
            detail = str(down.orig if down.orig is not None else down).strip().splitlines()
            raise StoreUnavailable(method.__name__, detail[0] if detail else "") from None

    return call  # type: ignore[return-value]


class SqlDispatchStore:
    """Implements ``services.ports.DispatchStore`` and ``services.closing_ports.
    ClosingStore``; every write is idempotent, and every call that cannot reach the
    database raises StoreUnavailable."""

    def __init__(self, engine: Engine) -> None:
        self.recommendations = RecommendationRepository(engine)
        self.executions = ExecutionRepository(engine)

    @_reachable
    def get_recommendation(self, recommendation_id: str) -> Recommendation | None:
        return self.recommendations.get(recommendation_id)

    @_reachable
    def set_status(
        self,
        recommendation_id: str,
        status: RecommendationStatus,
        reason: str | None = None,
        explain: Mapping[str, Any] | None = None,
    ) -> bool:
        return self.recommendations.set_status(recommendation_id, status, reason, explain=explain)

    @_reachable
    def record_selection(self, recommendation_id: str, report: Mapping[str, Any]) -> None:
        self.recommendations.record_selection(recommendation_id, report)

    @_reachable
    def record_outcome(
        self, execution: Execution, status: RecommendationStatus, reason: str | None = None
    ) -> tuple[Execution, bool]:
        return self.executions.insert_with_status(execution, status, reason)

    @_reachable
    def execution_by_client_order_id(self, client_order_id: str) -> Execution | None:
        return self.executions.by_client_order_id(client_order_id)

    @_reachable
    def record_decision(
        self, recommendation_id: str, decision: Mapping[str, str]
    ) -> bool | ClaimRefused:
        return self.executions.record_decision(recommendation_id, decision)

    @_reachable
    def close_claims(self, entry_execution_id: int, excluding: str = "") -> CloseClaims | None:
        return self.executions.close_claims(entry_execution_id, excluding)

    @_reachable
    def order_guard(self, recommendation_id: str, client_order_id: str) -> OrderGuard:
        return self.executions.with_recommendation_status(recommendation_id, client_order_id)

    @_reachable
    def unfinished_executions(self, limit: int = 500) -> list[Execution]:
        return self.executions.unfinished(limit)

    @_reachable
    def record_fill(
        self,
        client_order_id: str,
        status: ExecutionStatus,
        filled_qty: Decimal | None = None,
        filled_avg_price: Decimal | None = None,
        filled_at: datetime | None = None,
        broker_order_id: str | None = None,
    ) -> Execution:
        """The venue's report, unless it is behind the stored row (then the stored row,
        unchanged); an option row's premium_paid becomes its fill price, as stored."""
        stored = self.executions.record_fill(
            client_order_id, status, filled_qty, filled_avg_price, filled_at, broker_order_id
        )
        price = stored.filled_avg_price
        if stored.option_symbol and price is not None and stored.filled_qty:
            premium = price.quantize(CENT, ROUND_HALF_EVEN)
            if premium != stored.premium_paid:
                self.executions.set_premium_paid(client_order_id, premium)
                stored = self.executions.by_client_order_id(client_order_id) or stored
        return stored

    @_reachable
    def settle_recommendation(self, recommendation_id: str, word: FinalWord) -> bool:
        return self.recommendations.settle(recommendation_id, word)

    @_reachable
    def note_cancel(self, client_order_id: str, cause: str, at: datetime) -> bool:
        return self.executions.note_cancel(client_order_id, cause, at)

    @_reachable
    def execution_by_id(self, execution_id: int) -> Execution | None:
        return self.executions.execution_by_id(execution_id)

    @_reachable
    def closes_of(self, entry_execution_id: int) -> list[Execution]:
        return self.executions.closes_of(entry_execution_id)

    @_reachable
    def open_entries(self, symbol: str) -> list[Execution]:
        return self.executions.open_entries(symbol)

    @_reachable
    def set_realized_pnl(self, execution_id: int, pnl: Decimal) -> None:
        self.executions.set_realized_pnl(execution_id, pnl)

    @_reachable
    def risk_state(self, now: datetime) -> tuple[OpenExposure, Decimal]:
        entries, realized = self.executions.risk_reads(trading_date(now))  # closed left out
        return open_exposure(entries, now), Decimal(0) - realized
