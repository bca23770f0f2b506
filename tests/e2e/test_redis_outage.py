"""A Redis restart without persistence, with no operator: the lost chains heal.

The fleet's own redis-server restarts, empty, under a running fleet (workers and beat)
with three chains queued for a marketdata worker that is not running yet. Nothing is
run by hand: the workers and beat ride out the restart, beat takes its lock again and
the stuck sweep (beat's, every 5 s with ``STRIKEFLOW_STUCK_AFTER_S=20``; and the
marketdata worker's own at start) re-drives what stayed dispatched past the bound. Each
recommendation ends executed with one order at the venue and one row, within the bound,
a sweep period and a chain's run.
"""

from __future__ import annotations

import time

import redis

from tests.e2e.test_recovery import (
    BROKER,
    DEADLINE_S,
    assert_one_order_one_row,
    small_fleet,
    wait_for,
)
from tests.integration.conftest import create_database  # noqa: F401  (fixture)

STUCK_AFTER_S = 20.0  # above a chain's run under load: a live chain is not re-driven
SWEEP_EVERY_S = 5.0  # beat's floor (workers.beat.SWEEP_EVERY_BOUNDS_S)
CHAIN_S = 30.0  # a chain's run on a loaded 2-core machine (a full suite beside it), with room
STUCK = {"STRIKEFLOW_STUCK_AFTER_S": str(STUCK_AFTER_S)}


def queued_for_marketdata(world) -> int:
    client = redis.Redis(port=world.redis_server.port, db=BROKER, socket_timeout=5)
    try:
        return client.llen("marketdata")
    finally:
        client.close()


def test_chains_lost_in_a_redis_restart_are_redriven_with_no_operator(
    create_database,  # noqa: F811
    tmp_path,
    capsys,
):
    rids = ["outage-call", "outage-put", "outage-stock"]
    with small_fleet(create_database, tmp_path) as world:
        world.store(rids[0])
        world.store(rids[1], "QQQ", "SELL", "PUT", "swing_trade")
        world.store(rids[2], "AAPL", "BUY", "STOCK", None)
        rest = world.spec("rest", ("dispatch", "orders", "persistence"), **STUCK)
        world.fleet.start_workers([rest])
        beat = world.fleet.start_beat(env=STUCK)
        for rid in rids:
            world.send(rid)
        wait_for(
            lambda: (
                {world.status(r) for r in rids} == {"dispatched"}
                # 3, or more once the sweep re-drove them (they wait longer than the bound)
                and queued_for_marketdata(world) >= 3
            ),
            "three chains queued for marketdata",
            world,
        )

        world.redis_server.stop()
        world.redis_server.start()  # no persistence: the queued chains are gone
        lost_at = time.monotonic()
        world.fleet.forget_broker()  # the test's own client knew the old server
        assert queued_for_marketdata(world) == 0
        world.fleet.start_workers([world.spec("marketdata", ("marketdata",), **STUCK)])

        bound = STUCK_AFTER_S + SWEEP_EVERY_S + CHAIN_S
        ended = wait_for(
            lambda: all(world.settled(r) for r in rids), "lost chains re-driven", world, bound
        )
        assert {world.status(r) for r in rids} == {"executed"}
        for rid in rids:
            assert_one_order_one_row(world, rid)
        assert world.fleet.workers["rest"].alive()  # lived through the restart
        assert beat.alive()
        beat_log = beat.log.read_text(errors="replace")
        assert "beat: Retook lock" in beat_log
        logs = "".join(w.log.read_text(errors="replace") for w in world.fleet.workers.values())
        assert "Unrecoverable error" not in logs
        sweeps = logs.count("strikeflow.sweep_stuck[")
    with capsys.disabled():
        print(
            f"\nredis restart without persistence: 3 chains lost, executed"
            f" {ended - lost_at:.1f} s after (bound {bound:g} s), no operator;"
            f" sweep log lines {sweeps}, deadline {DEADLINE_S:g} s"
        )
