"""A worker killed in the middle of a worked order's ladder: one live order at a time, no
duplicate order, nothing left resting, for an entry and for its exit.

The orders worker (tests.e2e.chaos_worker, one pool process) kills itself (SIGKILL, the
whole worker) inside a ``work_order`` step just after the venue replaced the resting
order: the replacing order rests, nothing of the step is recorded, the message is not
acknowledged. The test restarts the worker unarmed; Redis hands the step back after the
visibility timeout; the step finds its own replacing order at the venue by its
client_order_id, records it and goes on. Both ladders run under
STRIKEFLOW_OPTION_ORDER_PRICING=worked with a short policy (three steps a second apart,
held 2-3 s); the emulator's clock stands still unless the test moves it, and nothing
fills inside the spread, so what rests and what fills is the test's choice:

1. an SPY call entry killed at its first replace works on to its end and is canceled:
   the recommendation ends unfilled;
2. a second entry, unarmed, walks to the ask and fills when the test lets time pass;
   its close (``strikeflow.close``) is killed at its first replace the same way, walks
   to the bid, ends marketable and fills: closed quantity = held quantity, P&L realized.

For each ladder, from the venue's audit: every client_order_id once; each replacing order
names the one before it (a single chain, so at most one order rests at any instant:
Alpaca's replace ends the old order as the new one rests); exactly one order of the
entry resting just after the kill; none at the end.

Real processes throughout (the emulator in its own process, the test's own
redis-server, a PostgreSQL database of its own). Polls with deadlines; no sleeps.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from strikeflow.db.engine import engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.workers import Fleet, WorkerSpec
from strikeflow.domain.orders import worked_client_order_id
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.manual_signal import manual_recommendation
from tests.e2e.chaos_support import CHAOS_APP, chaos_env, own_world
from tests.integration.conftest import create_database  # noqa: F401  (fixture)
from tests.integration.emulator import EmulatorHandle, poll

KEY, SECRET = "worked-kill-key", "worked-kill-secret"
VISIBILITY_TIMEOUT_S = 6
DEADLINE_S = 30.0
ORDERS = "kill-orders"
RULES = """
[working.day_trade.entry]
start_toward_far = 0
steps = 3
interval_s = 1
final_toward_far = 1
max_slippage_pct = "off"
hold_s = 3
end = "cancel"
max_move_pct = "off"

[working.day_trade.exit]
start_toward_far = 0
steps = 3
interval_s = 1
final_toward_far = 1
max_slippage_pct = "off"
hold_s = 2
end = "marketable"
max_move_pct = "off"
"""


def until(what, fetch, ready):
    """``emulator.poll`` with this test's deadline, naming what it waits for."""
    return poll(fetch, ready, DEADLINE_S, what)


def specs(chaos_dir: Path) -> list[WorkerSpec]:
    """The orders worker armed to die at its first replace; the rest of the fleet."""
    env = chaos_env(chaos_dir, "after_replace@1", max_fires=1, visibility_s=VISIBILITY_TIMEOUT_S)
    rest = ("marketdata", "dispatch", "persistence")
    return [
        WorkerSpec(ORDERS, ("orders",), concurrency=1, env=env, app=CHAOS_APP),
        WorkerSpec("kill-rest", rest, concurrency=2, env=env, app=CHAOS_APP),
    ]


def row(url: str, client_order_id: str) -> dict | None:
    with engine_for(url).connect() as conn:
        found = conn.execute(
            text(
                "SELECT id, status, quantity, filled_qty, realized_pnl, closes_execution_id,"
                " explain_json FROM dispatch_executions WHERE client_order_id = :cid"
            ),
            {"cid": client_order_id},
        ).mappings()
        rows = [dict(r) for r in found]
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def status_of(url: str, rid: str) -> str | None:
    with engine_for(url).connect() as conn:
        return conn.execute(
            text("SELECT status FROM recommendations WHERE id = :id"), {"id": rid}
        ).scalar_one_or_none()


def chain(venue: EmulatorHandle, cid: str) -> list[dict]:
    """The venue's orders of one worked order, in acceptance order."""
    return [o for o in venue.audit() if o["client_order_id"].startswith(cid)]


def resting(venue: EmulatorHandle, cid: str) -> list[dict]:
    reply = venue.session.get(f"{venue.url}/v2/orders", params={"status": "open"}, timeout=10)
    reply.raise_for_status()
    return [o for o in reply.json() if o["client_order_id"].startswith(cid)]


def killed_and_back(fleet: Fleet, venue: EmulatorHandle, cid: str, marker: Path) -> int:
    """The orders worker killed itself after a replace: exactly one order of ``cid``
    rests; it is restarted unarmed. The number of orders the chain had then."""
    until("the orders worker killed at a replace", marker.exists, bool)
    until("the orders worker gone", lambda: fleet.workers[ORDERS].alive(), lambda a: not a)
    assert len(resting(venue, cid)) == 1, resting(venue, cid)
    orders = len(chain(venue, cid))
    assert orders == 2, chain(venue, cid)  # the first order and the one replacing it
    fleet.restart(ORDERS, CHAOS_KILLS="")
    return orders


def assert_one_chain(orders: list[dict], cid: str, steps: int) -> None:
    """Every client_order_id once, the step ids in order, each order replacing the one
    before it: never two orders resting for one entry."""
    per_cid = Counter(o["client_order_id"] for o in orders)
    assert all(n == 1 for n in per_cid.values()), per_cid  # no duplicate order
    expected = [cid] + [worked_client_order_id(cid, step) for step in range(1, steps + 1)]
    assert [o["client_order_id"] for o in orders] == expected
    assert [o.get("replaces") for o in orders[1:]] == [o["id"] for o in orders[:-1]]


def test_worker_kills_mid_ladder_for_an_entry_and_its_exit(
    create_database,  # noqa: F811
    tmp_path,
    capsys,
):
    url = create_database("postgresql")
    upgrade(url, "head")
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    env = {
        "STRIKEFLOW_OPTION_ORDER_PRICING": "worked",
        "STRIKEFLOW_RULES_FILE": str(rules),
        "STRIKEFLOW_RETRY_DEADLINE_S": "10",
    }
    recs = RecommendationRepository(engine_for(url))
    with own_world(url, tmp_path, (KEY, SECRET), env, inside_fill_rate=0.0) as world:
        _, fleet, venue = world
        first_dir, exit_dir = tmp_path / "chaos-entry", tmp_path / "chaos-exit"
        first_dir.mkdir()
        exit_dir.mkdir()
        fleet.start_workers(specs(first_dir))

        # 1. An entry killed at its first replace works on to its end, canceled.
        recs.insert(manual_recommendation("SPY", "BUY", "CALL", "day_trade", 0.5, "kill", "wk-1"))
        fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": "wk-1"})
        cid = order_id_of("wk-1")
        killed_and_back(fleet, venue, cid, first_dir / "after_replace.0")
        until("the entry unfilled", lambda: status_of(url, "wk-1"), "unfilled".__eq__)
        entry_orders = chain(venue, cid)
        assert_one_chain(entry_orders, cid, steps=2)
        assert resting(venue, cid) == []
        canceled = row(url, cid)
        assert canceled["status"] == "canceled", canceled
        steps = [s["step"] for s in canceled["explain_json"]["work"]["steps"]]
        assert steps == sorted(set(steps)), steps  # each step recorded once

        # 2. An entry that fills (unarmed), then its close killed at its first replace.
        recs.insert(manual_recommendation("SPY", "BUY", "CALL", "day_trade", 0.5, "kill", "wk-2"))
        fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": "wk-2"})
        entry_cid = order_id_of("wk-2")
        until(
            "the entry at the ask", lambda: len(chain(venue, entry_cid)), lambda n: n >= 3
        )  # resting at the far side: it fills once the clock moves past the fill delay
        venue.advance(seconds=2)
        entry = until(
            "the entry filled",
            lambda: _reconciled(fleet, url, entry_cid),
            lambda r: r is not None and r["status"] == "filled",
        )
        fleet.restart(ORDERS, CHAOS_KILLS="after_replace@1", CHAOS_DIR=str(exit_dir))
        fleet.app.send_task("strikeflow.close", kwargs={"execution_id": entry["id"]}).get(
            timeout=DEADLINE_S
        )
        close_cid = order_id_of(f"close-{entry['id']}-1")
        killed_and_back(fleet, venue, close_cid, exit_dir / "after_replace.0")
        until(
            "the close at its marketable end",
            lambda: len(chain(venue, close_cid)),
            lambda n: n >= 4,  # the first order, 2 steps, the marketable end
        )
        venue.advance(seconds=2)
        close = until(
            "the close filled",
            lambda: _reconciled(fleet, url, close_cid),
            lambda r: r is not None and r["status"] == "filled",
        )
        close_orders = chain(venue, close_cid)
        assert_one_chain(close_orders, close_cid, steps=3)
        assert all(o["side"] == "sell" for o in close_orders)
        assert close["filled_qty"] == entry["filled_qty"]  # no over-close, nothing left
        assert close["closes_execution_id"] == entry["id"]
        assert close["realized_pnl"] is not None
        assert resting(venue, entry_cid) == resting(venue, close_cid) == []
        reply = venue.session.get(f"{venue.url}/v2/positions", timeout=10)
        reply.raise_for_status()
        assert reply.json() == []  # flat at the venue
        alive = sorted(name for name, w in fleet.workers.items() if w.alive())
        assert alive == sorted(fleet.workers), alive
    line = (
        f"worked ladders under worker kills: entry killed at step 1, {len(entry_orders)}"
        f" orders in one chain, canceled, unfilled; close killed at step 1,"
        f" {len(close_orders)} orders in one chain, filled"
        f" {Decimal(close['filled_qty']).normalize():f} of"
        f" {Decimal(entry['filled_qty']).normalize():f}; duplicates 0, resting 0"
    )
    with capsys.disabled():
        print("\n" + line)


def _reconciled(fleet: Fleet, url: str, client_order_id: str) -> dict | None:
    fleet.app.send_task("strikeflow.reconcile_orders").get(timeout=DEADLINE_S)
    return row(url, client_order_id)
