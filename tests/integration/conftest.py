"""Real databases for integration tests: PostgreSQL on 127.0.0.1:5432, SQLite files, and
the db numbers of the Redis on 127.0.0.1:6379 that this test process may use.

Each run creates its own uniquely named PostgreSQL databases and drops them at the end;
nothing touches a database it did not create. Redis db numbers are keyed by the
pytest-xdist worker, so that parallel workers never share one.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from strikeflow.db.engine import dispose_all
from strikeflow.devfleet.workers import RedisDbs
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle

ADMIN_URL = os.environ.get(
    "STRIKEFLOW_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
DIALECTS = ("postgresql", "sqlite")
# db 0-2 are the defaults (a developer's own fleet); 15 is left spare.
FIRST_REDIS_DB, REDIS_DBS_PER_WORKER, MAX_WORKERS = 3, 3, 4


def worker_dbs() -> RedisDbs:
    """The three Redis db numbers of this test process: 3-5 when pytest runs alone or as
    xdist worker gw0, 6-8 for gw1, 9-11 for gw2, 12-14 for gw3. A module of one process
    runs after another, and each flushes these dbs before and after it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw"))
    if index >= MAX_WORKERS:
        raise pytest.UsageError(
            f"integration tests share one Redis: at most {MAX_WORKERS} xdist workers, "
            f"this is {worker}"
        )
    first = FIRST_REDIS_DB + REDIS_DBS_PER_WORKER * index
    return RedisDbs(broker=first, backend=first + 1, app=first + 2)


@pytest.fixture(scope="session")
def create_database(tmp_path_factory) -> Iterator[Callable[[str], str]]:
    """A factory of new, empty databases (by dialect), all dropped when the run ends."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    made: list[str] = []

    def create(dialect: str) -> str:
        name = f"strikeflow_test_{uuid.uuid4().hex[:12]}"
        if dialect == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / name}.db"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield create
    dispose_all()
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=DIALECTS)
def migrated_url(request, create_database) -> str:
    """A database per dialect, migrated to head once per run."""
    from strikeflow.db.migrate import upgrade

    url = create_database(request.param)
    upgrade(url, "head")
    return url


@pytest.fixture
def db_url(migrated_url) -> Iterator[str]:
    """The migrated database of the current dialect, emptied after each test."""
    yield migrated_url
    from strikeflow.db.engine import engine_for

    with engine_for(migrated_url).begin() as conn:
        conn.execute(text("DELETE FROM dispatch_executions"))
        conn.execute(text("DELETE FROM recommendations"))


@pytest.fixture
def emulator() -> Iterator[EmulatorHandle]:
    """A fresh emulator for each test, in simulated time from START."""
    options = EmulatorOptions(
        seed=42, start=START, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0
    )
    with running_emulator(options) as url:
        yield EmulatorHandle(url)


@pytest.fixture(scope="module")
def postgres_url(create_database) -> str:
    """A PostgreSQL database of this module's own, migrated to head."""
    from strikeflow.db.migrate import upgrade

    url = create_database("postgresql")
    upgrade(url, "head")
    return url


def empty_tables(url: str) -> None:
    from strikeflow.db.engine import engine_for

    with engine_for(url).begin() as conn:
        conn.execute(text("DELETE FROM dispatch_executions"))
        conn.execute(text("DELETE FROM recommendations"))


@pytest.fixture
def trading(emulator) -> TradingClient:
    """alpaca-py, unmodified, pointed at the emulator."""
    return TradingClient(KEY, SECRET, paper=True, url_override=emulator.url)


@pytest.fixture
def stocks(emulator) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(KEY, SECRET, url_override=emulator.url)


@pytest.fixture
def options_data(emulator) -> OptionHistoricalDataClient:
    return OptionHistoricalDataClient(KEY, SECRET, url_override=emulator.url)


def terminate_backend_of(engine) -> None:
    """End the server process behind the connection ``engine`` pools (one, checked in)."""
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            ended = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            deadline = time.monotonic() + 10
            while conn.execute(text(ended), {"pid": pid}).scalar_one():
                assert time.monotonic() < deadline, f"backend {pid} still running"
    finally:
        admin.dispose()
