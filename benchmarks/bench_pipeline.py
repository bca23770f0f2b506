"""The dispatch pipeline's throughput and latency, against a bare six-step Celery chain.

Run: .venv/bin/python benchmarks/bench_pipeline.py [recommendations] [processes]
[--layout split|one] [--runs N] (5 by default: every run's ratios, then the median run's
figures) [--signed] (every process signs and verifies its messages, with a throwaway key
and certificate made for the run: strikeflow.workers.signing; the bare chain too, as it
runs on the same Celery settings)

A fleet (strikeflow.devfleet) on a redis-server of its own on this machine (db 12-14 of
the shared Redis with STRIKEFLOW_BENCH_REDIS=shared), with
the emulator as its own process (simulated time, Monday 10:45 New York) and a fresh
PostgreSQL database: worker ``pipeline`` (marketdata, dispatch, persistence) and worker
``orders``, sharing a budget of pool processes (4 by default: 3 + 1), as the README's
fleet is laid out; ``--layout one`` runs one worker on every queue instead. The baseline is
worker ``bare`` with the same number of processes, running six no-op tasks per chain with
the same Celery settings.

- Unloaded latency: chains sent one at a time, each awaited before the next, a bare
  chain and a pipeline chain in turn (both sides see the same moments of a shared
  machine).
- Loaded: chains sent in batches at once, a bare batch then a pipeline batch; throughput
  is chains per second over the batches, latency is per chain under that load.
- Both sides are warmed up first; the first five steps of both chains store no result
  (only the last one's is read, see strikeflow.tasks.chains.chain_for).
Latency runs from send to the last task's stored result (for the pipeline, after the
execution row is committed), by the result's ``date_done``: the same clock and the same
mechanism for both chains. CPU is metered per loaded batch from /proc: each worker with
its pool, the emulator, the PostgreSQL backends serving the benchmark's database, the
benchmark's redis-server, and the whole machine.

After the loaded batches, one batch runs through the six step bodies in this process,
without Celery (``steps_in_process``): the CPU of the work the bare chain does not do
(the bodies, the emulator, PostgreSQL), set against the bare chain's whole cost.

The mix cycles SPY CALL, QQQ PUT, AAPL stock, QQQ CALL, SPY PUT, MSFT stock, day trades
at confidence 0, so a batch of 18 stays inside the default risk limits (20 open
positions, $25,000 per ticker); the venue and the tables are reset between batches.
Targets: throughput >= 0.5 x bare, unloaded p50 <= 3 x bare.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import celery
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from steps_in_process import InProcessSteps, own_cpu  # benchmarks/, beside this script

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import SubprocessEmulator, free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.tasks.chains import chain_for
from strikeflow.workers import signing

BENCHMARKS = Path(__file__).resolve().parent
ADMIN_URL = os.environ.get(
    "STRIKEFLOW_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
DBS = RedisDbs(broker=12, backend=13, app=14)
KEY, SECRET = "bench-key", "bench-secret"
START = "2037-11-16T10:45:00-05:00"  # a Monday: SPY and QQQ list 0-DTE contracts
MIX = (
    ("SPY", "BUY", "CALL"),
    ("QQQ", "SELL", "PUT"),
    ("AAPL", "BUY", "STOCK"),
    ("QQQ", "BUY", "CALL"),
    ("SPY", "SELL", "PUT"),
    ("MSFT", "BUY", "STOCK"),
)
BATCH = 18
EMULATOR = EmulatorOptions(
    seed=42, clock="sim", start=datetime.fromisoformat(START), fill_delay_s=1.0,
    api_key=KEY, secret_key=SECRET,
)  # fmt: skip
BARE_PATH = os.pathsep.join(filter(None, [str(BENCHMARKS), os.environ.get("PYTHONPATH")]))
PROCESSES = 4


LAYOUTS = ("split", "one")
BARE_WORKER = "bench-bare"


def workers(processes: int, layout: str = "split") -> tuple[WorkerSpec, ...]:
    """The same budget of pool processes for each side, the bare chain's in one worker.
    The pipeline's split (``split``): as one step in six goes to orders, a quarter of
    the processes (at least one) to an orders worker; or (``one``) one worker on every
    queue, which then takes orders with prefetch 1 too."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "one":
        pipeline = (WorkerSpec("bench-pipeline", (*PIPELINE_QUEUES, "orders"), processes),)
    else:
        orders = max(1, processes // 4)
        pipeline = (
            WorkerSpec("bench-pipeline", PIPELINE_QUEUES, concurrency=processes - orders),
            WorkerSpec("bench-orders", ("orders",), concurrency=orders),
        )
    bare_env = {"PYTHONPATH": BARE_PATH}
    bare = WorkerSpec(BARE_WORKER, ("bare",), processes, bare_env, app="bare_chain")
    return (*pipeline, bare)


def layout_described(processes: int, layout: str) -> str:
    specs = [spec for spec in workers(processes, layout) if spec.name != BARE_WORKER]
    if len(specs) == 1:
        return f"pipeline: one worker on every queue, {processes} processes"
    return f"pipeline {specs[0].concurrency} + orders {specs[1].concurrency}"


PIPELINE_QUEUES = ("marketdata", "dispatch", "persistence")
TIMEOUT_S = 60.0
THROUGHPUT_TARGET, LATENCY_TARGET = 0.5, 3.0
# One run on a shared machine says little (single runs of the same code scatter by ±10 %
# as its neighbours come and go): by default five, interleaved alike, and the median one.
RUNS = 5


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc's unit


def _stat_fields(entry: Path) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces), or None if gone."""
    try:
        return entry.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime and stime: fields 14 and 15 of stat


def cpu_seconds(group: int) -> float:
    """User + system CPU of every live process in process group ``group`` (a worker and
    its pool, the emulator, the benchmark's redis-server), from /proc; 0 where /proc is
    not there."""
    total = 0
    for entry in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(entry)
        if fields is not None and int(fields[2]) == group:  # pgrp
            total += _ticks(fields)
    return total / CLOCK_TICKS


def process_cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU of each of ``pids`` still alive, from /proc."""
    found = {}
    for pid in pids:
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
        if fields is not None:
            found[pid] = _ticks(fields) / CLOCK_TICKS
    return found


def database_backends(url: str) -> list[int]:
    """The server processes of PostgreSQL serving the database of ``url`` (the workers'
    pools), other than the one asking."""
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()")
    admin = create_engine(ADMIN_URL, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            return [int(pid) for pid in conn.scalars(query, {"db": make_url(url).database})]
    finally:
        admin.dispose()


def machine_cpu_seconds() -> float:
    """CPU seconds this machine spent busy (every core, every process: PostgreSQL and
    Redis too), from /proc/stat; 0 where it is not there."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent between enter and exit by named process groups, by named sets of
    processes (``processes``: name → the pids to watch, listed at both ends; one that
    started in between counts from zero), and by the whole machine (``spent["machine"]``)."""

    def __init__(
        self, groups: dict[str, int], processes: dict[str, Callable[[], list[int]]] | None = None
    ) -> None:
        self.groups = groups
        self.processes = processes or {}
        self.spent: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._before = {name: cpu_seconds(pid) for name, pid in self.groups.items()}
        self._each = {name: process_cpu_seconds(pids()) for name, pids in self.processes.items()}
        self._machine = machine_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.spent["machine"] = machine_cpu_seconds() - self._machine
        for name, pid in self.groups.items():
            self.spent[name] = cpu_seconds(pid) - self._before[name]
        for name, pids in self.processes.items():
            before, after = self._each[name], process_cpu_seconds(pids())
            self.spent[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank); 0 for none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


@dataclass
class Run:
    """One measured run: per-chain latencies (s), chains that ended in a row, seconds."""

    latencies: list[float]
    executed: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.executed / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


@contextmanager
def fresh_database() -> Iterator[str]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"strikeflow_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, "head")
        yield url
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Bench:
    def __init__(
        self,
        fleet: Fleet,
        emulator: SubprocessEmulator,
        url: str,
        redis_group: int | None = None,
    ) -> None:
        self.fleet, self.emulator, self.url = fleet, emulator, url
        self.redis_group = redis_group
        self.store = RecommendationRepository(engine_for(url))
        self.steps = InProcessSteps(fleet.config.settings())
        self._n = 0

    def groups(self) -> dict[str, int]:
        """Process groups to meter: each worker (with its pool), the emulator, and the
        benchmark's own redis-server when it has one."""
        found = {name: worker.pid for name, worker in self.fleet.workers.items()}
        redis = {} if self.redis_group is None else {"redis": self.redis_group}
        return {**found, "emulator": self.emulator.process.pid, **redis}

    def meter(self) -> CpuMeter:
        """The CPU of every group, and of the PostgreSQL backends serving the workers."""
        return CpuMeter(self.groups(), {"postgresql": lambda: database_backends(self.url)})

    def outcomes(self) -> dict[str, int]:
        """How the recommendations sent since the last reset ended, by status and reason."""
        query = text("SELECT status, status_reason FROM recommendations")
        with engine_for(self.url).connect() as conn:
            rows = conn.execute(query).all()
        counts: dict[str, int] = {}
        for status, reason in rows:
            key = status if status == "executed" else f"{status}: {(reason or '')[:90]}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def reset(self) -> None:
        """A fresh venue (cash, book) and empty tables, so the risk limits start over. The
        new emulator process is asked once, untimed, on each route a chain uses (and for
        each chain): it builds a listing on first demand, and FastAPI a route's state on
        its first request, which a venue that never restarts would not do mid-day."""
        self.emulator.stop()
        self.emulator.start()
        self._warm_venue()
        with engine_for(self.url).begin() as conn:
            conn.execute(text("DELETE FROM dispatch_executions"))
            conn.execute(text("DELETE FROM recommendations"))

    def _warm_venue(self) -> None:
        import requests

        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        gets = [("/v2/account", {}), ("/v2/clock", {}), ("/v2/positions", {})]
        gets += [("/v2/stocks/quotes/latest", {"symbols": t}) for t in sorted({m[0] for m in MIX})]
        gets.append(("/v2/orders:by_client_order_id", {"client_order_id": "bench-warm-up"}))
        for underlying in sorted(
            {ticker for ticker, _, instrument in MIX if instrument != "STOCK"}
        ):
            gets += [
                (f"/v1beta1/options/snapshots/{underlying}", {"limit": 1}),
                ("/v2/options/contracts", {"underlying_symbols": underlying, "limit": 1}),
            ]
        with requests.Session() as session:
            for path, params in gets:
                reply = session.get(self.emulator.url + path, params=params, headers=headers)
                if reply.status_code >= 500 or reply.status_code in (401, 403):
                    reply.raise_for_status()
            # an order the venue refuses (no quantity): the route runs, nothing is placed
            refused = session.post(self.emulator.url + "/v2/orders", json={}, headers=headers)
            if refused.status_code not in (400, 422):
                raise RuntimeError(f"the warm-up order was not refused: {refused.status_code}")

    def recommendations(self, count: int) -> list[str]:
        ids = []
        for i in range(count):
            ticker, action, instrument = MIX[i % len(MIX)]
            self._n += 1
            rid = f"bench-{self._n:06d}"
            rec = manual_recommendation(ticker, action, instrument, "day_trade", 0.0, "bench", rid)
            # dispatched already, as every sender (entry task, scan, CLI) marks what it sends
            self.store.insert(replace(rec, status=RecommendationStatus.DISPATCHED))
            ids.append(rid)
        return ids

    def pipeline_chain(self, rid: str):
        """The chain as the entry task sends it (strikeflow.tasks.chains.chain_for)."""
        return chain_for(rid, self.fleet.app).apply_async()

    def bare_chain(self, i: int):
        """Six no-op steps, built like the pipeline's: results of the first five unstored."""
        app = self.fleet.app
        steps = [app.signature("bare.step", args=({"recommendation_id": f"bare-{i}"},))]
        steps += [app.signature("bare.step") for _ in range(5)]
        for step in steps[:-1]:
            step.set(ignore_result=True)
        return celery.chain(*(step.set(queue="bare") for step in steps)).apply_async()


def _done(result) -> tuple[bool, datetime]:
    result.get(timeout=TIMEOUT_S, propagate=False)
    done = result.date_done
    if isinstance(done, str):
        done = datetime.fromisoformat(done)
    if done.tzinfo is None:
        done = done.replace(tzinfo=UTC)
    return result.successful(), done


def measure(send: Callable[[int], Any], count: int, at_once: bool) -> Run:
    """Send ``count`` chains (all at once, or each after the previous one ended)."""
    sent: list[tuple[datetime, Any]] = []
    outcomes: list[tuple[bool, datetime]] = []
    for i in range(count):
        sent.append((datetime.now(UTC), send(i)))
        if not at_once:
            outcomes.append(_done(sent[-1][1]))
    if at_once:
        outcomes = [_done(result) for _, result in sent]
    latencies = [
        (done - start).total_seconds() for (start, _), (_, done) in zip(sent, outcomes, strict=True)
    ]
    span = (max(done for _, done in outcomes) - sent[0][0]).total_seconds()
    return Run(latencies, sum(ok for ok, _ in outcomes), span)


def combine(runs: list[Run]) -> Run:
    return Run(
        [x for r in runs for x in r.latencies],
        sum(r.executed for r in runs),
        sum(r.seconds for r in runs),
    )


def pipeline_runs(
    recommendations: int = 90,
    unloaded: int = 12,
    processes: int = PROCESSES,
    outcomes: dict[str, int] | None = None,
    layout: str = "split",
    runs: int = 1,
    signed: bool = False,
) -> list[dict[str, float]]:
    """Every figure of the benchmark, ``runs`` times over on one fleet (each run warmed up
    and interleaved alike), for ``recommendations`` loaded chains of each kind: the
    machine's mood changes within minutes, so one run says little on its own.
    ``outcomes`` (when given) is filled with how the loaded chains ended, over every run.
    ``signed``: the fleet signs its messages (``signed_env``)."""
    batches = [BATCH] * (recommendations // BATCH) + [recommendations % BATCH]
    batches = [b for b in batches if b]
    with kept_on_failure(Path(tempfile.mkdtemp(prefix="strikeflow-bench-"))) as log_dir:
        emulator = SubprocessEmulator.from_options(EMULATOR, free_port(), log_dir / "emulator.log")
        with own_redis(log_dir) as (dbs, redis_group), fresh_database() as url:
            dbs.flush()
            env = signed_env(log_dir / "pki") if signed else {}
            config = FleetConfig(
                url, emulator.url, dbs, log_dir, api_key=KEY, secret_key=SECRET, env=env
            )
            try:
                emulator.start()
                with Fleet(config) as fleet:
                    fleet.start_workers(workers(processes, layout))
                    bench = Bench(fleet, emulator, url, redis_group)
                    figures = [
                        _measure_all(bench, batches, unloaded, outcomes) for _ in range(runs)
                    ]
            finally:
                emulator.stop()
                dbs.flush()
    return figures


def signed_env(directory: Path) -> dict[str, str]:
    """A throwaway key and self-signed certificate, trusted by a store of its own, as the
    fleet's STRIKEFLOW_SIGNING_* settings (in the run's directory, removed with it)."""
    key, cert = signing.self_signed(directory, "bench-fleet")
    store = directory / "store"
    store.mkdir()
    (store / cert.name).write_bytes(cert.read_bytes())
    return dict(signing.signing_env(key, cert, store))


@contextmanager
def kept_on_failure(log_dir: Path) -> Iterator[Path]:
    """The run's log directory (workers, emulator, redis-server): removed when the run
    ends well, kept and named on stderr when it does not, for whoever must find out why."""
    try:
        yield log_dir
    except BaseException:
        print(f"bench_pipeline: the run failed; its logs are in {log_dir}", file=sys.stderr)
        raise
    shutil.rmtree(log_dir, ignore_errors=True)


@contextmanager
def own_redis(log_dir: Path) -> Iterator[tuple[RedisDbs, int | None]]:
    """A redis-server of the benchmark's own (same machine, same cores): nothing else on
    the shared Redis can take its messages, and its CPU is the benchmark's. Its db numbers
    and process group; STRIKEFLOW_BENCH_REDIS=shared uses db 12-14 of the shared one
    instead (no group: that server's CPU is not only ours)."""
    if os.environ.get("STRIKEFLOW_BENCH_REDIS") == "shared":
        yield DBS, None
        return
    with RedisServer(log_dir / "redis.log") as server:
        assert server.process is not None
        yield RedisDbs(DBS.broker, DBS.backend, DBS.app, port=server.port), server.process.pid


def _add(totals: dict, more: dict) -> None:
    for key, value in more.items():
        totals[key] = totals.get(key, 0) + value


def _measure_all(
    bench: Bench, batches: list[int], unloaded: int, outcomes: dict[str, int] | None
) -> dict[str, float]:
    pipeline_workers = [name for name in bench.fleet.workers if name != BARE_WORKER]
    measure(bench.bare_chain, 4, at_once=False)  # warm up: connections, pools, imports
    bench.reset()  # the pipeline's too: each process lists its chains once
    ids = bench.recommendations(len(MIX) * 2)
    measure(lambda i: bench.pipeline_chain(ids[i]), len(ids), at_once=False)

    # Interleaved, so that both sides see the same machine (it is shared and noisy):
    # unloaded, one bare chain then one pipeline chain; loaded, batch by batch.
    bench.reset()
    ids = bench.recommendations(unloaded)
    bare_runs, pipe_runs = [], []
    for rid in ids:
        bare_runs.append(measure(bench.bare_chain, 1, at_once=False))
        pipe_runs.append(measure(lambda _, rid=rid: bench.pipeline_chain(rid), 1, at_once=False))
    bare_idle, pipe_idle = combine(bare_runs), combine(pipe_runs)
    bare_loaded, loaded, ended = [], [], {} if outcomes is None else outcomes
    bare_cpu: dict[str, float] = {}
    pipe_cpu: dict[str, float] = {}
    for size in batches:
        with bench.meter() as meter:
            bare_loaded.append(measure(bench.bare_chain, size, at_once=True))
        _add(bare_cpu, meter.spent)
        bench.reset()
        ids = bench.recommendations(size)
        with bench.meter() as meter:  # the emulator restarted: measure per batch
            loaded.append(measure(lambda i, ids=ids: bench.pipeline_chain(ids[i]), size, True))
        _add(pipe_cpu, meter.spent)
        _add(ended, bench.outcomes())
    steps_cpu, steps_ended = _steps_alone(bench, max(batches))
    bare_load = combine(bare_loaded)
    pipe_load = combine(loaded)
    per_execution = 1000 / max(1, pipe_load.executed)
    per_chain = 1000 / max(1, len(bare_load.latencies))
    return {
        "cpu_ms_pipeline_workers": per_execution
        * sum(spent for name, spent in pipe_cpu.items() if name in pipeline_workers),
        "cpu_ms_emulator": per_execution * pipe_cpu["emulator"],
        "cpu_ms_postgresql": per_execution * pipe_cpu["postgresql"],
        "cpu_ms_redis_pipeline": per_execution * pipe_cpu.get("redis", math.nan),
        "cpu_ms_bare_workers": per_chain * bare_cpu[BARE_WORKER],
        "cpu_ms_redis_bare": per_chain * bare_cpu.get("redis", math.nan),
        "cpu_ms_machine_pipeline": per_execution * pipe_cpu["machine"],
        "cpu_ms_machine_bare": per_chain * bare_cpu["machine"],
        "cores_busy_pipeline": pipe_cpu["machine"] / max(pipe_load.seconds, 1e-9),
        "cores_busy_bare": bare_cpu["machine"] / max(bare_load.seconds, 1e-9),
        "recommendations": float(len(pipe_load.latencies)),
        "executed": float(pipe_load.executed),
        "pipeline_per_s": pipe_load.per_second,
        "bare_per_s": bare_load.per_second,
        "throughput_ratio": pipe_load.per_second / bare_load.per_second,
        "pipeline_p50_ms": pipe_idle.p(0.5) * 1000,
        "pipeline_p95_ms": pipe_idle.p(0.95) * 1000,
        "pipeline_loaded_p50_ms": pipe_load.p(0.5) * 1000,
        "pipeline_loaded_p95_ms": pipe_load.p(0.95) * 1000,
        "bare_p50_ms": bare_idle.p(0.5) * 1000,
        "bare_p95_ms": bare_idle.p(0.95) * 1000,
        "bare_loaded_p50_ms": bare_load.p(0.5) * 1000,
        "bare_loaded_p95_ms": bare_load.p(0.95) * 1000,
        "latency_ratio": pipe_idle.p(0.5) / bare_idle.p(0.5),
        "steps_sent": float(sum(steps_ended.values())),
        "steps_executed": float(steps_ended.get("executed", 0)),
        "cpu_ms_steps": steps_cpu["steps"],
        "cpu_ms_steps_emulator": steps_cpu["emulator"],
        "cpu_ms_steps_postgresql": steps_cpu["postgresql"],
        "cpu_ms_steps_redis": steps_cpu.get("redis", math.nan),
    }


def _steps_alone(bench: Bench, size: int) -> tuple[dict[str, float], dict[str, int]]:
    """A batch of ``size`` through the six step bodies in this process, without Celery: their CPU
    (``steps``), the emulator's and PostgreSQL's, in ms an execution; and how they ended.
    The work a bare chain does not do, measured on the same machine in the same run."""
    bench.reset()
    bench.steps.run(bench.recommendations(len(MIX)))  # warm: this process lists its chains
    bench.reset()
    ids = bench.recommendations(size)
    spent: dict[str, float] = {}
    with bench.meter() as meter, own_cpu(spent):
        ended = bench.steps.run(ids)
    _add(spent, meter.spent)
    return {name: 1000 * seconds / len(ids) for name, seconds in spent.items()}, ended


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("recommendations", nargs="?", type=int, default=90)
    parser.add_argument("processes", nargs="?", type=int, default=PROCESSES)
    parser.add_argument("--layout", choices=LAYOUTS, default="split")
    parser.add_argument(
        "--signed",
        action="store_true",
        help="sign every message (a throwaway key and certificate made for the run)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=RUNS,
        help=f"measure this many times on one fleet and report the median run (default {RUNS})",
    )
    args = parser.parse_args(argv)
    if args.recommendations < 1 or args.processes < 2:
        parser.error("needs at least 1 recommendation and 2 processes (pipeline and orders)")
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    return args


def _lower_middle(items: list[Any], key: Callable[[Any], float] | None = None) -> Any:
    """The median item of ``items`` by ``key`` (the lower middle one of an even number)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run whose throughput ratio is the median: a real run's figures, not an
    average of several."""
    return _lower_middle(runs, key=lambda f: f["throughput_ratio"])


def spread(runs: list[dict[str, float]], key: str, digits: int = 2) -> str:
    """Every run's ``key`` in run order, then its median and range."""
    values = [f[key] for f in runs]
    middle = _lower_middle(values)
    each = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{each} (median {middle:.{digits}f}, {min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    args = arguments()
    count, processes = args.recommendations, args.processes
    started = time.monotonic()
    ended: dict[str, int] = {}
    runs = pipeline_runs(
        count,
        processes=processes,
        outcomes=ended,
        layout=args.layout,
        runs=args.runs,
        signed=args.signed,
    )
    f = median_run(runs)
    if len(runs) > 1:
        print(f"{len(runs)} runs; the figures below are the median run's (by throughput ratio)")
        print(f"  throughput ratio each run: {spread(runs, 'throughput_ratio', 3)}")
        print(f"  unloaded p50 ratio each run: {spread(runs, 'latency_ratio')}")
        print(f"  machine CPU ms an execution: {spread(runs, 'cpu_ms_machine_pipeline', 1)}")
    print(f"dispatch pipeline vs a bare 6-step chain ({count} recommendations, loaded in")
    print(
        f"batches of {BATCH}; {processes} worker processes each"
        f" ({layout_described(processes, args.layout)}); local Redis, PostgreSQL, emulator"
        + ("; every message signed, both sides)" if args.signed else ")")
    )
    executed = sum(run["executed"] for run in runs)
    sent = sum(run["recommendations"] for run in runs)
    print(f"  executed {executed:.0f} of {sent:.0f}" + (" (every run)" if len(runs) > 1 else ""))
    for outcome, n in sorted(ended.items()):
        if outcome != "executed":
            print(f"    {n:3d} {outcome}")
    print(
        f"  throughput  pipeline {f['pipeline_per_s']:7.1f} executions/s   bare"
        f" {f['bare_per_s']:7.1f} chains/s   ratio {f['throughput_ratio']:.2f}"
        f" (target >= {THROUGHPUT_TARGET})"
    )
    print(
        f"  unloaded    pipeline p50 {f['pipeline_p50_ms']:6.1f} ms p95 {f['pipeline_p95_ms']:6.1f}"
        f" ms   bare p50 {f['bare_p50_ms']:5.1f} ms p95 {f['bare_p95_ms']:5.1f} ms"
        f"   p50 ratio {f['latency_ratio']:.2f} (target <= {LATENCY_TARGET})"
    )
    print(
        f"  loaded      pipeline p50 {f['pipeline_loaded_p50_ms']:6.1f} ms p95"
        f" {f['pipeline_loaded_p95_ms']:6.1f} ms   bare p50 {f['bare_loaded_p50_ms']:5.1f} ms"
        f" p95 {f['bare_loaded_p95_ms']:5.1f} ms"
    )
    print(
        f"  CPU, loaded: pipeline workers {f['cpu_ms_pipeline_workers']:.1f} ms + emulator"
        f" {f['cpu_ms_emulator']:.1f} ms + PostgreSQL {f['cpu_ms_postgresql']:.1f} ms + Redis"
        f" {f['cpu_ms_redis_pipeline']:.1f} ms an execution; bare workers"
        f" {f['cpu_ms_bare_workers']:.1f} ms + Redis {f['cpu_ms_redis_bare']:.1f} ms a chain"
    )
    print(
        f"  CPU, loaded, whole machine ({os.cpu_count()} cores; PostgreSQL, Redis and this"
        f" script included): {f['cpu_ms_machine_pipeline']:.1f} ms an execution"
        f" ({f['cores_busy_pipeline']:.2f} cores busy), {f['cpu_ms_machine_bare']:.1f} ms a"
        f" bare chain ({f['cores_busy_bare']:.2f} cores busy)"
    )
    steps = (
        f["cpu_ms_steps"] + f["cpu_ms_steps_emulator"] + f["cpu_ms_steps_postgresql"]
        + (0.0 if math.isnan(f["cpu_ms_steps_redis"]) else f["cpu_ms_steps_redis"])
    )  # fmt: skip
    print(
        f"  the steps alone, in this process without Celery ({f['steps_executed']:.0f} of"
        f" {f['steps_sent']:.0f} executed): bodies {f['cpu_ms_steps']:.1f} ms + emulator"
        f" {f['cpu_ms_steps_emulator']:.1f} ms + PostgreSQL {f['cpu_ms_steps_postgresql']:.1f}"
        f" ms + Redis {f['cpu_ms_steps_redis']:.1f} ms = {steps:.1f} ms an execution,"
        f" {steps / f['cpu_ms_machine_bare']:.2f} x a bare chain's machine CPU"
    )
    print(f"  ({time.monotonic() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
