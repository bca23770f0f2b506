"""Recommendations by outcome: the statuses a waiting caller polls (the demo's day) and
the ones that did not trade as asked (its report). Implements
``services.query_ports.OutcomeRecords``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from strikeflow.db.repositories import Repository
from strikeflow.db.tables import recommendations
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.services.query_ports import StoredOutcome


class OutcomeQueries(Repository):
    def statuses_of(self, ids: Sequence[str]) -> dict[str, str]:
        c = recommendations.c
        query = select(c.id, c.status).where(c.id.in_(list(ids)))
        with self._reads.connect() as conn:
            return {row.id: row.status for row in conn.execute(query)}

    def with_status(self, statuses: Sequence[RecommendationStatus]) -> list[StoredOutcome]:
        c = recommendations.c
        query = (
            select(c.created_at, c.ticker, c.instrument_type, c.strategy_type, c.status)
            .add_columns(c.status_reason)
            .where(c.status.in_([RecommendationStatus(s).value for s in statuses]))
            .order_by(c.created_at, c.id)
        )
        with self._reads.connect() as conn:
            return [
                StoredOutcome(
                    row.created_at,
                    row.ticker,
                    row.instrument_type,
                    row.strategy_type,
                    row.status,
                    row.status_reason,
                )
                for row in conn.execute(query)
            ]
