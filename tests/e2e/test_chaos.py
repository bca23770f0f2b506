"""Chaos: 300 recommendations through a real fleet while everything breaks.

Workers on every queue (real processes, tests.e2e.chaos_worker: the real app with kill
points), the emulator in its own process with 5xx, 429, commit-then-fail and latency past
the HTTP timeout, the test's own redis-server (restarted once, losing every queue), and a
PostgreSQL database that refuses connections for a few seconds. Workers die at chosen
points (after fetch_chain published its successor; after the venue accepted an order,
inside submit_order; after the execution row was committed, inside persist_execution) and
at random, and come back. ``strikeflow recover`` re-drives what was lost (the Redis
restart, a lookup the venue did not answer) whenever the fleet stops working on what is
left: the broker holds nothing, or only a few retry countdowns.

Afterwards: at most one order per client_order_id at the venue, every recommendation in
exactly one terminal state, every order the venue accepted with exactly one execution
row, and the three views in agreement with the executions.

Then the exits, under the same faults and random kills: the clock moves past the day
trades' time exit (15:10 New York) and ``strikeflow.manage_positions`` is sent for each
of several minutes, twice a minute (two beats), while the same entries are also asked to
close by hand. Afterwards: still at most one order per client_order_id, no entry closed
for more than it holds, every day trade flat, and ``strikeflow positions --check`` finds
the book equal to the venue's positions. The figures of both phases are printed on one
line (docs/operations.md quotes it).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.reports import ReportQueries
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import SubprocessEmulator, free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from tests.e2e.chaos_support import (
    CHAOS_APP,
    MONDAY,
    REPO,
    SEED,
    TERMINAL,
    Killer,
    broker_holds,
    chaos_env,
    refuse_connections,
    strikeflow_json,
    strikeflow_recover,
)
from tests.integration.conftest import ADMIN_URL, create_database  # noqa: F401  (fixture)
from tests.integration.emulator import EmulatorHandle
from tests.one_price import ONE_PRICE_ENV

KEY, SECRET = "chaos-key-id", "chaos-secret-key"
RECOMMENDATIONS = 300
RUN_DEADLINE_S = 285.0  # the whole chaos phase, recovery included
VISIBILITY_TIMEOUT_S = 6
# An operator's recover, run when the fleet has stopped working on what is left: the
# broker holds no message (none queued, none delivered and unacknowledged: every task
# acks late, so a running step, a retry in its countdown and a dead worker's step before
# the visibility timeout all count) for IDLE_S; or it holds at most NEARLY_IDLE_HELD,
# fewer than the recommendations not terminal, and nothing moved for QUIET_S: those few
# are steps waiting out a retry countdown, the rest is lost (the Redis restart; a chain
# whose venue lookup the last recover could not make, exit 3: run it again).
IDLE_S = 0.5
NEARLY_IDLE_HELD = 3
QUIET_S = 2.0
# Its --min-age 0: every recommendation not terminal is taken, a chain in its retry
# countdown included. Re-driving a chain still in flight is harmless by design
# (client_order_id derived from the recommendation, lookup before submit, upsert on it,
# terminal states kept): the duplicates and one-row assertions below prove it.
RECOVER_MIN_AGE_S = 0
# And whatever the broker holds, when nothing moved for several times the longest retry
# countdown (10 s): a safety net, not the expected path.
STALL_S = 35.0
POLL_S = 0.25
# Random kills every 2-4 s from the first send, of a worker up for a few seconds: the
# 10 the test requires land while the recommendations are sent and flow, not in a
# quiet tail.
KILL_EVERY_S = (2.0, 4.0)
RANDOM_KILLS = 10
KILLS = "after_publish@7,after_accept@9,in_persist@11"
# The exits: past the day trades' time exit (15:10 New York by default), minutes of
# manage_positions under the same faults and random kills, within their own deadline.
EXITS_AT = MONDAY.replace(hour=15, minute=11)
EXIT_MINUTES = 4
EXIT_KILLS = 4
EXITS_DEADLINE_S = 150.0
CALM_MINUTES = 3  # beat's next minutes, with no faults: what an exit lost is decided again
ENDED = frozenset(s.value for s in RecommendationStatus if s.terminal)
OPEN = frozenset({"submitted", "accepted", "partially_filled"})  # orders that may still fill
MIX = (  # a quarter each CALL and PUT, half STOCK; the stock sells close what was bought
    ("SPY", "BUY", "CALL", "day_trade"),
    ("AAPL", "BUY", "STOCK", None),
    ("QQQ", "SELL", "PUT", "day_trade"),
    ("AAPL", "SELL", "STOCK", None),
    ("QQQ", "BUY", "CALL", "swing_trade"),
    ("MSFT", "BUY", "STOCK", None),
    ("SPY", "SELL", "PUT", "day_trade"),
    ("MSFT", "SELL", "STOCK", None),
)
TIMELINE = Path("/tmp/strikeflow-chaos-timeline.log")  # progress, for a failed run
REASONS = Path("/tmp/strikeflow-chaos-reasons.txt")  # outcomes and reasons, counted


def worker_specs(chaos_dir: Path) -> list[WorkerSpec]:
    env = chaos_env(chaos_dir, KILLS, max_fires=2, visibility_s=VISIBILITY_TIMEOUT_S)
    return [
        WorkerSpec(f"chaos-{queue}", (queue,), concurrency=2, env=env, app=CHAOS_APP)
        for queue in ("marketdata", "dispatch", "orders", "persistence")
    ]


def statuses(url: str) -> Counter[str]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM recommendations GROUP BY status"))
        return Counter(dict(rows.all()))


def send(fleet: Fleet, rid: str, deadline_s: float = 30.0, task: str = "strikeflow.dispatch",
         **kwargs: object) -> None:  # fmt: skip
    """Send the entry task (or ``task`` with ``kwargs``), through a Redis that may be
    restarting."""
    end = time.monotonic() + deadline_s
    arguments = kwargs or {"recommendation_id": rid}
    while True:
        try:
            fleet.app.send_task(task, kwargs=arguments)
            return
        except Exception:  # kombu's connection errors vary; the deadline bounds it
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def recover(config: FleetConfig, min_age_s: float) -> dict:
    return strikeflow_recover(config, "--min-age", str(min_age_s))[1]


@contextlib.contextmanager
def chaos_world(url: str, tmp_path: Path) -> Iterator[tuple[FleetConfig, Fleet, RedisServer]]:
    """The test's own redis-server, the emulator in its own process, the fleet's config;
    everything stopped on the way out, whatever happened."""
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer(tmp_path / "redis.log").start()
        stack.callback(lambda: redis_server.stop())
        options = EmulatorOptions(
            seed=SEED, clock="sim", start=MONDAY, api_key=KEY, secret_key=SECRET,
            fill_delay_s=1.0,
            cash=10_000_000_000,  # sizing takes 3-18 % of what is left, each trade
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
                "STRIKEFLOW_ALPACA_READ_TIMEOUT_S": "1.0",
                "STRIKEFLOW_ALPACA_CONNECT_TIMEOUT_S": "1.0",
                "STRIKEFLOW_RISK_MAX_OPEN_POSITIONS": "0",
                "STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER": "0",
                # positions of millions of shares: one round trip's spread is past any
                # daily loss limit, which would refuse every entry after the first closes
                "STRIKEFLOW_RISK_MAX_DAILY_REALIZED_LOSS": "0",
            },
        )
        fleet = stack.enter_context(Fleet(config))
        stack.callback(dispose_all)
        yield config, fleet, redis_server


def store_recommendations(url: str) -> list[str]:
    store = RecommendationRepository(engine_for(url))
    rids = []
    for i in range(RECOMMENDATIONS):
        ticker, action, instrument, strategy = MIX[i % len(MIX)]
        rid = f"chaos-{i:03d}"
        store.insert(manual_recommendation(ticker, action, instrument, strategy, 0.8, "chaos", rid))
        rids.append(rid)
    return rids


def test_chaos_nothing_duplicated_nothing_lost(create_database, tmp_path, capsys):  # noqa: F811
    started = time.monotonic()
    url = create_database("postgresql")
    upgrade(url, "head")
    chaos_dir = tmp_path / "chaos"
    chaos_dir.mkdir()
    with chaos_world(url, tmp_path) as (config, fleet, redis_server):
        venue = EmulatorHandle(config.emulator_url, KEY, SECRET)
        fleet.start_workers(worker_specs(chaos_dir))
        rids = store_recommendations(url)
        venue.faults(
            error_5xx=0.10, rate_limit=0.05, commit_then_fail=0.05,
            latency=0.03, latency_mean_ms=1500, latency_max_ms=2500,
        )  # fmt: skip
        killer = Killer(fleet, seed=SEED, every_s=KILL_EVERY_S, max_random_kills=RANDOM_KILLS)
        killer.start()
        outage = ThreadPoolExecutor(1, thread_name_prefix="chaos-pg-outage")
        try:
            pg_outage = None
            for i, rid in enumerate(rids):
                send(fleet, rid)
                if i == RECOMMENDATIONS // 3:  # beside the stream, which goes on meanwhile
                    database = make_url(url).database
                    pg_outage = outage.submit(refuse_connections, ADMIN_URL, database, 3)
                if i == 2 * RECOMMENDATIONS // 3:
                    redis_server.stop()  # no persistence: every queue and result is gone
                    redis_server.start()
                if i % 10 == 9:
                    venue.advance(seconds=1)  # fills come with simulated time, at the wall's pace
                    time.sleep(0.1)  # the pace of a steady stream, not a synchronisation
            pg_ended = pg_outage.result(timeout=60) if pg_outage else 0
            recovered = settle(config, url, venue, killer, started)
        finally:
            killer.stop()
            outage.shutdown(wait=True)
        # Calm: no more kills or faults; the fills come and reconcile records them.
        venue.faults(error_5xx=0, rate_limit=0, commit_then_fail=0, latency=0)
        venue.advance(seconds=600)
        fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=60)
        final = statuses(url)
        REASONS.write_text("\n".join(f"{n:4d} {r}" for r, n in reasons_of(url).most_common()))
        assert sum(final[s] for s in TERMINAL) == RECOMMENDATIONS, (final, f"see {REASONS}")
        audit = venue.audit()

        per_id = Counter(order["client_order_id"] for order in audit)
        duplicates = sum(n - 1 for n in per_id.values() if n > 1)
        with engine_for(url).connect() as conn:
            recorded = Counter(
                conn.execute(text("SELECT client_order_id FROM dispatch_executions")).scalars()
            )
            refused = conn.execute(
                text(
                    "SELECT status, status_reason FROM recommendations"
                    " WHERE status IN ('failed', 'rejected')"
                )
            ).all()
            kinds = Counter(f"{status} {failure_kind(reason)}" for status, reason in refused)
        lost = sorted(set(per_id) - set(recorded))
        point_kills = sorted(p.name for p in chaos_dir.iterdir())

        assert duplicates == 0, [c for c, n in per_id.items() if n > 1]
        assert lost == [], f"accepted by the venue, no execution row: {lost[:10]}"
        assert set(recorded.values()) == {1}
        assert unlinked_closes(url) == []  # a stock sell adopted by recover included
        points = {p.split(".")[0] for p in point_kills}
        assert points == {"after_publish", "after_accept", "in_persist"}
        assert killer.random_kills >= RANDOM_KILLS
        assert pg_ended > 0  # the outage met live connections
        check_views(url)
        entries_s = time.monotonic() - started

        exits = run_exits(config, fleet, url, venue)
    check_views(url)
    line = (
        f"chaos: sent {RECOMMENDATIONS}, orders {len(audit)}, duplicates {duplicates},"
        f" lost {len(lost)}, outcomes {dict(sorted(final.items()))}, refusals and failures"
        f" {dict(sorted(kinds.items()))}, kills {len(point_kills)} at points +"
        f" {killer.random_kills} random, restarts {killer.restarts}, 1 redis restart,"
        f" {pg_ended} pg backends terminated, recover runs {len(recovered)} (re-driven"
        f" {sum(len(r['redriven']) for r in recovered)}), {entries_s:.0f} s; exits:"
        f" {exits}; {time.monotonic() - started:.0f} s in all"
    )
    (REPO / ".chaos-figures.txt").write_text(line + "\n")
    with capsys.disabled():
        print("\n" + line)


def settle(
    config: FleetConfig,
    url: str,
    venue: EmulatorHandle,
    killer: Killer,
    started: float,
    deadline_s: float = RUN_DEADLINE_S,
):
    """Until every recommendation is terminal (and the random kills are done), with
    ``strikeflow recover`` run whenever the fleet has stopped working on what is left
    (see IDLE_S): it re-drives what was lost and lists what it could not ask the venue
    about, for the next run. Returns the recover reports."""
    recovered: list[dict] = []
    last, last_change = None, time.monotonic()
    with TIMELINE.open("a") as timeline:  # read when a run fails
        print(f"--- {datetime.now(UTC):%H:%M:%S} {RECOMMENDATIONS} sent", file=timeline)
        while time.monotonic() - started < deadline_s:
            now, held = statuses(url), broker_holds(config)
            elapsed = time.monotonic() - started
            print(f"{elapsed:6.1f} {dict(now)} held {held} {killer.log[-1:]}", file=timeline)
            left = sum(now.values()) - sum(now[s] for s in ENDED)
            if left == 0 and killer.random_kills >= killer.max_random_kills:
                break
            if (now, held) != last:
                last, last_change = (now, held), time.monotonic()
            still = time.monotonic() - last_change
            idle = held == 0 and still >= IDLE_S
            nearly_idle = held <= NEARLY_IDLE_HELD and still >= QUIET_S
            lost = left > held  # a chain in flight holds at least one message
            if left > 0 and (((idle or nearly_idle) and lost) or still > STALL_S):
                recovered.append(recover(config, min_age_s=RECOVER_MIN_AGE_S))
                print(f"recover: {recovered[-1]}", file=timeline)
                last = None
            venue.advance(seconds=POLL_S)  # simulated time at the wall's pace: quotes stay fresh
            time.sleep(POLL_S)  # the poll's period; the loop's deadline bounds it
    killer.stop_killing()
    return recovered


def run_exits(config: FleetConfig, fleet: Fleet, url: str, venue: EmulatorHandle) -> str:
    """The exit phase (see the module's docstring); its figures, as one line's part."""
    started = time.monotonic()
    day_trades = held_entries(url, "day_trade")
    assert len(day_trades) >= 10, day_trades  # enough open day trades to exit under chaos
    venue.advance(to=EXITS_AT.isoformat())
    venue.faults(error_5xx=0.10, rate_limit=0.05, commit_then_fail=0.05)
    killer = Killer(fleet, seed=SEED + 1, every_s=KILL_EVERY_S, max_random_kills=EXIT_KILLS)
    killer.start()
    try:
        for minute in range(EXIT_MINUTES):
            at = (EXITS_AT + timedelta(minutes=minute)).isoformat()
            for _ in range(2):  # a second beat of the same minute decides nothing more
                send(fleet, "", task="strikeflow.manage_positions", at=at)
            if minute == 0:  # a person asks too, for the same entries
                for entry_id in sorted(day_trades)[::3]:
                    send(fleet, "", task="strikeflow.close", execution_id=entry_id)
            venue.advance(seconds=60)
        recovered = settle(config, url, venue, killer, started, EXITS_DEADLINE_S)
    finally:
        killer.stop()
    venue.faults(error_5xx=0, rate_limit=0, commit_then_fail=0)
    venue.advance(seconds=120)
    fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=60)
    # Calm: the next minute's beat, as in production, decides again for any day trade
    # whose exit ended without a close resting (refused or failed under the faults).
    again = unexited(url, day_trades)
    calm_minutes = 0
    calm = Killer(fleet, seed=SEED + 2, max_random_kills=0)  # restarts, never kills
    calm.start()
    try:
        while unexited(url, day_trades) and calm_minutes < CALM_MINUTES:
            with TIMELINE.open("a") as timeline:  # why, for whoever reads a run
                left = unexited(url, day_trades)
                print(f"exits to decide again: {[(e, close_reasons(url, e)) for e in left]}",
                      file=timeline)  # fmt: skip
            calm_minutes += 1
            at = venue.advance(seconds=60)["timestamp"]  # the next minute, the venue's
            outcome = fleet.app.send_task("strikeflow.manage_positions", kwargs={"at": at}).get(
                timeout=120
            )
            with TIMELINE.open("a") as timeline:
                print(f"calm minute: {outcome}"[:2000], file=timeline)
            recovered += settle(config, url, venue, calm, time.monotonic(), EXITS_DEADLINE_S)
            venue.advance(seconds=30)
            fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=60)
    finally:
        calm.stop()

    per_id = Counter(order["client_order_id"] for order in venue.audit())
    duplicates = sorted(c for c, n in per_id.items() if n > 1)
    assert duplicates == [], duplicates
    with engine_for(url).connect() as conn:
        rows = set(conn.execute(text("SELECT client_order_id FROM dispatch_executions")).scalars())
    lost = sorted(set(per_id) - rows)
    assert lost == [], f"accepted by the venue, no execution row: {lost[:10]}"
    closes, over = closed_quantities(url)
    assert over == [], f"closed for more than they hold: {over}"
    unlinked = unlinked_closes(url)  # what the book could not take back from its entry
    assert unlinked == [], f"close rows linked to no entry: {unlinked[:10]}"
    # Each day trade is flat, or its exit rests at the venue for all that is left (a
    # contract with no bid cannot be sold; it expires at the close, the venue's to end).
    not_exited = unexited(url, day_trades)
    assert not_exited == [], [(e, close_reasons(url, e)) for e in not_exited]
    flat = len(set(day_trades) - set(held_entries(url, "day_trade")))
    out_of_step = fills_out_of_step(url, venue)  # what the book is made of, row by row
    assert out_of_step == [], out_of_step[:10]
    stand_ins = simulated_at_venue(url, per_id)
    assert stand_ins == [], f"simulated fills of orders the venue holds: {stand_ins[:10]}"
    refused = refused_at_venue(url, per_id)
    assert refused == [], f"refused submits whose order the venue holds: {refused[:10]}"
    code, book = strikeflow_json(config, "positions", "--check", answers=(0, 1))
    assert book["differences"] == []
    assert code == 0
    return (
        f"{len(day_trades)} day trades exited ({flat} flat, the rest resting at the venue),"
        f" close orders {len(closes)}, duplicates 0,"
        f" over-closed 0, book = venue ({len(book['positions'])} positions),"
        f" kills {killer.random_kills} random, restarts {killer.restarts},"
        f" decided again in {calm_minutes} calm minutes {len(again)},"
        f" recover runs {len(recovered)}, {time.monotonic() - started:.0f} s"
    )


def held_entries(url: str, strategy: str) -> dict[int, Decimal]:
    """The option entries of ``strategy`` at the venue still holding something after
    their closes: execution id -> what is left."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT * FROM dispatch_executions")).mappings().all()
    closed: Counter[int] = Counter()
    for r in rows:
        if r["position_effect"] == "CLOSE":
            closed[r["closes_execution_id"]] += held_qty(r)
    left = {
        r["id"]: held_qty(r) - closed[r["id"]]
        for r in rows
        if r["position_effect"] == "OPEN"
        and r["instrument_type"] != "STOCK"
        and r["strategy_type"] == strategy
        and r["broker"] == "alpaca"  # a simulated fill (the fallback) is held nowhere
    }
    return {entry: qty for entry, qty in left.items() if qty > 0}


def unexited(url: str, day_trades: dict[int, Decimal]) -> list[int]:
    """The day trades neither flat nor with an exit resting at the venue for the rest."""
    left, resting = held_entries(url, "day_trade"), resting_closes(url)
    return sorted(e for e in set(left) & set(day_trades) if resting[e] != left[e])


def close_reasons(url: str, entry_id: int) -> list[tuple[str, str, str | None]]:
    """How the close recommendations of an entry ended: (id, status, reason)."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, status_reason FROM recommendations WHERE id LIKE :ids"),
            {"ids": f"close-{entry_id}-%"},
        ).all()
    return [tuple(row) for row in rows]


def resting_closes(url: str) -> Counter[int]:
    """What the close orders still open at the venue may yet sell, per entry."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT * FROM dispatch_executions")).mappings().all()
    resting: Counter[int] = Counter()
    for r in rows:
        if r["position_effect"] == "CLOSE" and r["status"] in OPEN:
            resting[r["closes_execution_id"]] += Decimal(r["quantity"]) - held_qty(r)
    return resting


def closed_quantities(url: str) -> tuple[list[str], list[int]]:
    """The close orders' client_order_ids, and the entries their fills closed for more
    than the entry holds."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT * FROM dispatch_executions")).mappings().all()
    held = {r["id"]: held_qty(r) for r in rows if r["position_effect"] == "OPEN"}
    closed: Counter[int] = Counter()
    closes = []
    for r in rows:
        if r["position_effect"] == "CLOSE":
            closes.append(r["client_order_id"])
            if r["closes_execution_id"] is not None:  # unlinked_closes: never
                closed[r["closes_execution_id"]] += held_qty(r)
    return closes, sorted(e for e, qty in closed.items() if qty > held.get(e, Decimal(0)))


def fills_out_of_step(url: str, venue: EmulatorHandle) -> list[dict]:
    """The rows whose status or filled quantity is not their order's at the venue, once
    reconcile_orders has run on a still clock: each with both sides."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT client_order_id, position_effect, status, quantity, filled_qty"
                " FROM dispatch_executions WHERE execution_mode <> 'SIMULATED'"
                " AND broker_order_id IS NOT NULL"
            )
        ).mappings()
        rows = [dict(r) for r in rows]
    found = []
    for row in rows:
        reply = venue.session.get(
            f"{venue.url}/v2/orders:by_client_order_id",
            params={"client_order_id": row["client_order_id"]},
            timeout=10,
        )
        reply.raise_for_status()
        order = reply.json()
        ours = held_qty(row)
        if ours != Decimal(order["filled_qty"] or 0):
            found.append(
                {**row, "venue_status": order["status"], "venue_filled": order["filled_qty"]}
            )
    return found


def simulated_at_venue(url: str, at_venue: Counter[str]) -> list[str]:
    """The rows the fallback simulated (the venue unreachable past submit_order's retry
    budget) whose client_order_id the venue accepted all the same (a submit that reached
    it and lost its answer): the book leaves them out, the venue holds them."""
    with engine_for(url).connect() as conn:
        simulated = conn.execute(
            text(
                "SELECT client_order_id FROM dispatch_executions WHERE execution_mode = 'SIMULATED'"
            )
        ).scalars()
        return sorted(c for c in simulated if c in at_venue)


def refused_at_venue(url: str, at_venue: Counter[str]) -> list[str]:
    """The rows of a submit the venue refused (no venue order id) whose client_order_id
    the venue holds an order for all the same: an earlier attempt, slower than the HTTP
    timeout, that landed after its retry was refused. The book counts the refusal (no
    fill), the venue the order."""
    with engine_for(url).connect() as conn:
        refused = conn.execute(
            text(
                "SELECT client_order_id FROM dispatch_executions"
                " WHERE broker_order_id IS NULL AND execution_mode <> 'SIMULATED'"
            )
        ).scalars()
        return sorted(c for c in refused if c in at_venue)


def unlinked_closes(url: str) -> list[str]:
    """The close rows that name no entry (client_order_ids): strikeflow sells only what
    an entry of its own holds, and the book takes a close back from that entry alone."""
    with engine_for(url).connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT client_order_id FROM dispatch_executions"
                    " WHERE position_effect = 'CLOSE' AND closes_execution_id IS NULL"
                )
            ).scalars()
        )


def reasons_of(url: str) -> Counter[str]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT status, status_reason FROM recommendations")).all()
    return Counter(f"{status}: {(reason or '')[:110]}" for status, reason in rows)


def failure_kind(reason: str | None) -> str:
    """The exception class in a refused or failed recommendation's reason
    (``kind: task: ExceptionClass: message``), or the reason's first word."""
    parts = [p.strip() for p in (reason or "").split(":")]
    named = [p for p in parts[:4] if p[:1].isupper() and p.isidentifier()]
    return named[0] if named else parts[0] or "unknown"


def held_qty(row) -> Decimal:
    """What a row's order filled: ``filled_qty``, or all of it for a row ``filled`` that
    does not say (the views' own reading)."""
    if row["filled_qty"] is not None:
        return Decimal(row["filled_qty"])
    return Decimal(row["quantity"]) if row["status"] == "filled" else Decimal(0)


def check_views(url: str) -> None:
    """The three views against the executions, recomputed here in Python."""
    views = ReportQueries(engine_for(url))
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT * FROM dispatch_executions")).mappings().all()
    options = [r for r in rows if r["instrument_type"] in ("CALL", "PUT")]
    today = datetime.now(UTC).date()
    closed: Counter[int] = Counter()  # what the closes linked to an entry filled
    for r in options:
        if r["position_effect"] == "CLOSE":
            closed[r["closes_execution_id"]] += held_qty(r)
    active = {
        r["id"]
        for r in options
        if r["position_effect"] == "OPEN"
        and held_qty(r) - closed[r["id"]] > 0  # a partial fill, canceled or expired, holds too
        and r["expiration_date"] >= today
    }
    assert {r["execution_id"] for r in views.view("active_options_positions")} == active
    expected: dict[tuple[str, str], Counter[str]] = {}
    for r in options:
        day = expected.setdefault((str(r["trading_day"]), r["instrument_type"]), Counter())
        day["executions"] += 1
        day["contracts"] += r["contracts"] or 0
        day["fills"] += held_qty(r) > 0
        day["rejections"] += r["status"] == "rejected"
    summary = {
        (str(v["trading_day"]), v["instrument_type"]): Counter(
            {k: int(v[k]) for k in ("executions", "contracts", "fills", "rejections")}
        )
        for v in views.view("daily_options_summary")
    }
    assert summary == expected
    closes = sum(r["position_effect"] == "CLOSE" and held_qty(r) > 0 for r in options)
    assert sum(v["trades"] for v in views.view("options_performance_by_strategy")) == closes
