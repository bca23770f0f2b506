"""The stored records as the command line uses them: the ports the database adapters
implement for it (``db``) and the composition root hands it (``bootstrap.build_records``).

The dispatch steps' own ports are in ``ports``; these are the reads of the commands
(``executions``, ``positions``, ``report``, ``explain``, the demo's report), the writes
of ``signal``, and the schema the ``db`` commands and the demo migrate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.position_book import BookEntry, CloseFill, PositionDifference
from strikeflow.domain.records import Execution, Recommendation


class RecommendationRecords(Protocol):
    def insert(self, rec: Recommendation) -> tuple[Recommendation, bool]:
        """Store ``rec`` unless its id is stored; (the stored row, whether new)."""
        ...

    def get(self, rec_id: str) -> Recommendation | None: ...

    def set_status(
        self,
        rec_id: str,
        status: RecommendationStatus,
        reason: str | None = None,
        now: datetime | None = None,
        explain: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move to ``status`` unless already terminal; True if this call changed it."""
        ...

    def status_explain(self, rec_id: str) -> dict[str, Any] | None:
        """Why the recommendation ended as it did, in full (None: nothing recorded)."""
        ...

    def selection(self, rec_id: str) -> dict[str, Any] | None:
        """select_contract's report for the recommendation (None: no option judged)."""
        ...

    def ids_ending_with(self, tail: str, limit: int = 10) -> list[str]:
        """Ids that end with ``tail``, at most ``limit``, in order."""
        ...


class ExecutionRecords(Protocol):
    def recent(self, since: datetime | None = None, *, limit: int = 100) -> list[Execution]:
        """Newest first."""
        ...

    def for_recommendation(self, recommendation_id: str) -> list[Execution]: ...

    def by_client_order_id(self, client_order_id: str) -> Execution | None: ...


class ReportViews(Protocol):
    def view(self, name: str, as_of: date | None = None) -> list[dict[str, Any]]:
        """A report view's rows (``active_options_positions`` as of ``as_of``)."""
        ...


@dataclass(frozen=True)
class StoredOutcome:
    """A recommendation's terminal state as stored, with what was asked for."""

    created_at: datetime
    ticker: str
    instrument_type: str
    strategy_type: str | None
    status: str
    status_reason: str | None


class OutcomeRecords(Protocol):
    def statuses_of(self, ids: Sequence[str]) -> dict[str, str]:
        """The stored status of each of ``ids`` that exists."""
        ...

    def with_status(self, statuses: Sequence[RecommendationStatus]) -> list[StoredOutcome]:
        """The recommendations in any of ``statuses``, oldest first."""
        ...


class PositionRecords(Protocol):
    """The position book's rows (``domain.position_book``), and the differences the
    position check found (``services.position_check``)."""

    def book_rows(self) -> tuple[list[BookEntry], list[CloseFill]]:
        """Every entry holding a fill, oldest first, and every close of one."""
        ...

    def record_differences(self, found: Sequence[PositionDifference], at: datetime) -> int:
        """Store each difference as found at ``at``; how many rows were written."""
        ...

    def recent_differences(self, limit: int = 100) -> list[tuple[datetime, PositionDifference]]:
        """The latest differences recorded, newest first."""
        ...


class DatabaseSchema(Protocol):
    """The database's migrations and its rows as a whole (the ``db`` commands, the demo)."""

    def upgrade(self, revision: str = "head") -> None: ...

    def downgrade(self, revision: str) -> None: ...

    def current(self) -> str | None:
        """The revision the database is at (None: never migrated, or no such file)."""
        ...

    def head(self) -> str:
        """The newest revision the package ships."""
        ...

    def row_counts(self) -> dict[str, int]:
        """Rows in each of strikeflow's tables."""
        ...

    def delete_rows(self) -> None:
        """Every row of strikeflow's tables, in one transaction."""
        ...
