"""What the command line asks of the stored records: recent executions, the report views,
one recommendation's whole decision, a manual signal's outcome, and the demo's record of
its day. Each is a plain function over ``Records`` (``bootstrap.build_records`` makes
it; tests hand in fakes of ``query_ports``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.services.query_ports import (
    ExecutionRecords,
    OutcomeRecords,
    RecommendationRecords,
    ReportViews,
    StoredOutcome,
)

MIN_TAIL = 4  # a shorter tail would name too many recommendations to be of use
MATCHES_SHOWN = 5
NOT_TRADED = (
    RecommendationStatus.FELL_BACK,
    RecommendationStatus.REJECTED,
    RecommendationStatus.FAILED,
    RecommendationStatus.UNFILLED,  # the venue accepted it; nothing filled
)
MAX_DAY_EXECUTIONS = 10_000


@dataclass(frozen=True)
class Records:
    """The database's records, each behind its port."""

    recommendations: RecommendationRecords
    executions: ExecutionRecords
    reports: ReportViews
    outcomes: OutcomeRecords


@dataclass(frozen=True)
class Decision:
    """One recommendation and everything stored about what became of it."""

    recommendation: Recommendation
    status_explain: dict[str, Any] | None
    executions: list[Execution]
    selection: dict[str, Any] | None = None

    @property
    def explain(self) -> dict[str, Any]:
        """The decision's explain document: the entry order's, else the refusal's, with
        the selection report (stored once, on the recommendation) as its ``selection``."""
        explain = next((e.explain_json for e in self.executions if e.explain_json), None)
        if explain is None:
            explain = self.status_explain if isinstance(self.status_explain, dict) else {}
        if isinstance(self.selection, dict) and "selection" not in explain:
            return {"selection": self.selection, **explain}
        return explain

    def to_json(self) -> dict[str, Any]:
        return {
            "recommendation": asdict(self.recommendation),
            "status_explain": self.status_explain,
            "selection": self.selection,
            "executions": [asdict(e) for e in self.executions],
        }


def find_decision(records: Records, ref: str) -> Decision | str:
    """The decision ``ref`` (an id, or the tail of exactly one) names, or why there is
    none (a line to show)."""
    recs = records.recommendations
    rec = recs.get(ref)
    if rec is None and len(ref) >= MIN_TAIL:
        ids = recs.ids_ending_with(ref, limit=MATCHES_SHOWN + 1)
        if len(ids) > 1:
            more = ", …" if len(ids) > MATCHES_SHOWN else ""
            listed = ", ".join(ids[:MATCHES_SHOWN]) + more
            return f"{ref!r} ends more than one recommendation id ({listed}): give more of it"
        rec = recs.get(ids[0]) if ids else None
    if rec is None:
        short = f" (a tail needs {MIN_TAIL} characters at least)" if len(ref) < MIN_TAIL else ""
        return f"no recommendation {ref!r}{short}"
    executions = records.executions.for_recommendation(rec.id)
    return Decision(rec, recs.status_explain(rec.id), executions, recs.selection(rec.id))


def recent_executions(records: Records, since: datetime | None, limit: int) -> list[Execution]:
    """Newest first, at most ``limit``, none older than ``since``."""
    return records.executions.recent(since=since, limit=limit)


def report_views(
    records: Records, names: Sequence[str], as_of: date | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each named view's rows, in the order named."""
    return {name: records.reports.view(name, as_of) for name in names}


def entry_execution(records: Records, recommendation_id: str) -> Execution | None:
    """The execution of a recommendation's entry order, if one is recorded."""
    # Imported here: the policy loads the numerics, which `explain` and `--help` never need.
    from strikeflow.services.closing_ids import order_id_of

    return records.executions.by_client_order_id(order_id_of(recommendation_id))


def day_executions(records: Records) -> list[Execution]:
    """Every execution of the (demo's) day, oldest first."""
    return list(reversed(records.executions.recent(limit=MAX_DAY_EXECUTIONS)))


def not_traded(records: Records) -> list[StoredOutcome]:
    """Recommendations that fell back, were rejected, failed or went unfilled, oldest
    first."""
    return records.outcomes.with_status(NOT_TRADED)


def statuses_of(records: Records, ids: Sequence[str]) -> dict[str, str]:
    """The stored status of each recommendation in ``ids`` that exists."""
    return records.outcomes.statuses_of(ids) if ids else {}
