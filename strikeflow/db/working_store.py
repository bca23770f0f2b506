"""What working an order writes on its execution row (``services.ports.WorkingStore``).

The row of a worked entry keeps its own client_order_id (everything finds an entry by
it: submit_order's guard, the explanation, closes, recovery) and follows the venue's
replace chain: its ``broker_order_id`` is the latest order's, its ``premium_paid`` the
latest limit until a fill, ``replaces`` how many replaces it took, and
``explain_json["work"]`` the ladder (every step's price, time, client_order_id and
outcome) and the latest step's client_order_id, by which reconciliation reads it.

Each write locks the row, reads its explain and writes it back whole, as ``note_cancel``
does, so a cancel's cause and a step never overwrite each other; a step is written only
forward (``replaces`` above the stored count), so a step delivered twice writes once.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from strikeflow.db.dispatch_store import SqlDispatchStore, _reachable
from strikeflow.db.repositories import Repository
from strikeflow.db.tables import dispatch_executions
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.records import utcnow

WORK_KEY = "work"
MAX_STEPS_KEPT = 64  # a ladder has at most 20 steps; a bound on a row's explain all the same


class WorkRepository(Repository):
    def record_work_step(
        self,
        client_order_id: str,
        step: Mapping[str, Any],
        broker_order_id: str | None = None,
        limit_price: Decimal | None = None,
        replaces: int | None = None,
    ) -> bool:
        c = dispatch_executions.c
        with self._transaction() as conn:
            row = _locked(conn, client_order_id)
            explain = dict(row.explain_json or {})
            work = dict(explain.get(WORK_KEY) or {})
            changes: dict[str, Any] = {}
            if replaces is not None:
                if replaces <= (row.replaces or 0):
                    return False
                changes["replaces"] = replaces
                work["replaces"] = replaces
                work["client_order_id"] = step.get("client_order_id")
                if broker_order_id:
                    changes["broker_order_id"] = broker_order_id
                if limit_price is not None and not row.filled_qty:
                    changes["premium_paid"] = limit_price
            work["steps"] = [*work.get("steps", ()), dict(step)][-MAX_STEPS_KEPT:]
            explain[WORK_KEY] = work
            changes |= {"explain_json": explain, "updated_at": utcnow()}
            conn.execute(update(dispatch_executions).where(c.id == row.id).values(**changes))
            return True

    def record_work_figures(self, client_order_id: str, figures: Mapping[str, Any]) -> None:
        c = dispatch_executions.c
        columns = ("improvement", "improvement_of_half_spread", "slippage_vs_mid")
        with self._transaction() as conn:
            row = _locked(conn, client_order_id)
            explain = dict(row.explain_json or {})
            work = dict(explain.get(WORK_KEY) or {})
            work["fill"] = {k: None if v is None else str(v) for k, v in figures.items()}
            explain[WORK_KEY] = work
            values = {name: figures.get(name) for name in columns}
            statement = (
                update(dispatch_executions)
                .where(c.id == row.id)
                .values(**values, explain_json=explain, updated_at=utcnow())
            )
            conn.execute(statement)

    def work_columns(self, client_order_id: str) -> dict[str, Any] | None:
        """The row's work columns (tests and reports read them)."""
        c = dispatch_executions.c
        query = select(
            c.replaces, c.improvement, c.improvement_of_half_spread, c.slippage_vs_mid
        ).where(c.client_order_id == client_order_id)
        with self._reads.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else dict(row._mapping)


def _locked(conn: Connection, client_order_id: str):
    c = dispatch_executions.c
    read = (
        select(c.id, c.explain_json, c.filled_qty, func.coalesce(c.replaces, 0).label("replaces"))
        .where(c.client_order_id == client_order_id)
        .with_for_update()
    )
    row = conn.execute(read).one_or_none()
    if row is None:
        raise InvalidRecord("client_order_id", f"no execution {client_order_id!r}")
    return row


class SqlWorkingDispatchStore(SqlDispatchStore):
    """The dispatch store that also records worked orders (``WorkingStore``): what the
    composition root builds, so that the steps, reconciliation and the work steps
    share one store."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.work = WorkRepository(engine)

    @_reachable
    def record_work_step(
        self,
        client_order_id: str,
        step: Mapping[str, Any],
        broker_order_id: str | None = None,
        limit_price: Decimal | None = None,
        replaces: int | None = None,
    ) -> bool:
        return self.work.record_work_step(
            client_order_id, step, broker_order_id, limit_price, replaces
        )

    @_reachable
    def record_work_figures(self, client_order_id: str, figures: Mapping[str, Any]) -> None:
        self.work.record_work_figures(client_order_id, figures)

    @_reachable
    def work_columns(self, client_order_id: str) -> dict[str, Any] | None:
        return self.work.work_columns(client_order_id)
