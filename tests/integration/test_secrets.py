"""The Alpaca key and secret appear nowhere a run leaves traces, failures included.

A fleet (worker subprocesses, Flower, the emulator, PostgreSQL; its Redis dbs) runs
with a distinctive key and secret and goes through what a day brings: fills, a stock
fallback, the kill switch, the venue down mid-chain and with the reject policy, the
venue answering 5xx, bad input and a poison message, and `strikeflow signal` from a
shell. Then every trace is searched for either value, raw and base64-encoded: each log
file (workers, Flower), every Redis key of the fleet's dbs (task arguments, results and
their exceptions), every database row (status reasons, explain_json), Flower's task
view (/api/tasks, each task's /api/task/info) and what the command printed.
"""

from __future__ import annotations

import base64
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import MetaData, select

from strikeflow.app_state.in_redis import RedisKillSwitch
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator, free_port
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.records import Recommendation
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from tests.integration.conftest import worker_dbs
from tests.integration.emulator import EmulatorHandle, poll

KEY = f"PKSECRETSTEST{uuid.uuid4().hex[:12].upper()}"
SECRET = f"sk-secrets-test-{uuid.uuid4().hex}"
MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
DBS = worker_dbs()
WORKERS = (
    WorkerSpec("sf-secrets-pipeline", ("marketdata", "dispatch", "persistence"), heartbeat=True),
    WorkerSpec("sf-secrets-orders", ("orders",), heartbeat=True),
)
FLOWER_AUTH = ("secrets-user", "secrets-pass")
DEADLINE_S = 60.0


def needles() -> dict[str, bytes]:
    """Each secret as it could be written: raw, and base64 (as in a Basic header)."""
    found = {}
    for name, value in (("key", KEY), ("secret", SECRET)):
        found[name] = value.encode()
        found[f"{name} (base64)"] = base64.b64encode(value.encode())
    found["key:secret (base64)"] = base64.b64encode(f"{KEY}:{SECRET}".encode())
    return found


def leaks(where: str, blob: bytes) -> list[str]:
    return [f"{name} in {where}" for name, needle in needles().items() if needle in blob]


class Day:
    """The fleet and what a day of trading sends it."""

    def __init__(self, fleet: Fleet, emulator: InProcessEmulator, url: str) -> None:
        self.fleet, self.emulator, self.url = fleet, emulator, url
        self.recommendations = RecommendationRepository(engine_for(url))
        self.kill_switch = RedisKillSwitch.from_url(DBS.url(DBS.app))
        self._ids = itertools.count(1)
        self.outcomes: dict[str, Recommendation] = {}
        self.printed = b""

    def signal(self, ticker: str, action: str, instrument: str = "STOCK", strategy=None) -> str:
        rid = f"secrets-{ticker.lower()}-{next(self._ids)}"
        rec = manual_recommendation(ticker, action, instrument, strategy, 0.8, "secrets", rid)
        self.recommendations.insert(rec)
        self.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
        return rid

    def terminal(self, rid: str) -> Recommendation:
        try:
            rec = poll(
                lambda: self.recommendations.get(rid), lambda r: r.status.terminal, DEADLINE_S
            )
        except AssertionError as late:
            raise AssertionError(self.fleet.report(str(late)[:1_000])) from None
        self.outcomes[rid] = rec
        return rec

    def run_command(self, *argv: str) -> None:
        """`strikeflow *argv` from a shell with the fleet's settings; keeps what it printed."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
        env.update(self.fleet.config.settings_env())
        done = subprocess.run(
            [sys.executable, "-m", "strikeflow", *argv],
            env=env,
            capture_output=True,
            timeout=DEADLINE_S + 30,
            check=False,
        )
        self.printed += done.stdout + done.stderr


@pytest.fixture(scope="module")
def day(postgres_url, tmp_path_factory) -> Iterator[Day]:
    DBS.flush()
    options = EmulatorOptions(
        seed=42, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0
    )
    emulator = InProcessEmulator(options)
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("secrets-logs"),
        api_key=KEY,
        secret_key=SECRET,
        on_broker_failure="reject",
        env={"STRIKEFLOW_RETRY_DEADLINE_S": "2"},  # a venue down: the fallback at once
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers(WORKERS)
        fleet.start_flower(free_port(), ":".join(FLOWER_AUTH))
        day = Day(fleet, emulator, postgres_url)
        live_a_day(day)
        yield day
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


def live_a_day(day: Day) -> None:
    """Successes and every kind of failure, each to its terminal state."""
    for ticker, action, instrument, strategy in (
        ("MSFT", "BUY", "STOCK", None),
        ("SPY", "BUY", "CALL", "day_trade"),
        ("AAPL", "BUY", "CALL", "day_trade"),  # no AAPL expiry in 0-1 DTE: the stock instead
    ):
        day.terminal(day.signal(ticker, action, instrument, strategy))

    day.kill_switch.turn_on("secrets test")
    day.terminal(day.signal("NVDA", "BUY"))
    day.kill_switch.turn_off()

    venue = EmulatorHandle(day.emulator.url)
    venue.session.headers.update({"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    # The venue cancels an order it accepted (its clock stands still: nothing fills), and
    # reconciliation ends the recommendation unfilled.
    rid = day.terminal(day.signal("QQQ", "BUY")).id
    order = venue.session.get(
        f"{venue.url}/v2/orders:by_client_order_id",
        params={"client_order_id": client_order_id_for(rid)},
        timeout=10,
    ).json()
    assert venue.session.delete(f"{venue.url}/v2/orders/{order['id']}", timeout=10).ok
    day.fleet.app.send_task("strikeflow.reconcile_orders")
    day.outcomes[rid] = poll(
        lambda: day.recommendations.get(rid),
        lambda r: r.status is RecommendationStatus.UNFILLED,
        DEADLINE_S,
    )
    venue.faults(error_5xx=1.0)  # every venue call answers 5xx: retries, then failure
    day.terminal(day.signal("TSLA", "BUY"))
    venue.faults(error_5xx=0.0)

    day.emulator.stop()  # the venue is gone
    day.terminal(day.signal("QQQ", "SELL", "PUT", "day_trade"))
    day.emulator.start()

    app = day.fleet.app
    for bad in ({"ticker": "'; DROP TABLE dispatch_executions;--", "action": "BUY"}, {"x": 1}):
        app.send_task("strikeflow.dispatch", kwargs=bad)
    with app.connection_for_write() as conn:  # a poison message
        conn.Producer().publish(
            '{"not": "a task body"}',
            routing_key="dispatch",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": "strikeflow.dispatch", "id": str(uuid.uuid4()), "lang": "py"},
        )
    day.run_command("signal", "MSFT", "--action", "BUY", "--wait", "--timeout", "60", "--json")
    day.run_command("signal", "MSFT", "--action", "HOLD")
    day.run_command("executions", "--json")
    kinds = {rec.status for rec in day.outcomes.values()}
    assert kinds == {s for s in RecommendationStatus if s.terminal}, [
        (rid, rec.status.value, rec.status_reason) for rid, rec in day.outcomes.items()
    ]


def test_the_day_had_successes_and_failures(day):
    reasons = " ".join(rec.status_reason or "" for rec in day.outcomes.values())
    assert "kill switch" in reasons
    assert "BrokerUnavailable" in reasons
    assert b'"recommendation_id"' in day.printed  # the command ran and printed its JSON


def test_no_log_file_holds_a_secret(day):
    logs = sorted(Path(day.fleet.config.log_dir).glob("*.log"))
    assert len(logs) >= 3  # two workers and Flower
    assert sum(p.stat().st_size for p in logs) > 10_000  # they did log the day
    found = [hit for p in logs for hit in leaks(p.name, p.read_bytes())]
    assert found == []


def test_no_redis_key_holds_a_secret(day):
    found, keys = [], 0
    for db in DBS.numbers:
        client = redis.Redis(host=DBS.host, port=DBS.port, db=db)
        try:
            for key in client.scan_iter(count=500):
                keys += 1
                found += leaks(f"redis db {db} key {key!r}", key + redis_value(client, key))
        finally:
            client.close()
    assert keys > 20  # results of the day's tasks, at least
    assert found == []


def redis_value(client: redis.Redis, key: bytes) -> bytes:
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"hash":
        return b"".join(k + v for k, v in client.hgetall(key).items())
    if kind == b"list":
        return b"".join(client.lrange(key, 0, -1))
    if kind == b"set":
        return b"".join(client.smembers(key))
    if kind == b"zset":
        return b"".join(m for m, _ in client.zrange(key, 0, -1, withscores=True))
    return b""


def test_no_database_row_holds_a_secret(day):
    tables = MetaData()
    engine = engine_for(day.url)
    tables.reflect(engine)
    found, rows = [], 0
    with engine.connect() as conn:
        for table in tables.sorted_tables:
            for row in conn.execute(select(table)):
                rows += 1
                found += leaks(f"table {table.name}", repr(tuple(row)).encode())
    assert rows >= len(day.outcomes)
    assert found == []


def test_flowers_task_view_holds_no_secret(day):
    url, auth = day.fleet.flower_url, FLOWER_AUTH

    def tasks() -> requests.Response:
        return requests.get(f"{url}/api/tasks", auth=auth, timeout=10)

    listed = poll(tasks, lambda r: r.status_code == 200 and len(r.json()) > 20, DEADLINE_S)
    states = {task["state"] for task in listed.json().values()}
    assert {"SUCCESS", "FAILURE"} <= states
    found = leaks("/api/tasks", listed.content)
    for task_id in listed.json():
        info = requests.get(f"{url}/api/task/info/{task_id}", auth=auth, timeout=10)
        found += leaks(f"/api/task/info/{task_id}", info.content)
    workers = requests.get(f"{url}/api/workers", auth=auth, timeout=10)
    assert workers.status_code == 200
    found += leaks("/api/workers", workers.content)
    assert found == []


def test_what_the_command_printed_holds_no_secret(day):
    assert leaks("strikeflow's output", day.printed) == []


def test_the_settings_show_the_secret_masked(day):
    shown = repr(day.fleet.config.settings()) + str(day.fleet.config.settings())
    assert leaks("Settings repr", shown.encode()) == []
