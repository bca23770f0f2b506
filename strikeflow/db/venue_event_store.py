"""The venue-event service's store: the activities already read, and what they recorded.

One activity is recorded in one transaction: its recommendations (already settled), its
executions, and its row in ``venue_activities_seen``. Two workers reading the same
activity at once both try; the second's insert of the seen row conflicts, its whole
transaction rolls back, and it reports the activity as seen: what the venue did is
recorded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from strikeflow.db.dispatch_store import SqlDispatchStore, _reachable
from strikeflow.db.tables import dispatch_executions, recommendations, venue_activities_seen
from strikeflow.domain.records import Execution
from strikeflow.domain.venue_activity import VenueRecord


class SqlVenueEventStore(SqlDispatchStore):
    """Implements ``services.venue_events.VenueEventStore``: the entry reads closing
    uses (inherited), the activities seen, and one activity's records at once."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._engine = engine

    @_reachable
    def seen_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        c = venue_activities_seen.c
        with self._engine.connect() as conn:
            return set(conn.scalars(select(c.id).where(c.id.in_(list(ids)))))

    @_reachable
    def last_seen_at(self) -> datetime | None:
        with self._engine.connect() as conn:
            return conn.scalar(select(func.max(venue_activities_seen.c.occurred_at)))

    @_reachable
    def owns_order(self, broker_order_id: str) -> bool:
        c = dispatch_executions.c
        query = select(c.id).where(c.broker_order_id == broker_order_id).limit(1)
        with self._engine.connect() as conn:
            return conn.scalar(query) is not None

    @_reachable
    def record_event(self, record: VenueRecord, processed_at: datetime) -> list[Execution]:
        """Write ``record`` whole, or nothing when its activity is seen already (then [])."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        executions = self.executions
        stored: list[Execution] = []
        try:
            with self._engine.connect() as conn, conn.begin():
                for rec, execution in record.rows:
                    values = {f.name: getattr(rec, f.name) for f in fields(rec)}
                    conn.execute(
                        dialect.insert(recommendations).on_conflict_do_nothing(
                            index_elements=["id"]
                        ),
                        values,
                    )
                    row, _ = executions.insert_in(conn, execution)
                    stored.append(row)
                conn.execute(
                    venue_activities_seen.insert(),
                    {
                        "id": record.activity.id,
                        "activity_type": record.activity.kind,
                        "occurred_at": record.activity.at,
                        "processed_at": processed_at,
                        "recorded": record.note,
                        "execution_ids": [e.id for e in stored],
                    },
                )
        except IntegrityError:
            if self.seen_ids([record.activity.id]):
                return []
            raise
        return stored
