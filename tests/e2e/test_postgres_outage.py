"""PostgreSQL stopped for 30 s in the middle of a burst: no chain fails.

A real fleet (worker subprocesses of the real app on every queue), the emulator in its
own process, and the test's own redis-server and PostgreSQL cluster (initdb in a
temporary directory, a free port: the shared server is never touched). Half the
recommendations are sent; once chains are flowing the cluster stops (``pg_ctl stop -m
fast``: every connection cut), the other half is sent into the outage, and 30 s later
the cluster starts again.

Every step that reads or writes the database retries on its time budget
(STRIKEFLOW_RETRY_DEADLINE_S, 60 s from its first failure, waits of at most 10 s), so:
no recommendation fails, every one is terminal within RECOVERY_BOUND_S of the restart,
the venue holds at most one order per client_order_id, and the execution rows are the
venue's orders, one each. The figures are printed on one line.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import SubprocessEmulator, free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.domain.retry_budget import CAP_S, DEADLINE_S
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from tests.e2e.chaos_support import MONDAY, SEED, TERMINAL
from tests.e2e.postgres_cluster import PostgresCluster
from tests.integration.emulator import EmulatorHandle
from tests.one_price import ONE_PRICE_ENV

KEY, SECRET = "pg-outage-key", "pg-outage-secret"
RECOMMENDATIONS = 80
OUTAGE_S = 30.0
# The outage starts once this many chains have ended: the rest are in every step.
FLOWING = 8
# After the restart, a step waiting out its countdown tries again within CAP_S; the
# backlog (a dozen steps per chain still to run) then drains on 2 cores.
DRAIN_S = 25.0
RECOVERY_BOUND_S = CAP_S + DRAIN_S
SETUP_DEADLINE_S = 60.0
POLL_S = 0.2
MIX = (
    ("SPY", "BUY", "CALL", "day_trade"),
    ("AAPL", "BUY", "STOCK", None),
    ("QQQ", "SELL", "PUT", "swing_trade"),
    ("MSFT", "BUY", "STOCK", None),
)
RETRY_LINE = re.compile(r"Task strikeflow\.(\w+)\[[0-9a-f-]+\] retry: Retry in ")
GAVE_UP = "retry budget spent"


def wait_for(done: Callable[[], object], what: str, fleet: Fleet, deadline_s: float) -> float:
    """Poll ``done`` until it holds; the monotonic time it did. Fails with the logs."""
    end = time.monotonic() + deadline_s
    while not done():
        if time.monotonic() > end:
            raise AssertionError(fleet.report(f"not within {deadline_s:g} s: {what}"))
        dead = [w.spec.name for w in fleet.workers.values() if not w.alive()]
        if dead:
            raise AssertionError(fleet.report(f"workers {dead} died waiting for {what}"))
        time.sleep(POLL_S)
    return time.monotonic()


def statuses(url: str) -> Counter[str]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM recommendations GROUP BY status"))
        return Counter(dict(rows.all()))


def terminal(url: str) -> int:
    now = statuses(url)
    return sum(now[s] for s in TERMINAL)


def store_recommendations(url: str) -> list[str]:
    store = RecommendationRepository(engine_for(url))
    rids = []
    for i in range(RECOMMENDATIONS):
        ticker, action, instrument, strategy = MIX[i % len(MIX)]
        rid = f"pg-outage-{i:03d}"
        store.insert(manual_recommendation(ticker, action, instrument, strategy, 0.8, "pg", rid))
        rids.append(rid)
    return rids


def executions(url: str) -> list[dict]:
    with engine_for(url).connect() as conn:
        query = text("SELECT client_order_id, broker_order_id, status FROM dispatch_executions")
        return [dict(row) for row in conn.execute(query).mappings()]


def refusal_reasons(url: str) -> Counter[str]:
    """The rejected recommendations' reasons, by their first words."""
    with engine_for(url).connect() as conn:
        query = text("SELECT status_reason FROM recommendations WHERE status = 'rejected'")
        return Counter((reason or "")[:110] for reason in conn.execute(query).scalars())


def worker_logs(fleet: Fleet) -> str:
    return "".join(w.log.read_text(errors="replace") for w in fleet.workers.values())


@contextlib.contextmanager
def outage_world(tmp_path: Path) -> Iterator[tuple[PostgresCluster, str, Fleet, EmulatorHandle]]:
    """The test's own PostgreSQL cluster (migrated), redis-server, emulator and fleet;
    everything it started is stopped on the way out, whatever happened."""
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(PostgresCluster())
        url = pg.create_database("strikeflow")
        upgrade(url, "head")
        stack.callback(dispose_all)
        redis_server = RedisServer(tmp_path / "redis.log").start()
        stack.callback(redis_server.stop)
        options = EmulatorOptions(
            seed=SEED, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0,
            cash=10_000_000_000,
        )  # fmt: skip
        emulator = SubprocessEmulator.from_options(options, free_port(), tmp_path / "emulator.log")
        stack.enter_context(emulator)
        config = FleetConfig(
            database_url=url,
            emulator_url=emulator.url,
            redis=RedisDbs(broker=0, backend=1, app=2, port=redis_server.port),
            log_dir=tmp_path / "logs",
            api_key=KEY,
            secret_key=SECRET,
            env={
                **ONE_PRICE_ENV,
                "STRIKEFLOW_RISK_MAX_OPEN_POSITIONS": "0",
                "STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER": "0",
            },
        )
        fleet = stack.enter_context(Fleet(config))
        fleet.start_workers(
            [
                WorkerSpec("pg-front", ("marketdata", "dispatch"), concurrency=2),
                WorkerSpec("pg-back", ("orders", "persistence"), concurrency=2),
            ],
            SETUP_DEADLINE_S,
        )
        yield pg, url, fleet, EmulatorHandle(emulator.url, KEY, SECRET)


def test_a_postgres_outage_of_30_s_mid_burst_fails_no_chain(tmp_path, capsys):
    started = time.monotonic()
    with outage_world(tmp_path) as (pg, url, fleet, venue):
        rids = store_recommendations(url)
        half = RECOMMENDATIONS // 2
        sent_at = time.monotonic()
        for rid in rids[:half]:
            fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
        wait_for(lambda: terminal(url) >= FLOWING, "chains flowing", fleet, SETUP_DEADLINE_S)

        dispose_all()  # the test's own pooled connections would only meet a dead server
        pg.stop("fast")
        stopped_at = time.monotonic()
        for rid in rids[half:]:  # into the outage: the entry task retries as well
            fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
        wait_for(
            lambda: time.monotonic() - stopped_at >= OUTAGE_S, "the outage", fleet, OUTAGE_S + 5
        )
        pg.start()
        restarted_at = time.monotonic()
        outage = restarted_at - stopped_at

        ended = wait_for(
            lambda: terminal(url) == RECOMMENDATIONS,
            "every recommendation terminal",
            fleet,
            RECOVERY_BOUND_S,
        )
        final = statuses(url)
        audit = venue.audit()
        rows = executions(url)
        reasons = refusal_reasons(url)
        logs = worker_logs(fleet)

    retried = Counter(RETRY_LINE.findall(logs))
    retries = sum(retried.values())
    gave_up = logs.count(GAVE_UP)
    per_id = Counter(order["client_order_id"] for order in audit)
    duplicates = sum(n - 1 for n in per_id.values() if n > 1)
    # an order the venue refused is a row too (rejected, no broker order): the rest are
    # the venue's orders, one row each
    placed = {row["client_order_id"]: row for row in rows if row["broker_order_id"]}
    refused = [row for row in rows if not row["broker_order_id"]]

    assert final["failed"] == 0, final
    assert final["fell_back"] == 0, final  # the venue never went away
    assert sum(final[s] for s in TERMINAL) == RECOMMENDATIONS, final
    assert duplicates == 0, [c for c, n in per_id.items() if n > 1]
    assert len({row["client_order_id"] for row in rows}) == len(rows), "two rows, one order"
    assert set(placed) == set(per_id), "the rows are not the venue's orders"
    for order in audit:
        assert placed[order["client_order_id"]]["broker_order_id"] == order["id"]
    assert {row["status"] for row in refused} <= {"rejected"}, refused
    assert final["executed"] == len(placed)
    outage_words = ("StoreUnavailable", "OperationalError", "database", "connection")
    assert not [r for r in reasons if any(w in r for w in outage_words)], reasons
    assert retried["dispatch"] >= RECOMMENDATIONS - half, retried  # sent into the outage
    assert len(retried) >= 3, retried  # and it met chains mid-flight, in several steps
    assert gave_up == 0
    wall = time.monotonic() - started
    line = (
        f"postgres outage: {RECOMMENDATIONS} recommendations, the cluster stopped"
        f" {outage:.1f} s mid-burst ({half} sent before, {RECOMMENDATIONS - half} into it);"
        f" outcomes {dict(sorted(final.items()))}, every one terminal"
        f" {ended - restarted_at:.1f} s after the restart (bound {RECOVERY_BOUND_S:g} s),"
        f" {ended - sent_at:.1f} s after the first send; retries {retries}"
        f" {dict(retried.most_common())}, budgets spent"
        f" {gave_up} (deadline {DEADLINE_S:g} s); venue orders {len(audit)} = rows {len(placed)}"
        f" (+{len(refused)} refused by the venue), duplicates {duplicates}; wall {wall:.1f} s"
    )
    with capsys.disabled():
        print("\n" + line + f"\nrefusals: {dict(reasons)}")
