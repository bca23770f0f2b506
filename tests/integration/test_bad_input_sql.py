"""An SQL injection typed at the shell, against PostgreSQL: refused, and nothing changes.

`strikeflow signal` and `strikeflow executions` run as the user runs them (a subprocess
with STRIKEFLOW_DATABASE_URL), on a database with rows in both tables to lose.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, inspect, select

from strikeflow.db.engine import engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.db.tables import dispatch_executions, recommendations
from strikeflow.services.manual_signal import manual_recommendation
from tests.integration.record_factories import stock_execution

INJECTION = "'; DROP TABLE dispatch_executions;--"


@pytest.fixture(scope="module")
def filled(postgres_url) -> str:
    RecommendationRepository(engine_for(postgres_url)).insert(
        manual_recommendation("MSFT", "BUY", recommendation_id="sql-kept")
    )
    ExecutionRepository(engine_for(postgres_url)).insert(stock_execution(rec_id="sql-kept"))
    return postgres_url


def counts(url: str) -> dict[str, int]:
    engine = engine_for(url)
    assert {"recommendations", "dispatch_executions"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (recommendations, dispatch_executions)
        }


def strikeflow(url: str, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    env["STRIKEFLOW_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "strikeflow", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["signal", "--action", "BUY", "--", INJECTION], "ticker"),
        (["signal", "--action", f"BUY{INJECTION}", "MSFT"], "--action"),
        (["signal", "--action", "BUY", "--strategy", INJECTION, "MSFT"], "--strategy"),
        (["executions", "--since", INJECTION], "--since"),
        (["executions", "--limit", f"1{INJECTION}"], "--limit"),
    ],
    ids=["ticker", "action", "strategy", "since", "limit"],
)
def test_an_injection_is_refused_with_exit_2_and_changes_nothing(filled, argv, named):
    before = counts(filled)
    done = strikeflow(filled, *argv)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert counts(filled) == before
    assert counts(filled) == {"recommendations": 1, "dispatch_executions": 1}
