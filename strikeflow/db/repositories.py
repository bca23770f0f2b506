"""Repositories: recommendations and executions in, domain records out, each exactly once.

Inserts are idempotent on their natural keys (the recommendation id, the client_order_id)
through INSERT … ON CONFLICT DO NOTHING on both dialects, so a Celery task delivered twice
finds the row its first delivery wrote instead of failing or duplicating it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache, cached_property, lru_cache
from typing import Any, get_type_hints

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from strikeflow.db.engine import reader_for
from strikeflow.db.tables import dispatch_executions, recommendations
from strikeflow.domain.claims import (
    ClaimRefused,
    CloseClaims,
    CloseOrder,
    DecidedClose,
    close_claims,
)
from strikeflow.domain.enums import ExecutionStatus, PositionEffect, RecommendationStatus
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.expiry import trading_date
from strikeflow.domain.final_word import CANCEL_KEY, FinalWord, settled
from strikeflow.domain.lifecycle import execution_predecessors, recommendation_predecessors
from strikeflow.domain.orders import OPEN_STATUSES
from strikeflow.domain.records import MAX_TEXT, Execution, Recommendation, utcnow
from strikeflow.domain.risk import HOLDING_STATUSES, HeldEntry
from strikeflow.services.ports import OrderGuard

_EXECUTION_FIELDS = tuple(f.name for f in fields(Execution))
_RECOMMENDATION_FIELDS = tuple(f.name for f in fields(Recommendation))
_ACTIVE = sorted(s.value for s in RecommendationStatus if not s.terminal)
_UNFINISHED = sorted(s.value for s in OPEN_STATUSES)
_HOLDING = sorted(s.value for s in HOLDING_STATUSES)
# HeldEntry's columns; ``closed_qty`` is computed from the closes (``_risk_reads_query``).
_HELD_ENTRY_COLUMNS = tuple(
    f.name for f in fields(HeldEntry) if f.name not in ("explain_json", "closed_qty")
)
# Its enum columns, from its own annotations: the text the database returns becomes these.
_HELD_ENTRY_ENUMS = {
    name: kind
    for name, kind in get_type_hints(HeldEntry).items()
    if isinstance(kind, type) and issubclass(kind, Enum)
}

# Constraint names (see tables.py and the migrations) → the field a user must fix.
_CONSTRAINT_FIELDS = {
    "ck_dispatch_executions_option_fields": "strike_price/expiration_date/option_symbol/contracts",
    "ck_dispatch_executions_instrument_type": "instrument_type",
    "ck_dispatch_executions_quantity": "quantity",
    "fk_dispatch_executions_recommendation_id_recommendations": "recommendation_id",
    "fk_dispatch_executions_closes_execution_id_dispatch_executions": "closes_execution_id",
    "FOREIGN KEY constraint failed": "recommendation_id/closes_execution_id",
}

# The statements every chain runs, built once: building and hashing a statement costs
# more CPU than PostgreSQL spends running one of these, and a chain runs several.
_SELECTION_UPDATE = (
    update(recommendations)
    .where(recommendations.c.id == bindparam("rec_id"))
    .values(selection=bindparam("report"))
)
_SELECTION_UPDATE_PG = (
    "SET LOCAL synchronous_commit = off;"
    " UPDATE recommendations SET selection = %s::jsonb WHERE id = %s"
)
_REC_BY_ID = select(recommendations).where(recommendations.c.id == bindparam("rec_id"))
_EXECUTION_BY_COID = select(dispatch_executions).where(
    dispatch_executions.c.client_order_id == bindparam("client_order_id")
)


def _one_row():
    """A constant one-row table: left-join rows to it, and a read that finds none still
    returns a row (of NULLs) to carry its scalar subqueries."""
    return select(literal(1).label("one")).subquery("one")


# Revision 0011's column, ``recommendations.sized_order``: the order a sizing step
# decided (``services.dispatch_steps.decision_of``), as submit_order compares it.
_DECISIONS = recommendations
_DECISION_UPDATE = (
    update(_DECISIONS)
    .where(_DECISIONS.c.id == bindparam("rec_id"), _DECISIONS.c.status.in_(_ACTIVE))
    .values(sized_order=bindparam("decision"), updated_at=bindparam("now"))
)

# One row always: the status and the decision as scalar subqueries, the execution
# left-joined to one row.
_STATUS_AND_EXECUTION = select(
    select(recommendations.c.status)
    .where(recommendations.c.id == bindparam("rec_id"))
    .scalar_subquery()
    .label("recommendation_status"),
    select(_DECISIONS.c.sized_order)
    .where(_DECISIONS.c.id == bindparam("rec_id"))
    .scalar_subquery()
    .label("sized_order"),
    *dispatch_executions.c,
).select_from(
    _one_row().outerjoin(
        dispatch_executions,
        dispatch_executions.c.client_order_id == bindparam("client_order_id"),
    )
)
_REALIZED_ON = select(func.sum(dispatch_executions.c.realized_pnl)).where(
    dispatch_executions.c.trading_day == bindparam("day"),
    dispatch_executions.c.realized_pnl.is_not(None),
)


# What claims an entry (``domain.claims``), in one statement so that a close persisted
# meanwhile counts once, as its decision or as its row: the entry's row, its close
# executions, and the decisions in flight closing it that have no execution row yet;
# those of the recommendation ``own`` left out.
_LOCK_ENTRY = (
    select(dispatch_executions.c.id)
    .where(dispatch_executions.c.id == bindparam("entry_id"))
    .with_for_update(key_share=True)
)


@cache
def _claims_query():
    c, r = dispatch_executions.c, recommendations.c
    recorded = dispatch_executions.alias("recorded")
    no_text = cast(null(), Text)
    entry = select(
        literal("entry").label("kind"),
        c.recommendation_id,
        c.status,
        c.quantity,
        c.filled_qty,
        no_text.label("decided_qty"),
    ).where(c.id == bindparam("entry_id"))
    closes = select(
        literal("close"),
        c.recommendation_id,
        c.status,
        c.quantity,
        c.filled_qty,
        no_text,
    ).where(
        c.closes_execution_id == bindparam("entry_id"),
        c.position_effect == PositionEffect.CLOSE.value,
        c.recommendation_id != bindparam("own"),
    )
    decided = select(
        literal("decided"),
        r.id,
        no_text,
        cast(null(), c.quantity.type),
        cast(null(), c.quantity.type),
        r.sized_order["qty"].as_string(),
    ).where(
        r.status.in_(_ACTIVE),
        r.id != bindparam("own"),
        r.sized_order["closes"].as_string() == bindparam("entry_text"),
        ~exists().where(recorded.c.recommendation_id == r.id),
    )
    return union_all(entry, closes, decided)


def _claims_in(conn: Connection, entry_id: int, own: str) -> CloseClaims | None:
    params = {"entry_id": entry_id, "entry_text": str(entry_id), "own": own}
    rows = conn.execute(_claims_query(), params).all()
    entry = next((row for row in rows if row.kind == "entry"), None)
    if entry is None:
        return None
    orders = [
        CloseOrder(row.recommendation_id, row.status, row.quantity, row.filled_qty)
        for row in rows
        if row.kind == "close"
    ]
    decided = [
        DecidedClose(row.recommendation_id, _qty({"qty": row.decided_qty}))
        for row in rows
        if row.kind == "decided"
    ]
    return close_claims(entry_id, entry.status, entry.quantity, entry.filled_qty, orders, decided)


def _qty(decision: Mapping[str, Any]) -> Decimal:
    """A decision's quantity (0 when it has none a number can be read from)."""
    try:
        qty = Decimal(str(decision.get("qty") or 0))
    except InvalidOperation:
        return Decimal(0)
    return qty if qty.is_finite() else Decimal(0)


class _Refused(Exception):
    """Rolls back a claim that does not fit, carrying why."""

    def __init__(self, refusal: ClaimRefused) -> None:
        super().__init__(refusal.describe())
        self.refusal = refusal


class Repository:
    """Writes in transactions on ``engine``; reads on its autocommit twin (``reader_for``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @cached_property
    def _reads(self) -> Engine:
        return reader_for(self._engine)

    @contextmanager
    def _transaction(self, **options: Any) -> Iterator[Connection]:
        """A transaction whose constraint failures come out as InvalidRecord, naming the
        field; ``options`` for its connection (an isolation level)."""
        try:
            with self._engine.connect() as conn, conn.execution_options(**options).begin():
                yield conn
        except IntegrityError as error:
            raise _as_invalid_record(error) from None
        except DataError as error:
            raise InvalidRecord("value", f"refused by the database: {_first_line(error)}") from None

    def _insert_once(self, table, key: str, unreturned: tuple[str, ...] = ()):
        return _insert_statement(self._engine.dialect.name, table, key, unreturned)


class RecommendationRepository(Repository):
    def insert(self, rec: Recommendation) -> tuple[Recommendation, bool]:
        """Store ``rec`` unless its id is already stored; (the stored row, whether new)."""
        values = {name: getattr(rec, name) for name in _RECOMMENDATION_FIELDS}
        statement = self._insert_once(recommendations, "id")
        with self._transaction() as conn:
            row = conn.execute(statement, values).one_or_none()
            if row is not None:
                return _recommendation(row), True
            stored = conn.execute(_REC_BY_ID, {"rec_id": rec.id}).one()
            return _recommendation(stored), False

    def get(self, rec_id: str) -> Recommendation | None:
        with self._reads.connect() as conn:
            row = conn.execute(_REC_BY_ID, {"rec_id": rec_id}).one_or_none()
        return None if row is None else _recommendation(row)

    def set_status(
        self,
        rec_id: str,
        status: RecommendationStatus,
        reason: str | None = None,
        now: datetime | None = None,
        explain: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move to ``status`` if it is not behind the stored one (``domain.lifecycle``:
        never out of a terminal state, never back to pending); True if this call changed
        the row.

        A terminal state is final: a second errback, or a late duplicate of a chain step,
        cannot overwrite what already happened. ``explain`` (JSON) is why, in full: the
        figures behind a refusal, kept in ``status_explain``.
        """
        with self._transaction() as conn:
            return set_status_in(conn, rec_id, status, reason, now, explain)

    def settle(self, rec_id: str, word: FinalWord, now: datetime | None = None) -> bool:
        """The venue's final word on the recommendation's order (``domain.final_word``):
        a state not yet terminal takes it; ``executed`` or ``fell_back`` become
        ``unfilled`` when nothing filled (the one overwrite of a terminal state), or keep
        their state with the word's reason added. True if this call changed the row.

        Read and written in one transaction, the UPDATE guarded by the state read, so a
        concurrent writer (an errback, a second reconcile) wins or loses whole."""
        c = recommendations.c
        read = select(c.status, c.status_reason).where(c.id == rec_id).with_for_update()
        with self._transaction() as conn:
            row = conn.execute(read).one_or_none()
            if row is None:
                return False
            change = settled(RecommendationStatus(row.status), row.status_reason, word)
            if change is None:
                return False
            status, reason = change
            statement = (
                update(recommendations)
                .where(c.id == rec_id, c.status == row.status)
                .values(
                    status=status.value,
                    status_reason=_clipped(reason),
                    updated_at=now or utcnow(),
                )
            )
            return conn.execute(statement).rowcount == 1

    def status_explain(self, rec_id: str) -> dict[str, Any] | None:
        """Why the recommendation ended as it did, in full (None: nothing recorded)."""
        query = select(recommendations.c.status_explain).where(recommendations.c.id == rec_id)
        with self._reads.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def record_selection(self, rec_id: str, report: Mapping[str, Any]) -> None:
        """Keep select_contract's report (the latest selection: a re-selection replaces it).

        It is written on the chain's path, once per option recommendation, so on
        PostgreSQL it is one round trip of plain SQL: the statement and
        ``synchronous_commit`` off for its transaction alone (an explanation, not a
        trade: a crash in the next fraction of a second can lose the report, never an
        order or a status; the commit does not wait for the WAL flush)."""
        if self._engine.dialect.name != "postgresql":
            with self._transaction() as conn:
                conn.execute(_SELECTION_UPDATE, {"rec_id": rec_id, "report": dict(report)})
            return
        document = json.dumps(dict(report), separators=(",", ":"), ensure_ascii=False)
        with self._engine.connect() as conn:
            conn.exec_driver_sql(_SELECTION_UPDATE_PG, (document, rec_id))
            conn.commit()

    def selection(self, rec_id: str) -> dict[str, Any] | None:
        """The selection report kept for the recommendation (None: no option was judged)."""
        query = select(recommendations.c.selection).where(recommendations.c.id == rec_id)
        with self._reads.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def ids_ending_with(self, tail: str, limit: int = 10) -> list[str]:
        """Ids that end with ``tail`` (the short id a table shows), at most ``limit``,
        in order. LIKE's wildcards in ``tail`` are escaped; SQLite's LIKE ignores case,
        so the match is checked again here."""
        c = recommendations.c
        query = select(c.id).where(c.id.endswith(tail, autoescape=True)).order_by(c.id)
        with self._reads.connect() as conn:
            found = conn.execute(query.limit(limit)).scalars().all()
        return [rec_id for rec_id in found if rec_id.endswith(tail)]

    def starting_with(self, prefix: str, limit: int = 1_000) -> list[Recommendation]:
        """Recommendations whose id starts with ``prefix`` (LIKE's wildcards escaped;
        checked again here, as SQLite's LIKE ignores case), by id: a close's siblings."""
        c = recommendations.c
        query = select(recommendations).where(c.id.startswith(prefix, autoescape=True))
        with self._reads.connect() as conn:
            rows = conn.execute(query.order_by(c.id).limit(limit)).all()
        return [_recommendation(row) for row in rows if row.id.startswith(prefix)]

    def pending(self, limit: int = 1_000) -> list[Recommendation]:
        """Recommendations without a terminal state, oldest first."""
        query = (
            select(recommendations)
            .where(recommendations.c.status.in_(_ACTIVE))
            .order_by(recommendations.c.created_at)
            .limit(limit)
        )
        with self._reads.connect() as conn:
            return [_recommendation(row) for row in conn.execute(query)]


class ExecutionRepository(Repository):
    def insert(self, execution: Execution) -> tuple[Execution, bool]:
        """Store ``execution`` unless its client_order_id is stored; (stored row, whether new)."""
        with self._transaction() as conn:
            return self.insert_in(conn, execution)

    def insert_with_status(
        self,
        execution: Execution,
        status: RecommendationStatus,
        reason: str | None = None,
    ) -> tuple[Execution, bool]:
        """``insert`` and the recommendation's terminal status in one transaction: one
        commit, and no moment where the order is recorded but its outcome is not.

        On PostgreSQL that is one statement (the INSERT and the UPDATE in a WITH, which
        run whole or not at all), sent in autocommit: one round trip instead of four
        (BEGIN, INSERT, UPDATE, COMMIT)."""
        if self._engine.dialect.name != "postgresql":
            with self._transaction() as conn:
                stored = self.insert_in(conn, execution)
                set_status_in(conn, execution.recommendation_id, status, reason)
                return stored
        values = _execution_values(execution)
        params = {f"{INSERTED}{name}": value for name, value in values.items()}
        params |= _status_values(execution.recommendation_id, status, reason)
        with self._transaction(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(_insert_with_status_statement(), params).one_or_none()
            if row is not None:
                return _execution(row, explain_json=values["explain_json"]), True
            return _stored(conn, execution.client_order_id), False

    def insert_in(self, conn: Connection, execution: Execution) -> tuple[Execution, bool]:
        values = _execution_values(execution)
        # Not read back: the explain just written (a selection report, ~10 KB of JSON
        # to decode again), which is the one given.
        statement = self._insert_once(dispatch_executions, "client_order_id", ("explain_json",))
        row = conn.execute(statement, values).one_or_none()
        if row is not None:
            return _execution(row, explain_json=values["explain_json"]), True
        return _stored(conn, execution.client_order_id), False

    def by_client_order_id(self, client_order_id: str) -> Execution | None:
        with self._reads.connect() as conn:
            return _find_execution(conn, client_order_id)

    def execution_by_id(self, execution_id: int) -> Execution | None:
        query = select(dispatch_executions).where(dispatch_executions.c.id == execution_id)
        with self._reads.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else _execution(row)

    def closes_of(self, entry_execution_id: int) -> list[Execution]:
        """The CLOSE executions linked to an entry, oldest first."""
        c = dispatch_executions.c
        query = (
            select(dispatch_executions)
            .where(
                c.closes_execution_id == entry_execution_id,
                c.position_effect == PositionEffect.CLOSE.value,
            )
            .order_by(c.created_at, c.id)
        )
        with self._reads.connect() as conn:
            return [_execution(row) for row in conn.execute(query)]

    def open_entries(self, symbol: str, limit: int = 1_000) -> list[Execution]:
        """OPEN executions on ``symbol`` (their ticker, or their option symbol) that
        filled something, oldest first; what their closes filled is not subtracted."""
        c = dispatch_executions.c
        filled = or_(c.filled_qty > 0, (c.status == "filled") & c.filled_qty.is_(None))
        query = (
            select(dispatch_executions)
            .where(
                c.position_effect == PositionEffect.OPEN.value,
                or_(c.ticker == symbol, c.option_symbol == symbol),
                filled,
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        with self._reads.connect() as conn:
            return [_execution(row) for row in conn.execute(query)]

    def with_recommendation_status(
        self, recommendation_id: str, client_order_id: str
    ) -> OrderGuard:
        """The recommendation's status, its sized order and the execution under
        ``client_order_id``, each None when absent, in one round trip."""
        params = {"rec_id": recommendation_id, "client_order_id": client_order_id}
        with self._reads.connect() as conn:
            row = conn.execute(_STATUS_AND_EXECUTION, params).one()
        status = row.recommendation_status
        execution = None if row.id is None else _execution(row)
        decision = row.sized_order
        return OrderGuard(
            None if status is None else RecommendationStatus(status),
            None if decision is None else {str(k): str(v) for k, v in decision.items()},
            execution,
        )

    def record_decision(
        self, recommendation_id: str, decision: Mapping[str, str]
    ) -> bool | ClaimRefused:
        """Keep the order a sizing step decided on its recommendation, replacing any
        (a chain re-driven sizes again), while it is pending or dispatched; True if kept.
        A commit that waits for the WAL: submit_order reads it next, on another worker.

        A close (``decision["closes"]``, the entry's execution id) is a claim on its
        entry (``domain.claims``): in the same transaction, the entry's row locked, what
        the other closes claim is read, and the decision is kept only if it fits in what
        the entry holds; else nothing is written and the ClaimRefused (falsy) says why.
        The decision is written first: on SQLite that write takes the database's write
        lock, so no other claim commits between the read and the commit; on PostgreSQL
        the entry's row lock (FOR NO KEY UPDATE: inserts of its closes, which reference
        it, are not blocked) orders the claims of one entry."""
        params = {"rec_id": recommendation_id, "decision": dict(decision), "now": utcnow()}
        closes = decision.get("closes", "")
        try:
            with self._transaction() as conn:
                kept = conn.execute(_DECISION_UPDATE, params).rowcount == 1
                if not kept or not closes:
                    return kept
                entry_id = int(closes)
                if conn.dialect.name == "postgresql":
                    conn.execute(_LOCK_ENTRY, {"entry_id": entry_id})
                claims = _claims_in(conn, entry_id, recommendation_id)
                refused = None if claims is None else claims.refusal(_qty(decision))
                if refused is not None:
                    raise _Refused(refused)
                return True
        except _Refused as refused:
            return refused.refusal

    def close_claims(self, entry_execution_id: int, excluding: str = "") -> CloseClaims | None:
        """What the closes of an entry claim of it, those of the recommendation
        ``excluding`` left out (None: no such execution). Read without a lock: what a
        close is sized from, before its claim (``record_decision``) is admitted."""
        with self._reads.connect() as conn:
            return _claims_in(conn, entry_execution_id, excluding)

    def record_fill(
        self,
        client_order_id: str,
        status: ExecutionStatus,
        filled_qty: Decimal | None = None,
        filled_avg_price: Decimal | None = None,
        filled_at: datetime | None = None,
        broker_order_id: str | None = None,
    ) -> Execution:
        """Record what the venue reports for an order, if it is not behind what is stored;
        the row as stored after the call.

        A compare-and-set in one UPDATE (``domain.lifecycle``): its WHERE admits only a row
        whose stored status may become ``status`` and, with ``filled_qty`` given, whose
        stored fills are not more. A stale report (a worker that held the venue's
        ``accepted`` while another stored ``filled``) matches no row and the stored row is
        returned unchanged: callers compare it with what they reported to tell. Both
        PostgreSQL (the WHERE is checked again on the row version it waited for) and
        SQLite (one writer at a time) keep the most advanced state under concurrency.
        Repeating a report changes nothing."""
        status = ExecutionStatus(status)
        changes: dict[str, Any] = {"status": status.value, "updated_at": utcnow()}
        for name, value in (("filled_qty", filled_qty), ("filled_avg_price", filled_avg_price)):
            if value is not None:
                if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                    raise InvalidRecord(name, f"must be a finite Decimal >= 0, got {value!r}")
                changes[name] = value
        if filled_at is not None:
            changes["filled_at"] = filled_at
        c = dispatch_executions.c
        if broker_order_id is not None:
            # Set once: a worked order's row follows its replacements through the
            # working store alone, so a late report of an earlier order of the chain
            # never takes the row back to it.
            changes["broker_order_id"] = func.coalesce(c.broker_order_id, broker_order_id)
        if filled_qty is not None and filled_avg_price is not None:
            changes["notional"] = filled_qty * filled_avg_price
        forward = [c.status.in_(sorted(s.value for s in execution_predecessors(status)))]
        if filled_qty is not None:
            forward.append(func.coalesce(c.filled_qty, 0) <= filled_qty)
        statement = (
            update(dispatch_executions)
            .where(c.client_order_id == client_order_id, *forward)
            .values(**changes)
            .returning(dispatch_executions)
        )
        with self._transaction() as conn:
            row = conn.execute(statement).one_or_none()
            if row is None:  # behind what is stored, or no such row
                return _stored(conn, client_order_id)
        return _execution(row)

    def note_cancel(self, client_order_id: str, cause: str, at: datetime) -> bool:
        """Keep, in the order's explain, that we asked the venue to cancel it and why
        (``{"cancel": {"cause": …, "requested_at": …}}``), before asking: however the
        cancel's answer arrives (the reply, or reconciliation), the final word names the
        cause. The first request's is kept; True if this call wrote it."""
        if not isinstance(cause, str) or not cause or len(cause) > MAX_TEXT:
            raise InvalidRecord("cause", f"must be 1-{MAX_TEXT} characters, got {cause!r}")
        c = dispatch_executions.c
        read = (
            select(c.id, c.explain_json)
            .where(c.client_order_id == client_order_id)
            .with_for_update()
        )
        with self._transaction() as conn:
            row = conn.execute(read).one_or_none()
            if row is None:
                raise InvalidRecord("client_order_id", f"no execution {client_order_id!r}")
            explain = dict(row.explain_json or {})
            if CANCEL_KEY in explain:
                return False
            explain[CANCEL_KEY] = {"cause": cause, "requested_at": at.isoformat()}
            statement = (
                update(dispatch_executions)
                .where(c.id == row.id)
                .values(explain_json=explain, updated_at=utcnow())
            )
            conn.execute(statement)
            return True

    def set_realized_pnl(self, execution_id: int, pnl: Decimal) -> None:
        if not isinstance(pnl, Decimal) or not pnl.is_finite():
            raise InvalidRecord("realized_pnl", f"must be a finite Decimal, got {pnl!r}")
        statement = (
            update(dispatch_executions)
            .where(dispatch_executions.c.id == execution_id)
            .values(realized_pnl=pnl, updated_at=utcnow())
        )
        with self._transaction() as conn:
            if conn.execute(statement).rowcount != 1:
                raise InvalidRecord("id", f"no execution {execution_id}")

    def recent(
        self,
        since: datetime | None = None,
        ticker: str | None = None,
        instrument_type: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        """Newest first, filtered; every filter is a bound parameter."""
        query = select(dispatch_executions)
        c = dispatch_executions.c
        for field, value in (
            (c.ticker, ticker),
            (c.instrument_type, instrument_type),
            (c.status, status),
        ):
            if value is not None:
                query = query.where(field == value)
        if since is not None:
            query = query.where(c.created_at >= since)
        query = query.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        with self._reads.connect() as conn:
            return [_execution(row) for row in conn.execute(query)]

    def for_recommendation(self, recommendation_id: str) -> list[Execution]:
        """The orders recorded for a recommendation, oldest first."""
        c = dispatch_executions.c
        query = (
            select(dispatch_executions)
            .where(c.recommendation_id == recommendation_id)
            .order_by(c.created_at, c.id)
        )
        with self._reads.connect() as conn:
            return [_execution(row) for row in conn.execute(query)]

    def unfinished(self, limit: int = 500) -> list[Execution]:
        """Orders without a final state from the venue, oldest first (for reconciliation)."""
        c = dispatch_executions.c
        query = (
            select(dispatch_executions)
            .where(c.status.in_(_UNFINISHED))
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        with self._reads.connect() as conn:
            return [_execution(row) for row in conn.execute(query)]

    def risk_reads(self, day: date, limit: int = 10_000) -> tuple[list[HeldEntry], Decimal]:
        """What the pre-trade risk check reads, in one round trip: the opening orders that
        hold or may hold a position, less those a filled closing execution closed (their
        ``explain_json`` carries ``order_cost`` alone), and the sum of realized P&L on
        executions of New York trading ``day``."""
        with self._reads.connect() as conn:
            rows = conn.execute(_risk_reads_query(limit), {"day": day}).all()
        total = rows[0].realized_pnl_of_day
        entries = [_entry(row) for row in rows if row.id is not None]
        return entries, Decimal(0) if total is None else Decimal(str(total))

    def set_premium_paid(self, client_order_id: str, premium: Decimal) -> None:
        """The per-contract premium of an option row, once its fill price is known."""
        if not isinstance(premium, Decimal) or not premium.is_finite() or premium < 0:
            raise InvalidRecord("premium_paid", f"must be a finite Decimal >= 0, got {premium!r}")
        c = dispatch_executions.c
        statement = (
            update(dispatch_executions)
            .where(c.client_order_id == client_order_id, c.instrument_type != "STOCK")
            .values(premium_paid=premium)
        )
        with self._transaction() as conn:
            conn.execute(statement)


@cache
def _insert_statement(dialect_name: str, table, key: str, unreturned: tuple[str, ...] = ()):
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING every column but ``unreturned``,
    built once per dialect; the values come as parameters."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    returned = [column for column in table.c if column.name not in unreturned]
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[key]).returning(*returned)


@lru_cache(maxsize=16)  # by limit: callers pass the default, or a few
def _open_entries_query(limit: int):
    c = dispatch_executions.c
    # The columns the risk check reads (domain.risk.HeldEntry), of the explain document
    # its one key: decoding whole explains (a selection report each) cost more than the
    # rest of the check. Held: an order open or filled by status, or any order with a
    # fill (``domain.risk.holds``: a day order partly filled, then canceled or expired).
    order_cost = c.explain_json["order_cost"].as_string().label("order_cost")
    return (
        select(*(c[name] for name in _HELD_ENTRY_COLUMNS), order_cost)
        .where(
            c.position_effect == PositionEffect.OPEN.value,
            or_(c.status.in_(_HOLDING), c.filled_qty > 0),
        )
        .order_by(c.id)
        .limit(limit)
    )


def _held_quantity(c):
    """What a row holds, in SQL (``domain.position_book.held_quantity``): its fills, a
    ``filled`` row without any its quantity, else 0."""
    filled = ExecutionStatus.FILLED.value
    return case((c.filled_qty > 0, c.filled_qty), (c.status == filled, c.quantity), else_=0)


@lru_cache(maxsize=16)
def _risk_reads_query(limit: int):
    """One row per held entry (or one of NULLs when none is), each with the day's
    realized P&L: the entries left-joined to a constant row.

    Each entry carries ``closed_qty``, what its linked closes filled: an entry whose
    closes filled all it holds is left out; a partly closed one counts for the rest
    (``domain.risk.still_held``). An order that holds nothing yet (open, unfilled) is
    kept: it may still fill."""
    c = dispatch_executions.c
    closing = dispatch_executions.alias("closing")
    closed_qty = (
        select(func.coalesce(func.sum(_held_quantity(closing.c)), 0))
        .where(closing.c.closes_execution_id == c.id)
        .scalar_subquery()
    )
    holding = _held_quantity(c)
    entries = _open_entries_query(limit).add_columns(closed_qty.label("closed_qty"))
    held = entries.where(or_(holding == 0, closed_qty < holding)).subquery("held")
    realized = _REALIZED_ON.scalar_subquery().label("realized_pnl_of_day")
    return select(realized, *held.c).select_from(_one_row().outerjoin(held, true()))


@cache
def _status_update(with_explain: bool, allowed: tuple[str, ...] = tuple(_ACTIVE)):
    """UPDATE of a recommendation's state when it is one of ``allowed`` (the states the
    new one may follow, ``domain.lifecycle``: never a terminal one), parameters ``rec_id``
    and ``new_<column>`` (with ``new_status_explain`` when ``with_explain``)."""
    c = recommendations.c
    names = ["status", "status_reason", "updated_at"] + (["status_explain"] if with_explain else [])
    return (
        update(recommendations)
        .where(c.id == bindparam("rec_id"), c.status.in_(allowed))
        .values({name: bindparam(f"new_{name}", type_=c[name].type) for name in names})
    )


def _execution_values(execution: Execution) -> dict[str, Any]:
    """The INSERT's parameters for ``execution``: every field but the id, and its day."""
    values = {name: getattr(execution, name) for name in _EXECUTION_FIELDS if name != "id"}
    values["trading_day"] = trading_date(execution.created_at)
    return values


INSERTED = "inserted_"


@cache
def _insert_with_status_statement():
    """PostgreSQL: ``_insert_statement`` for an execution and ``_status_update`` for its
    recommendation in one WITH; its rows are the inserted one (none on a conflict). The
    execution's parameters are its fields prefixed (``INSERTED``): a bind named like a
    column of the UPDATE would be renamed by the compiler and never receive its value."""
    c = dispatch_executions.c
    names = [*(name for name in _EXECUTION_FIELDS if name != "id"), "trading_day"]
    returned = [column for column in c if column.name != "explain_json"]
    inserted = (
        postgresql.insert(dispatch_executions)
        .values({name: bindparam(f"{INSERTED}{name}", type_=c[name].type) for name in names})
        .on_conflict_do_nothing(index_elements=["client_order_id"])
        .returning(*returned)
        .cte("inserted")
    )
    updated = _status_update(False).returning(recommendations.c.id).cte("updated")
    return select(*inserted.c).add_cte(updated)


def _status_values(
    rec_id: str,
    status: RecommendationStatus,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``_status_update``'s parameters."""
    return {
        "rec_id": rec_id,
        "new_status": RecommendationStatus(status).value,
        "new_status_reason": reason,
        "new_updated_at": now or utcnow(),
    }


def set_status_in(
    conn: Connection,
    rec_id: str,
    status: RecommendationStatus,
    reason: str | None = None,
    now: datetime | None = None,
    explain: Mapping[str, Any] | None = None,
) -> bool:
    """``RecommendationRepository.set_status`` inside the caller's transaction."""
    values = _status_values(rec_id, status, reason, now)
    if explain is not None:
        values["new_status_explain"] = dict(explain)
    allowed = tuple(sorted(s.value for s in recommendation_predecessors(status)))
    statement = _status_update(explain is not None, allowed)
    return conn.execute(statement, values).rowcount == 1


def _find_execution(conn: Connection, client_order_id: str) -> Execution | None:
    row = conn.execute(_EXECUTION_BY_COID, {"client_order_id": client_order_id}).one_or_none()
    return None if row is None else _execution(row)


def _stored(conn: Connection, client_order_id: str) -> Execution:
    """The execution this transaction just wrote or found; it must exist."""
    execution = _find_execution(conn, client_order_id)
    if execution is None:
        raise InvalidRecord("client_order_id", f"no execution {client_order_id!r}")
    return execution


def _clipped(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 1] + "…"


def _recommendation(row: Row) -> Recommendation:
    return Recommendation(**{name: row._mapping[name] for name in _RECOMMENDATION_FIELDS})


def _execution(row: Row, **known: Any) -> Execution:
    """An execution from its row; ``known`` gives fields the row was not asked for."""
    values = row._mapping
    return Execution(
        **{name: known[name] if name in known else values[name] for name in _EXECUTION_FIELDS}
    )


def _entry(row: Row) -> HeldEntry:
    """An open entry whose explain_json holds only ``order_cost`` (see ``risk_reads``)."""
    values = row._mapping
    held = {name: values[name] for name in _HELD_ENTRY_COLUMNS}
    for name, kind in _HELD_ENTRY_ENUMS.items():
        held[name] = kind(held[name])
    cost = values["order_cost"]
    closed = values["closed_qty"]
    return HeldEntry(
        **held,
        explain_json={} if cost is None else {"order_cost": cost},
        closed_qty=Decimal(str(closed)) if closed else Decimal(0),
    )


def _as_invalid_record(error: IntegrityError) -> InvalidRecord:
    message = str(error.orig)
    for marker, field in _CONSTRAINT_FIELDS.items():
        if marker in message:
            return InvalidRecord(field, f"violates {marker}")
    return InvalidRecord("record", f"refused by the database: {_first_line(error)}")


def _first_line(error: Exception) -> str:
    orig = getattr(error, "orig", error)
    return str(orig).strip().splitlines()[0][:200]
