"""Worked option entries against marketable limits at the ask, on the same quotes.

Run: .venv/bin/python benchmarks/bench_execution.py [entries] [--seed S] [--window S]
[--rules FILE] (a rules file whose [working] policies to try instead of the shipped ones)

Two arms, each on its own emulator (in this process, simulated time) started from the
same seed at the same instant, so both see the same market second by second, and each
with its own SQLite database:

- ``worked``: STRIKEFLOW_OPTION_ORDER_PRICING=worked under the shipped working policies
  (the packaged rules file: a day trade from the mid in 5 steps 10 s apart to the ask,
  never 5 % of the mid above it, held 60 s, then canceled; a swing trade 4 steps of 15 s
  to three quarters of the way, held 60 s);
- ``marketable``: one limit at the ask (``marketable_limit``).

The signals cycle SPY CALL, QQQ PUT, AAPL CALL, MSFT PUT, NVDA CALL, IWM PUT (a put on
a SELL signal), day trades with every fourth a swing trade, one a minute from 10:00 New
York on a Thursday, until ``entries`` of them (200 by default) are option orders at the
venue (a signal with no liquid contract falls back to stock and is not counted). Each
goes through the real dispatch steps in this process (fetch_chain to submit_order:
``steps_in_process.place``, then persist_execution) over alpaca-py and HTTP; each worked
step (``working_orders.work_step``, the body of the ``strikeflow.work_order`` task) runs
at its countdown's instant of simulated time. The venue's clock moves one second at a
time in between, and the venue judges its resting orders every second: a limit at or
through the far side fills after the fill delay (1 s), one inside the spread by the
seeded model of ``sim.venue_fills.InsideFills`` (the figures depend on it: see
docs/performance.md), partial fills at one in ten. Sizing is 0.2 % of buying power an
entry, so that 200 entries fit one $1M account.

Reported per arm, from the venue's own orders: the share of entries filled in full
within the window (120 s from the first order by default), the mean price improvement
against the ask at decision as a share of the half-spread there (over the entries with a
fill; negative when a step chased a market that moved up), in dollars, the median time
from the first order to the last fill, the replaces per entry, and why unfilled entries
ended. Targets (worked arm, on the emulator's model): at least 95 % filled within 2
minutes, at least 40 % of the half-spread saved on average. Exit status 1 when missed.
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from steps_in_process import place

from strikeflow import bootstrap
from strikeflow.bootstrap import Runtime, build_runtime
from strikeflow.config import Settings
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import DispatchRejected
from strikeflow.domain.sizing import FractionRange, SizingPolicy
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.services.outcomes import persist_execution
from strikeflow.services.working_orders import NextStep, first_step, work_step
from strikeflow.sim.serve import EmulatorOptions, EmulatorServer, build_app

NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 11, 19, 10, 0, tzinfo=NEW_YORK)  # a Thursday: 0-1 DTE for all
KEY, SECRET = "bench-execution", "bench-execution-secret"
MIX = (
    ("SPY", "CALL"),
    ("QQQ", "PUT"),
    ("AAPL", "CALL"),
    ("MSFT", "PUT"),
    ("NVDA", "CALL"),
    ("IWM", "PUT"),
)
SYMBOLS = tuple(sorted({ticker for ticker, _ in MIX}))
SPACING_S = 60
SETTLE_S = 300  # after the last entry: longer than any shipped entry ladder (220 s)
TARGET_FILLED, TARGET_SAVED = 0.95, 0.40
# 0.2 % of buying power an entry (the shipped 3-20 % would spend a $1M account in a
# hundred entries): sizing sets how many contracts, not at what price they fill.
SMALL = SizingPolicy(*(FractionRange(Decimal("0.002"), Decimal("0.002")),) * 3)


@dataclass(frozen=True)
class Entry:
    """One entry as decided: its order's client_order_id, its contract, its strategy and
    the contract's quote at the decision (the one the steps priced from: the emulator's
    clock stands still while they run)."""

    client_order_id: str
    symbol: str
    strategy: str
    bid: Decimal
    ask: Decimal


@dataclass
class Arm:
    """One arm's run: its entries (recommendation id -> decided at), and what it cost."""

    name: str
    pricing: str
    decided: dict[str, datetime] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    unfilled: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0


def settings_for(pricing: str, url: str, db: Path, rules: Path | None) -> Settings:
    return Settings(
        rules_file=rules,
        alpaca_api_key=KEY,
        alpaca_secret_key=SECRET,
        alpaca_base_url=url,
        alpaca_paper=True,
        clock="market",
        database_url=f"sqlite:///{db}",
        broker_url="memory://",
        result_backend="cache+memory://",
        redis_url="memory://",
        option_order_pricing=pricing,
        on_broker_failure="reject",
        risk_max_open_positions=100_000,
        risk_max_exposure_per_ticker=Decimal(0),  # off: 200 entries on one account
        watchlist=",".join(SYMBOLS),
    )


def run_arm(
    arm: Arm, entries: int, seed: int, folder: Path, rules: Path | None = None
) -> list[dict]:
    """Every entry through the steps and every worked step at its due instant, the
    venue's clock moved one second at a time in between (the venue judges each second
    its orders rest, as time passes at a real one); the venue's orders at the end."""
    options = EmulatorOptions(
        seed=seed, symbols=SYMBOLS, start=START, api_key=KEY, secret_key=SECRET,
        cash=1_000_000,
    )  # fmt: skip
    app = build_app(options)
    sim = app.state.sim
    with EmulatorServer(app) as server:
        settings = settings_for(arm.pricing, server.url, folder / f"{arm.name}.db", rules)
        bootstrap.database_schema(settings.database_url).upgrade()
        runtime = build_runtime(settings)
        ctx = runtime.context
        ctx.policy = replace(ctx.policy, sizing=SMALL)
        due: list[tuple[datetime, int, str, int]] = [(START, 0, "", 0)]  # (when, i, rid, step)
        started = time.perf_counter()
        now, end = START, START + timedelta(days=1)
        while now <= end:
            while due and due[0][0] <= now:
                _, i, rid, step = heapq.heappop(due)
                nxt = enter(runtime, arm, i, now) if not rid else _step(runtime, rid, step)
                if nxt is not None:
                    when = now + timedelta(seconds=nxt.wait_s)
                    heapq.heappush(due, (when, i, nxt.recommendation_id, nxt.step))
                if not rid and len(arm.entries) < entries:  # the next decision
                    heapq.heappush(due, (now + timedelta(seconds=SPACING_S), i + 1, "", 0))
                elif not rid:
                    end = now + timedelta(seconds=SETTLE_S)
            now += timedelta(seconds=1)
            sim.clock.set(now)
            sim.venue.process(now)
        arm.wall_s = time.perf_counter() - started
        for rid in arm.entries:
            rec = runtime.recommendations.get(rid)
            if rec is not None and rec.status is RecommendationStatus.UNFILLED:
                arm.unfilled[_cause(rec.status_reason or "")] += 1
        orders = venue_orders(server.url)
        bootstrap.close_databases()
        return orders


def _cause(reason: str) -> str:
    """An unfilled entry's cause, in a few words."""
    if "as the market moved" in reason:
        return "the market moved"
    if "after working" in reason:
        return "the ladder ended"
    return reason.split(":")[0][:40] or "unknown"


def venue_orders(url: str) -> list[dict]:
    """Every order the venue accepted, as it stands now (the audit gives the chain: which
    order replaced which; GET /v2/orders/{id} the fills)."""
    with requests.Session() as session:
        session.headers.update({"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
        audit = session.get(f"{url}/_sim/orders", timeout=30).json()
        return [
            {**entry, **session.get(f"{url}/v2/orders/{entry['id']}", timeout=30).json()}
            for entry in audit
        ]


def enter(runtime: Runtime, arm: Arm, i: int, when: datetime) -> NextStep | None:
    ticker, right = MIX[i % len(MIX)]
    strategy = "swing_trade" if i % 4 == 3 else "day_trade"
    rid = f"bench-{i:04d}"
    action = "BUY" if right == "CALL" else "SELL"  # a put is bought on a bearish signal
    rec = manual_recommendation(
        ticker, action, right, strategy, 0.0, recommendation_id=rid, now=when
    )
    runtime.recommendations.insert(rec)
    try:
        placed = place(runtime, rid)
    except DispatchRejected as refused:
        arm.refused[rid] = str(refused)
        return None
    recorded = persist_execution(runtime.context, placed)
    if recorded.status is not RecommendationStatus.EXECUTED:
        stored = runtime.recommendations.get(rid)
        arm.refused[rid] = getattr(stored, "status_reason", None) or recorded.status.value
        return None
    order = placed.order
    if order.symbol == ticker:  # no liquid contract: the signal fell back to stock
        arm.refused[rid] = f"fell back to stock: {ticker}"
        return None
    arm.decided[rid] = when
    snap = runtime.context.market.option_snapshots([order.symbol])[order.symbol]
    arm.entries[rid] = Entry(order.client_order_id, order.symbol, strategy, snap.bid, snap.ask)
    return first_step(runtime.context, placed)


def _step(runtime: Runtime, rid: str, step: int) -> NextStep | None:
    return work_step(runtime.context, rid, step).next


@dataclass(frozen=True)
class Figures:
    """One arm's figures (see the module)."""

    entries: int
    filled_in_window: int
    filled_at_all: int
    saved_of_half_spread: float  # mean over entries with a fill
    saved_dollars: Decimal
    median_fill_s: float | None
    replaces_per_entry: float


def figures(arm: Arm, orders: list[dict], window_s: float) -> Figures:
    """The arm's figures from the venue's orders: each entry's chain is its orders whose
    client_order_id starts with the entry's (the replaces carry ``-w<step>``); the last
    of the chain holds what filled of the whole entry and at what average price."""
    by_entry: dict[str, list[dict]] = {}
    for order in orders:
        for rid, entry in arm.entries.items():
            if order["client_order_id"].startswith(entry.client_order_id):
                by_entry.setdefault(rid, []).append(order)
    in_window = at_all = 0
    shares: list[float] = []
    saved = Decimal(0)
    times: list[float] = []
    replaces = 0
    for rid, entry in arm.entries.items():
        chain = by_entry.get(rid, [])
        if not chain:
            continue
        replaces += len(chain) - 1
        first, last = chain[0], chain[-1]
        filled = Decimal(last["filled_qty"] or 0)
        if filled > 0:
            avg = Decimal(last["filled_avg_price"])
            half = (entry.ask - entry.bid) / 2
            if half > 0:
                shares.append(float((entry.ask - avg) / half))
            saved += (entry.ask - avg) * filled * 100
        if last["status"] != "filled":
            continue
        at_all += 1
        took = (_instant(last["filled_at"]) - _instant(first["submitted_at"])).total_seconds()
        times.append(took)
        in_window += took <= window_s
    return Figures(
        entries=len(arm.entries),
        filled_in_window=in_window,
        filled_at_all=at_all,
        saved_of_half_spread=statistics.fmean(shares) if shares else 0.0,
        saved_dollars=saved,
        median_fill_s=statistics.median(times) if times else None,
        replaces_per_entry=replaces / len(arm.entries) if arm.entries else 0.0,
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def report(arms: list[tuple[Arm, Figures]], window_s: float) -> bool:
    """Print each arm's figures, the worked arm's against the baseline's, and whether
    the targets hold; True if they do."""
    window = f"filled ≤{window_s:.0f}s"
    print(
        f"{'arm':<12}{'entries':>8}{window:>14}{'filled':>8}{'saved/half-spread':>19}"
        f"{'saved $':>10}{'median fill':>13}{'replaces':>10}{'wall':>8}"
    )
    for arm, fig in arms:
        median = "-" if fig.median_fill_s is None else f"{fig.median_fill_s:.0f} s"
        share = fig.filled_in_window / fig.entries if fig.entries else 0.0
        print(
            f"{arm.name:<12}{fig.entries:>8}{share:>14.1%}{fig.filled_at_all:>8}"
            f"{fig.saved_of_half_spread:>19.1%}{fig.saved_dollars:>10,.0f}{median:>13}"
            f"{fig.replaces_per_entry:>10.2f}{arm.wall_s:>7.1f}s"
        )
        if arm.unfilled:
            causes = ", ".join(f"{n} {cause}" for cause, n in arm.unfilled.most_common())
            print(f"  canceled unfilled: {causes}")
        if arm.refused:
            print(
                f"  signals not entered as options: {len(arm.refused)}"
                f" (e.g. {next(iter(arm.refused.values()))})"
            )
    (_, worked), (_, base) = arms
    filled = worked.filled_in_window / worked.entries if worked.entries else 0.0
    gained = worked.saved_of_half_spread - base.saved_of_half_spread
    print(
        f"worked vs marketable: {gained:+.1%} of the half-spread,"
        f" {worked.saved_dollars - base.saved_dollars:+,.0f} $ over the entries"
    )
    ok = filled >= TARGET_FILLED and worked.saved_of_half_spread >= TARGET_SAVED
    print(
        f"targets (worked, emulator's fill model): filled within {window_s:.0f} s"
        f" {filled:.1%} (>= {TARGET_FILLED:.0%}), saved {worked.saved_of_half_spread:.1%}"
        f" of the half-spread (>= {TARGET_SAVED:.0%}): {'met' if ok else 'NOT met'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("entries", nargs="?", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument(
        "--rules", type=Path, default=None, help="a rules file whose [working] to try"
    )
    args = parser.parse_args(argv)
    arms = []
    with tempfile.TemporaryDirectory(prefix="bench-execution-") as tmp:
        for arm in (Arm("worked", "worked"), Arm("marketable", "marketable_limit")):
            orders = run_arm(arm, args.entries, args.seed, Path(tmp), args.rules)
            arms.append((arm, figures(arm, orders, args.window)))
    print(
        f"{args.entries} option entries, seed {args.seed}, one a minute from"
        f" {START:%Y-%m-%d %H:%M} New York, the emulator's inside-spread model"
    )
    return 0 if report(arms, args.window) else 1


if __name__ == "__main__":
    sys.exit(main())
