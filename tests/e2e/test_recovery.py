"""Recovery, one restart at a time, each on a small fleet of its own.

Every test has its own redis-server (so its db numbers collide with nobody's and it may
restart it), its own PostgreSQL database, the emulator in this process in simulated time
(the clock moves only when a test moves it), and real worker subprocesses running
``tests.e2e.chaos_worker`` (the real app with kill points armed from the environment):

1. a worker SIGKILLed mid-chain (after fetch_chain published its successor; after the
   venue accepted an order, inside submit_order) is restarted, and the chain ends within
   the visibility timeout plus a stated bound, with one order at the venue and one row;
2. Redis restarted without persistence loses the queued chains: the recommendations stay
   dispatched until ``strikeflow recover`` re-drives them through the same
   client_order_ids; a second run changes nothing;
3. a worker killed between the venue's accept and the write (no redelivery within the
   test) is healed by ``strikeflow.recover`` with redrive=False, what beat runs, after
   the market moved: the order is adopted, its row written from the venue's order (its
   id, contract and quantity), not from a new selection.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import kombu.pools
import redis
from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from tests.e2e.chaos_support import (
    CHAOS_APP,
    MONDAY,
    SEED,
    TERMINAL,
    chaos_env,
    strikeflow_recover,
)
from tests.integration.conftest import create_database  # noqa: F401  (fixture)
from tests.integration.emulator import EmulatorHandle
from tests.one_price import ONE_PRICE_ENV

KEY, SECRET = "recovery-key-id", "recovery-secret-key"
VISIBILITY_TIMEOUT_S = 4.0
# A killed chain ends within the visibility timeout plus this: the worker's restart (a
# Celery boot, a few seconds on a loaded 2-core machine) and the chain's tail.
RESTART_BOUND_S = 25.0
NO_REDELIVERY_S = 3600.0  # test 3: the killed submit never comes back within the test
MARKET_MOVES_S = 1800.0
DEADLINE_S = 60.0
POLL_S = 0.1
BROKER, BACKEND, APP = 0, 1, 2  # db numbers on the test's own redis-server


@dataclass
class World:
    url: str
    config: FleetConfig
    fleet: Fleet
    redis_server: RedisServer
    venue: EmulatorHandle
    chaos_dir: Path

    def spec(self, name: str, queues: tuple[str, ...], kills: str = "", **env: str) -> WorkerSpec:
        """A worker of the chaos app on ``queues``, its kill points armed by ``kills``."""
        chaos = chaos_env(self.chaos_dir, kills, max_fires=1, visibility_s=VISIBILITY_TIMEOUT_S)
        return WorkerSpec(name, queues, env={**chaos, **env}, app=CHAOS_APP)

    def store(self, rid: str, ticker="SPY", action="BUY", instrument="CALL", strategy="day_trade"):
        recs = RecommendationRepository(engine_for(self.url))
        recs.insert(manual_recommendation(ticker, action, instrument, strategy, 0.8, "rec", rid))

    def send(self, rid: str) -> None:
        self.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})

    def status(self, rid: str) -> str:
        with engine_for(self.url).connect() as conn:
            query = text("SELECT status FROM recommendations WHERE id = :id")
            return conn.execute(query, {"id": rid}).scalar_one()

    def executions(self, rid: str) -> list[dict]:
        with engine_for(self.url).connect() as conn:
            query = text("SELECT * FROM dispatch_executions WHERE recommendation_id = :id")
            return [dict(row) for row in conn.execute(query, {"id": rid}).mappings()]

    def orders(self, rid: str) -> list[dict]:
        """The venue's audit of every order it accepted for ``rid``'s client_order_id."""
        coid = client_order_id_for(rid)
        return [o for o in self.venue.audit() if o["client_order_id"] == coid]

    def in_broker(self) -> int:
        """Messages Redis holds for the fleet's chains: queued, or delivered and not yet
        acked. Not the signals queue: no worker here scans, and beat sends a scan there
        each minute of New York's session hours (by the wall clock), which would stay."""
        client = redis.Redis(port=self.redis_server.port, db=BROKER, socket_timeout=5)
        try:
            queued = sum(
                client.llen(key)
                for key in client.scan_iter()
                if key != b"signals" and client.type(key) == b"list"
            )
            return queued + client.hlen("unacked")
        finally:
            client.close()

    def queued(self, queue: str) -> int:
        """Messages waiting in one queue (a worker's start sends a sweep to persistence)."""
        client = redis.Redis(port=self.redis_server.port, db=BROKER, socket_timeout=5)
        try:
            return client.llen(queue)
        finally:
            client.close()

    def settled(self, rid: str) -> bool:
        """``rid`` is terminal and nothing more can happen to it: no message left."""
        return self.status(rid) in TERMINAL and self.in_broker() == 0

    def dead(self, name: str) -> bool:
        return not self.fleet.workers[name].alive()

    def restart(self, name: str) -> None:
        """Start a dead worker again with the same spec (its spent kill points stay spent)."""
        dead = self.fleet.workers[name]
        dead.stop()  # reaps it and closes its log
        self.fleet.start(dead.spec)
        self.fleet.wait_ready([name])

    def strikeflow_recover(self, *args: str) -> tuple[int, dict]:
        return strikeflow_recover(self.config, *args, timeout_s=DEADLINE_S)


def wait_for(done: Callable[[], bool], what: str, world: World, deadline_s=DEADLINE_S) -> float:
    """Poll ``done`` until it holds; the monotonic time it did. Fails with the logs."""
    end = time.monotonic() + deadline_s
    while not done():
        if time.monotonic() > end:
            raise AssertionError(world.fleet.report(f"not within {deadline_s} s: {what}"))
        time.sleep(POLL_S)
    return time.monotonic()


@contextlib.contextmanager
def small_fleet(create_database, tmp_path: Path) -> Iterator[World]:  # noqa: F811
    """A migrated PostgreSQL database, a redis-server and the emulator of the test's own;
    everything it started is stopped on the way out, whatever happened."""
    url = create_database("postgresql")
    upgrade(url, "head")
    chaos_dir = tmp_path / "chaos"
    chaos_dir.mkdir()
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer(tmp_path / "redis.log").start()
        stack.callback(redis_server.stop)
        options = EmulatorOptions(
            seed=SEED, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0
        )
        emulator = stack.enter_context(InProcessEmulator(options))
        config = FleetConfig(
            database_url=url,
            emulator_url=emulator.url,
            redis=RedisDbs(broker=BROKER, backend=BACKEND, app=APP, port=redis_server.port),
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
        stack.callback(dispose_all)
        yield World(
            url, config, fleet, redis_server, EmulatorHandle(emulator.url, KEY, SECRET), chaos_dir
        )


def assert_one_order_one_row(world: World, rid: str) -> None:
    """The venue holds one order for ``rid`` and the database one row, of that order."""
    orders, rows = world.orders(rid), world.executions(rid)
    assert len(orders) == 1, orders
    assert len(rows) == 1, rows
    order, row = orders[0], rows[0]
    assert row["broker_order_id"] == order["id"]
    assert row["quantity"] == Decimal(order["qty"])
    if row["instrument_type"] in ("CALL", "PUT"):
        assert row["option_symbol"] == order["symbol"]  # the contract the venue holds
    else:
        assert order["symbol"] == row["ticker"]


def test_a_worker_killed_mid_chain_restarts_and_the_chain_ends_with_one_order(
    create_database,  # noqa: F811
    tmp_path,
    capsys,
):
    with small_fleet(create_database, tmp_path) as world:
        world.fleet.start_workers(
            [
                world.spec("marketdata", ("marketdata",), kills="after_publish@1"),
                world.spec("dispatch", ("dispatch", "persistence")),
                world.spec("orders", ("orders",)),
            ]
        )
        figures = []
        for rid, killed in (
            ("killed-after-publish", "marketdata"),
            ("killed-after-accept", "orders"),
        ):
            if killed == "orders":  # armed only now: the first chain passed through it
                world.fleet.restart("orders", CHAOS_KILLS="after_accept@1")
            world.store(rid)
            world.send(rid)
            died = wait_for(lambda k=killed: world.dead(k), f"{killed} killed", world)
            world.restart(killed)
            ended = wait_for(lambda r=rid: world.settled(r), f"{rid} settled", world)
            took = ended - died
            figures.append(f"{rid}: {world.status(rid)} {took:.1f} s after the kill")
            assert took < VISIBILITY_TIMEOUT_S + RESTART_BOUND_S, figures
            assert world.status(rid) == "executed"
            assert_one_order_one_row(world, rid)
        assert sorted(p.name for p in world.chaos_dir.iterdir()) == [
            "after_accept.0",
            "after_publish.0",
        ]
    with capsys.disabled():
        print(f"\nrecovery, worker killed (visibility {VISIBILITY_TIMEOUT_S:g} s): {figures}")


def test_chains_redis_lost_stay_pending_until_strikeflow_recover_redrives_them(
    create_database,  # noqa: F811
    tmp_path,
    capsys,
):
    rids = ["lost-call", "lost-put", "lost-stock"]
    with small_fleet(create_database, tmp_path) as world:
        world.store(rids[0])
        world.store(rids[1], "QQQ", "SELL", "PUT", "swing_trade")
        world.store(rids[2], "AAPL", "BUY", "STOCK", None)
        # Only the entry's worker runs: each chain's first step waits in Redis.
        world.fleet.start_workers([world.spec("entry", ("dispatch",))])
        for rid in rids:
            world.send(rid)
        wait_for(
            lambda: (
                {world.status(r) for r in rids} == {"dispatched"}
                and world.queued("marketdata") == 3
            ),
            "three chains queued for marketdata",
            world,
        )
        world.fleet.stop()  # every worker, and the fleet's client on the old server
        world.redis_server.stop()
        world.redis_server.start()  # no persistence: the queued chains are gone
        kombu.pools.reset()  # kombu's process-wide producers still hold the old server's
        world.fleet.start_workers(
            [
                world.spec("marketdata", ("marketdata",)),
                world.spec("rest", ("dispatch", "orders", "persistence")),
            ]
        )
        # Nothing left that could move them: the workers' start sweeps find them younger
        # than STRIKEFLOW_STUCK_AFTER_S (they would re-drive them after it, unasked).
        wait_for(lambda: world.in_broker() == 0, "the start sweeps consumed", world)
        assert {world.status(r) for r in rids} == {"dispatched"}
        assert all(world.orders(r) == [] for r in rids)

        started = time.monotonic()
        code, report = world.strikeflow_recover("--min-age", "0")
        assert code == 0, report
        assert sorted(report["redriven"]) == sorted(rids), report
        assert report["adopted"] == report["settled"] == report["unreachable"] == []
        wait_for(lambda: all(world.settled(r) for r in rids), "re-driven chains settled", world)
        took = time.monotonic() - started
        assert {world.status(r) for r in rids} == {"executed"}
        for rid in rids:
            assert_one_order_one_row(world, rid)

        before = (world.venue.audit(), [world.executions(r) for r in rids])
        code, again = world.strikeflow_recover("--min-age", "0")
        assert code == 0, again
        nothing = {"settled": [], "adopted": [], "redriven": [], "unreachable": []}
        assert {k: again[k] for k in nothing} == nothing, again
        assert again["waiting"] == again["in_flight"] == 0, again
        assert world.in_broker() == 0
        assert (world.venue.audit(), [world.executions(r) for r in rids]) == before
    with capsys.disabled():
        print(f"\nrecovery, redis lost its queues: 3 re-driven, settled {took:.1f} s after recover")


def test_an_order_accepted_before_the_worker_died_is_adopted_by_the_beat_walk(
    create_database,  # noqa: F811
    tmp_path,
    capsys,
):
    rid = "accepted-then-killed"
    never = str(NO_REDELIVERY_S)
    with small_fleet(create_database, tmp_path) as world:
        specs = [
            world.spec("marketdata", ("marketdata",), CHAOS_VISIBILITY_TIMEOUT_S=never),
            world.spec("rest", ("dispatch", "persistence"), CHAOS_VISIBILITY_TIMEOUT_S=never),
            world.spec(
                "orders", ("orders",), kills="after_accept@1", CHAOS_VISIBILITY_TIMEOUT_S=never
            ),
        ]
        world.fleet.start_workers(specs)
        world.store(rid)
        world.send(rid)
        wait_for(lambda: world.dead("orders"), "orders worker killed after the accept", world)
        assert len(world.orders(rid)) == 1
        assert world.executions(rid) == []
        world.restart("orders")
        assert world.status(rid) == "dispatched"  # the submit waits for its redelivery
        # The walk comes later (beat: a minute at least); half an hour here, so the market
        # moved and a new selection would pick another strike than the order holds.
        world.venue.advance(seconds=MARKET_MOVES_S)

        started = time.monotonic()
        walk = world.fleet.app.send_task(
            "strikeflow.recover", kwargs={"min_age_s": 0, "redrive": False}
        )
        report = walk.get(timeout=DEADLINE_S)
        took = time.monotonic() - started
        assert report["adopted"] == [rid], report
        assert report["redriven"] == report["unreachable"] == [], report
        # The walk itself wrote the row and the state (no chain, no market read).
        assert world.status(rid) == "executed"
        assert_one_order_one_row(world, rid)
        assert world.executions(rid)[0]["explain_json"]["adopted"]
    with capsys.disabled():
        print(f"\nrecovery, accepted then killed: adopted by the walk in {took * 1000:.0f} ms")
