"""The local fleet end to end, as scripts/fleet runs it: migrate, the emulator in its own
process in simulated time moved by the clock driver, the five workers, beat (redbeat,
scans every simulated minute) and Flower. One simulated hour of market time, about a
wall minute at 60x, must end with executions in PostgreSQL, and every log line of a
chain's tasks must name its recommendation and client_order_id.

Its own redis-server on a free port (three db numbers, none on the shared Redis) and
its own PostgreSQL database, which the fleet's migrate step creates the schema of.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from strikeflow.devfleet.emulator import free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.stack import LocalStack, StackConfig
from strikeflow.devfleet.workers import FleetConfig, RedisDbs
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.sim.serve import DEFAULT_SYMBOLS, EmulatorOptions
from tests.integration.conftest import create_database  # noqa: F401 (a fixture)

# A Monday 10:00 in New York: half an hour of bars behind the first scan.
START = datetime(2037, 11, 16, 10, 0, tzinfo=NEW_YORK)
SIM_RUN = timedelta(hours=1)
SPEED = 60.0  # simulated seconds per wall second: the hour in about a minute
KEY, SECRET = "e2e-key", "e2e-secret"
DEADLINE_S = 60.0  # wall seconds past the simulated hour for the last chains to land
CHAIN_TASKS = (
    "dispatch", "fetch_chain", "select_contract", "snapshot_price", "size_position",
    "submit_order", "persist_execution", "record_failure", "work_order",
)  # fmt: skip
# Six known tickers and ten the emulator makes up: more chances of a signal in the hour.
WATCHLIST = (*DEFAULT_SYMBOLS, "AMD", "AMZN", "META", "GOOGL", "NFLX", "INTC", "IWM", "DIA",
             "BA", "JPM")  # fmt: skip
# A line a pool process logs inside a task: the worker's own format with the bound ids
# (Celery's "Task strikeflow.x[id] succeeded ..."), or the task logger's format.
POOL_LINE = re.compile(
    r"/ForkPoolWorker-\d+\] rec=(?P<rec>\S+) coid=(?P<coid>\S+): Task (?P<task>strikeflow\.\w+)\["
)
TASK_LINE = re.compile(
    r"\] (?P<task>strikeflow\.\w+)\[[0-9a-f-]+\] rec=(?P<rec>\S+) coid=(?P<coid>\S+):"
)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis") / "redis.log") as server:
        yield server


@pytest.fixture(scope="module")
def fleet_run(redis_server, create_database, tmp_path_factory) -> Iterator[tuple[LocalStack, str]]:  # noqa: F811
    url = create_database("postgresql")  # empty: the stack's migrate step builds it
    logs = tmp_path_factory.mktemp("fleet-logs")
    dbs = RedisDbs(broker=11, backend=15, app=3, port=redis_server.port)
    settings = {
        # Two scans a simulated minute, so that no minute goes unscanned (the second
        # finds the minute claimed and does nothing).
        "STRIKEFLOW_SCAN_EVERY_S": f"{30 / SPEED:g}",
        "STRIKEFLOW_RECONCILE_EVERY_S": "2",
        "STRIKEFLOW_WATCHLIST": ",".join(WATCHLIST),
        "STRIKEFLOW_RETRY_DEADLINE_S": "2",
    }
    config = StackConfig(
        fleet=FleetConfig(url, None, dbs, logs, api_key=KEY, secret_key=SECRET, env=settings),
        emulator=EmulatorOptions(seed=42, symbols=WATCHLIST, start=START, fill_delay_s=1.0),
        speed=SPEED,
        flower_port=free_port(),
        flower_auth="e2e:e2e-pass",
    )
    with LocalStack(config) as stack:
        yield stack, url


def wait_for(what: str, ready, stack: LocalStack, deadline_s: float):
    """Poll ``ready()`` until truthy; fail with the fleet's logs at the deadline or when a
    process of the fleet dies."""
    end = time.monotonic() + deadline_s
    while True:
        value = ready()
        if value:
            return value
        dead = [p.name for p in stack.processes() if not p.alive()]
        if dead or time.monotonic() > end:
            why = f"{dead} exited" if dead else f"not within {deadline_s} s"
            raise AssertionError(stack.report(f"{what}: {why}"))
        time.sleep(0.2)


def executions(url: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT recommendation_id, client_order_id, ticker, instrument_type, status"
                    " FROM dispatch_executions"
                )
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def task_lines(log_dir: Path) -> list[tuple[str, str, str]]:
    """(task, rec, coid) of every line logged inside a task by a worker's pool."""
    found = []
    for log in log_dir.glob("worker-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            match = POOL_LINE.search(line) or TASK_LINE.search(line)
            if match:
                found.append((match["task"], match["rec"], match["coid"]))
    return found


def test_a_simulated_hour_of_scans_ends_in_executions(fleet_run):
    stack, url = fleet_run
    end_of_run = START + SIM_RUN
    reached = wait_for(
        f"the simulated clock at {end_of_run:%H:%M}",
        lambda: stack.clock.now is not None and stack.clock.now >= end_of_run,
        stack,
        SIM_RUN.total_seconds() / SPEED * 3 + DEADLINE_S,
    )
    assert reached  # a failed tick (a slow reply under load) is caught up by the next

    rows = wait_for(
        "a filled execution in PostgreSQL",
        lambda: [r for r in executions(url) if r["status"] == "filled"] and executions(url),
        stack,
        DEADLINE_S,
    )
    assert {r["client_order_id"] for r in rows} == {
        client_order_id_for(r["recommendation_id"]) for r in rows
    }
    assert {r["ticker"] for r in rows} <= set(WATCHLIST)
    assert all(p.alive() for p in stack.processes()), stack.report("a process died")


def test_every_chain_task_line_names_its_recommendation_and_order(fleet_run):
    stack, url = fleet_run
    rows = wait_for(
        "a filled execution in PostgreSQL",
        lambda: [r for r in executions(url) if r["status"] == "filled"] and executions(url),
        stack,
        DEADLINE_S,
    )
    lines = task_lines(stack.fleet.config.log_dir)
    chain = [(task, rec, coid) for task, rec, coid in lines if task.split(".")[1] in CHAIN_TASKS]
    assert chain, stack.report("no log line of a chain's task in the worker logs")
    unbound = [line for line in chain if "-" in (line[1], line[2])]
    assert not unbound, f"chain task lines without their ids: {unbound[:5]}"
    assert all(coid == client_order_id_for(rec) for _, rec, coid in chain)
    named = {rec for _, rec, _ in chain}
    for row in rows:  # each executed recommendation's steps, each on a line of its own
        steps = {task for task, rec, _ in chain if rec == row["recommendation_id"]}
        assert {"strikeflow.fetch_chain", "strikeflow.submit_order"} <= steps, (row, steps)
    others = {rec for task, rec, _ in lines if task.split(".")[1] not in CHAIN_TASKS}
    assert others <= {"-"}, f"a scan or reconcile line bound to a recommendation: {others}"
    assert named
