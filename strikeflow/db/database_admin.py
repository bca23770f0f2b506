"""One database as a whole: its migrations (``strikeflow db``) and its rows (the demo
empties a database before its day). Implements ``services.query_ports.DatabaseSchema``."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from strikeflow.db import migrate
from strikeflow.db.engine import engine_for
from strikeflow.db.tables import dispatch_executions, position_differences, recommendations

TABLES = (position_differences, dispatch_executions, recommendations)  # children first


class DatabaseAdmin:
    def __init__(self, url: str) -> None:
        self.url = url

    def upgrade(self, revision: str = "head") -> None:
        migrate.upgrade(self.url, revision)

    def downgrade(self, revision: str) -> None:
        migrate.downgrade(self.url, revision)

    def current(self) -> str | None:
        return migrate.current(self.url)

    def head(self) -> str:
        return migrate.head()

    def row_counts(self) -> dict[str, int]:
        with engine_for(self.url).connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in TABLES
            }

    def delete_rows(self) -> None:
        with engine_for(self.url).begin() as conn:
            for table in TABLES:
                conn.execute(delete(table))
