"""Signal to order, and to the persisted execution, against a venue 0 and 50 ms away.

Run: .venv/bin/python benchmarks/bench_latency.py [executions] [--rtt MS] (15 and 50 by
default)

A fleet (strikeflow.devfleet) as bench_pipeline lays it out (worker ``pipeline`` on
marketdata, dispatch and persistence, worker ``orders``; a redis-server of its own; a
fresh PostgreSQL database) and the emulator as its own process (simulated time, Monday
10:45 New York). The same run measures twice: with no added latency, then with the
emulator holding every request ``--rtt`` ms before answering (its ``latency_fixed_ms``
fault), each time after a fresh venue and a warm-up.

Unloaded: ``executions`` chains one at a time (as the entry task sends them: a CALL day
trade, a STOCK trade and a PUT swing trade in turn), each awaited before the next.
Reported for each, p50 and p95 of:

- signal → order: from the send to the order's arrival at the venue (the emulator's
  audit keeps its wall-clock arrival, ``received_at``; same machine, same clock);
- signal → persisted: from the send to the chain's last result (the execution row and
  the recommendation's state committed), by the result's ``date_done``.

The difference between the two settings' p50, divided by the added latency, is the
number of venue round trips the chain waits for one after another (the CPU-bound part
cancels out). Targets: at most 2.0 round trips to the order, and p50 to the order at most
2 x RTT + 40 ms at a 50 ms RTT.

Option orders are priced once, at the far side (``marketable_limit``): a worked order's
later steps are not on the path to the first order, and would otherwise run beside the
next chains.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import requests
from bench_pipeline import (  # benchmarks/, beside this script
    BARE_WORKER,
    EMULATOR,
    KEY,
    SECRET,
    Bench,
    fresh_database,
    kept_on_failure,
    measure,
    own_redis,
    percentile,
    workers,
)

from strikeflow.devfleet.emulator import SubprocessEmulator, free_port
from strikeflow.devfleet.workers import Fleet, FleetConfig
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.manual_signal import manual_recommendation

MIX = (
    ("SPY", "BUY", "CALL", "day_trade"),
    ("AAPL", "BUY", "STOCK", None),
    ("QQQ", "SELL", "PUT", "swing_trade"),
)
WARM_UP = 9
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


@dataclass(frozen=True)
class Timing:
    """One setting's unloaded timings, in seconds per execution."""

    rtt_ms: float
    to_order: list[float]
    to_persisted: list[float]
    requests: float  # venue requests an execution (all of them, sequential or not)
    routes: dict[str, float]  # the same, by route
    one_request: float  # the median time of one request from here (GET /v2/clock)
    beside_two: float = 0.0  # the same request's, sent with two others at once

    def by_kind(self, kind: str) -> list[float]:
        """The times to the order of one kind of the mix (CALL, STOCK, PUT)."""
        return [t for i, t in enumerate(self.to_order) if MIX[i % len(MIX)][2] == kind]


class LatencyBench(Bench):
    """bench_pipeline's fleet, venue and tables, with this benchmark's mix of signals."""

    def recommendations(self, count: int) -> list[str]:
        ids = []
        for i in range(count):
            ticker, action, instrument, strategy = MIX[i % len(MIX)]
            self._n += 1
            rid = f"latency-{self._n:06d}"
            rec = manual_recommendation(ticker, action, instrument, strategy, 0.0, "bench", rid)
            self.store.insert(replace(rec, status=RecommendationStatus.DISPATCHED))
            ids.append(rid)
        return ids

    def set_latency(self, rtt_ms: float) -> None:
        url = f"{self.emulator.url}/_sim/faults"
        reply = requests.post(url, json={"latency_fixed_ms": rtt_ms}, headers=HEADERS, timeout=10)
        reply.raise_for_status()

    def requests_served(self) -> dict[str, int]:
        """How many requests the venue has answered since it started: in all
        (``requests``) and by route (``requests GET /v2/account``, ...)."""
        reply = requests.get(f"{self.emulator.url}/_sim/faults", headers=HEADERS, timeout=10)
        reply.raise_for_status()
        counts = reply.json()["counts"]
        return {k: int(v) for k, v in counts.items() if k.startswith("requests")}

    def one_request(self, times: int = 15) -> tuple[float, float]:
        """The median time of one venue request from this process, the added latency
        and the emulator's own time in it (what one round trip costs a worker), alone
        and with two other requests sent at the same moment (as fetch_chain sends its
        reads: the emulator serves requests that arrive together one after another)."""
        url = f"{self.emulator.url}/v2/clock"
        alone, beside = [], []
        with ThreadPoolExecutor(2) as pool, requests.Session() as session:
            others = [requests.Session(), requests.Session()]
            for _ in range(times):
                start = time.perf_counter()
                session.get(url, headers=HEADERS, timeout=10)
                alone.append(time.perf_counter() - start)
                start = time.perf_counter()
                sent = [pool.submit(o.get, url, headers=HEADERS, timeout=10) for o in others]
                session.get(url, headers=HEADERS, timeout=10)
                beside.append(time.perf_counter() - start)
                for reply in sent:
                    reply.result()
            for other in others:
                other.close()
        return statistics.median(alone), statistics.median(beside)

    def arrivals(self) -> dict[str, datetime]:
        """Each order's wall-clock arrival at the venue, by client_order_id."""
        reply = requests.get(f"{self.emulator.url}/_sim/orders", headers=HEADERS, timeout=30)
        reply.raise_for_status()
        return {
            o["client_order_id"]: datetime.fromisoformat(o["received_at"]) for o in reply.json()
        }


def timed(bench: LatencyBench, rtt_ms: float, executions: int) -> Timing:
    """A fresh venue ``rtt_ms`` away, a warm-up, then ``executions`` chains one by one."""
    bench.reset()
    bench.set_latency(rtt_ms)
    for rid in bench.recommendations(WARM_UP):
        measure(lambda _, rid=rid: bench.pipeline_chain(rid), 1, at_once=False)
    sent: list[tuple[str, datetime, float]] = []
    before = bench.requests_served()
    for rid in bench.recommendations(executions):
        start = datetime.now(UTC)
        run = measure(lambda _, rid=rid: bench.pipeline_chain(rid), 1, at_once=False)
        sent.append((rid, start, run.latencies[0]))
    after = bench.requests_served()  # /_sim routes are not counted
    served = {k: (n - before.get(k, 0)) / max(1, len(sent)) for k, n in after.items()}
    arrived = bench.arrivals()
    to_order = [
        (arrived[order_id_of(rid)] - start).total_seconds()
        for rid, start, _ in sent
        if order_id_of(rid) in arrived
    ]
    if len(to_order) < len(sent):
        raise RuntimeError(
            f"{len(sent) - len(to_order)} chain(s) sent no order: {bench.outcomes()}"
        )
    persisted = [took for _, _, took in sent]
    routes = {k.removeprefix("requests "): n for k, n in served.items() if k != "requests" and n}
    one, beside = bench.one_request()
    return Timing(rtt_ms, to_order, persisted, served.get("requests", 0.0), routes, one, beside)


@contextmanager
def latency_fleet(log_dir: Path) -> Iterator[LatencyBench]:
    with fresh_database() as url, own_redis(log_dir) as (dbs, redis_group):
        emulator = SubprocessEmulator.from_options(EMULATOR, free_port(), log_dir / "emulator.log")
        with emulator:
            config = FleetConfig(
                database_url=url,
                emulator_url=emulator.url,
                redis=dbs,
                log_dir=log_dir,
                api_key=KEY,
                secret_key=SECRET,
                env={
                    "STRIKEFLOW_OPTION_ORDER_PRICING": "marketable_limit",
                    "STRIKEFLOW_RISK_MAX_OPEN_POSITIONS": "0",
                    "STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER": "0",
                },
            )
            with Fleet(config) as fleet:
                fleet.start_workers([w for w in workers(4) if w.name != BARE_WORKER])
                yield LatencyBench(fleet, emulator, url, redis_group)


def report(near: Timing, far: Timing) -> bool:
    """Print both settings' figures, the implied round trips and the targets; True if
    they hold."""
    print(f"{'added latency':<15}{'to order p50':>14}{'p95':>8}{'to persisted p50':>18}{'p95':>8}")
    for timing in (near, far):
        order = [percentile(timing.to_order, q) * 1000 for q in (0.5, 0.95)]
        persisted = [percentile(timing.to_persisted, q) * 1000 for q in (0.5, 0.95)]
        print(
            f"{timing.rtt_ms:>10.0f} ms  {order[0]:>12.0f} ms{order[1]:>6.0f} ms"
            f"{persisted[0]:>15.0f} ms{persisted[1]:>6.0f} ms"
        )
    rtt = far.one_request - near.one_request  # what the added latency adds to a request
    order_trips = (statistics.median(far.to_order) - statistics.median(near.to_order)) / rtt
    persisted_trips = (
        statistics.median(far.to_persisted) - statistics.median(near.to_persisted)
    ) / rtt
    print(
        f"one request: {near.one_request * 1000:.1f} ms, then {far.one_request * 1000:.1f} ms"
        f" (a round trip: {rtt * 1000:.1f} ms); sent beside two others:"
        f" {near.beside_two * 1000:.1f} ms, then {far.beside_two * 1000:.1f} ms"
    )
    print(
        f"sequential venue round trips: {order_trips:.2f} to the order,"
        f" {persisted_trips:.2f} to the persisted execution;"
        f" venue requests an execution: {near.requests:.1f}"
    )
    for kind in dict.fromkeys(m[2] for m in MIX):
        slow, fast = statistics.median(far.by_kind(kind)), statistics.median(near.by_kind(kind))
        print(
            f"  {kind:<6} to order p50 {fast * 1000:4.0f} ms, then {slow * 1000:4.0f} ms:"
            f" {(slow - fast) / rtt:.2f} round trips"
        )
    print("requests an execution (added latency), by route:")
    for route, count in sorted(far.routes.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4.2f}  {route}")
    bound_ms = 2 * far.rtt_ms + 40
    p50_ms = statistics.median(far.to_order) * 1000
    ok = round(order_trips, 2) <= 2.0 and p50_ms <= bound_ms
    print(
        f"targets: at most 2.0 round trips ({order_trips:.2f}), p50 to the order at most"
        f" {bound_ms:.0f} ms at {far.rtt_ms:.0f} ms ({p50_ms:.0f} ms): {'met' if ok else 'NOT met'}"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("executions", nargs="?", type=int, default=15)
    parser.add_argument("--rtt", type=float, default=50.0, help="added latency, ms (50)")
    args = parser.parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    with kept_on_failure(log_dir), latency_fleet(log_dir) as bench:
        near = timed(bench, 0.0, args.executions)
        far = timed(bench, args.rtt, args.executions)
    print(f"{args.executions} unloaded executions each way ({', '.join(m[2] for m in MIX)})")
    return 0 if report(near, far) else 1


if __name__ == "__main__":
    sys.exit(main())
