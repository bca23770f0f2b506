"""A burst through a rate-limited venue: 100 recommendations sent at once to a fleet of
four worker processes (one a queue, two pool processes each), against the emulator
enforcing Alpaca's per-key limits, scaled down so that the burst must be throttled.

Alpaca's windows are a minute; here they are 10 s (emulator and governors alike), with
limits of 120 trading and 80 data calls a window, so the test takes under a minute while
the burst asks for about twice what a window allows: unthrottled, the chains make some
270 trading and 150 data calls within ten seconds.

The governor in every process shares one budget per API (the fleet's Redis), so the
fleet together stays under the limits: the emulator admits no more than the limit in
any window. On top, the emulator answers 2 % of requests with a 429 of its own fault
injection (no rate-limit headers: a gateway's, say). Every recommendation reaches a
terminal state and none fails on a 429: each 429 the emulator served was waited out and
sent again by a governor (counted in the workers' logs against the emulator's own
counts). The figures are printed on one line (docs/operations.md quotes them).

Its own redis-server, PostgreSQL database and emulator process, like the chaos suite.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import SubprocessEmulator, free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs, WorkerSpec
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from tests.e2e.chaos_support import MONDAY, TERMINAL
from tests.integration.conftest import create_database  # noqa: F401  (fixture)
from tests.integration.emulator import EmulatorHandle
from tests.one_price import ONE_PRICE_ENV

KEY, SECRET = "burst-key-id", "burst-secret-key"
SEED = 20261207
RECOMMENDATIONS = 100
# The emulator's limits a window, per key, and the governors' (the same figures: the
# venue's, which a governor plans 10 % under).
WINDOW_S = 10.0
TRADING_LIMIT = 120
DATA_LIMIT = 80
INJECTED_429 = 0.02
DEADLINE_S = 75.0
POLL_S = 0.25
MIX = (  # half stocks, half options (a bearish PUT is bought too): every order opens
    ("SPY", "BUY", "CALL", "day_trade"),
    ("AAPL", "BUY", "STOCK", None),
    ("QQQ", "SELL", "PUT", "day_trade"),
    ("MSFT", "BUY", "STOCK", None),
)
RETRIED = re.compile(r"rate limit: .* answered 429, sent again")
WAITED = re.compile(r"rate limit: .* waited (?P<s>[0-9.]+) s for the (?P<budget>\w+) budget")


def statuses(url: str) -> Counter[str]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM recommendations GROUP BY status"))
        return Counter(dict(rows.all()))


def reasons(url: str) -> list[str]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(text("SELECT status_reason FROM recommendations")).scalars()
        return [r for r in rows if r]


@contextlib.contextmanager
def limited_world(url: str, tmp_path: Path) -> Iterator[tuple[Fleet, EmulatorHandle]]:
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer(tmp_path / "redis.log").start()
        stack.callback(redis_server.stop)
        options = EmulatorOptions(
            seed=SEED, clock="sim", start=MONDAY, api_key=KEY, secret_key=SECRET,
            fill_delay_s=1.0, cash=10_000_000_000,
        )  # fmt: skip
        emulator = SubprocessEmulator.from_options(options, free_port(), tmp_path / "emulator.log")
        stack.enter_context(emulator)
        venue = EmulatorHandle(emulator.url, KEY, SECRET)
        limits = {"trading_limit": TRADING_LIMIT, "data_limit": DATA_LIMIT, "window_s": WINDOW_S}
        venue.session.post(f"{emulator.url}/_sim/rate_limits", json=limits, timeout=10)
        venue.faults(rate_limit=INJECTED_429)
        config = FleetConfig(
            database_url=url,
            emulator_url=emulator.url,
            redis=RedisDbs(broker=0, backend=1, app=2, port=redis_server.port),
            log_dir=tmp_path / "logs",
            api_key=KEY,
            secret_key=SECRET,
            env={
                **ONE_PRICE_ENV,
                "STRIKEFLOW_ALPACA_TRADING_RATE_LIMIT": str(TRADING_LIMIT),
                "STRIKEFLOW_ALPACA_DATA_RATE_LIMIT": str(DATA_LIMIT),
                "STRIKEFLOW_ALPACA_RATE_WINDOW_S": str(WINDOW_S),
                "STRIKEFLOW_RISK_MAX_OPEN_POSITIONS": "0",
                "STRIKEFLOW_RISK_MAX_EXPOSURE_PER_TICKER": "0",
            },
        )
        fleet = stack.enter_context(Fleet(config))
        stack.callback(dispose_all)
        fleet.start_workers(
            [
                WorkerSpec(f"burst-{queue}", (queue,), concurrency=2)
                for queue in ("marketdata", "dispatch", "orders", "persistence")
            ]
        )
        yield fleet, venue


def log_counts(log_dir: Path) -> tuple[int, int, float]:
    """(429s sent again, throttled waits, seconds waited) from every worker's log."""
    retried = waits = 0
    waited = 0.0
    for log in log_dir.glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            retried += RETRIED.search(line) is not None
            match = WAITED.search(line)
            if match:
                waits += 1
                waited += float(match["s"])
    return retried, waits, waited


def test_a_burst_is_throttled_not_failed(create_database, tmp_path, capsys):  # noqa: F811
    url = create_database("postgresql")
    upgrade(url, "head")
    with limited_world(url, tmp_path) as (fleet, venue):
        store = RecommendationRepository(engine_for(url))
        rids = []
        for i in range(RECOMMENDATIONS):
            ticker, action, instrument, strategy = MIX[i % len(MIX)]
            rid = f"burst-{i:03d}"
            store.insert(
                manual_recommendation(ticker, action, instrument, strategy, 0.8, "burst", rid)
            )
            rids.append(rid)
        started = time.monotonic()
        for rid in rids:
            fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
        while True:
            now = statuses(url)
            done = sum(now[s] for s in TERMINAL)
            if done == RECOMMENDATIONS or time.monotonic() - started > DEADLINE_S:
                break
            time.sleep(POLL_S)  # the poll's period; the deadline bounds the loop
        elapsed = time.monotonic() - started
        seen = venue.session.get(f"{venue.url}/_sim/rate_limits", timeout=10).json()
        injected = venue.session.get(f"{venue.url}/_sim/faults", timeout=10).json()
        retried, waits, waited = log_counts(fleet.config.log_dir)
        why = reasons(url)

    trading, data = seen["trading"], seen["data"]
    limited = trading["refused_429"] + data["refused_429"]
    faulted = injected["counts"].get("429", 0)
    line = (
        f"rate-limit burst: {RECOMMENDATIONS} recommendations, 4 worker processes, limits"
        f" {TRADING_LIMIT}/{DATA_LIMIT} calls (trading/data) per {WINDOW_S:g} s; outcomes"
        f" {dict(sorted(now.items()))} in {elapsed:.1f} s; at the emulator trading"
        f" {trading['admitted']} calls (peak {trading['peak_per_window']} in"
        f" {WINDOW_S:g} s, {trading['per_min_over_span']}/min over {trading['span_s']:.0f}"
        f" s), data {data['admitted']} (peak {data['peak_per_window']} in {WINDOW_S:g} s,"
        f" {data['per_min_over_span']}/min); 429s served {limited} over the limits +"
        f" {faulted} injected, sent again by the governors {retried}; throttled waits"
        f" {waits} ({waited:.1f} s in all)"
    )
    with capsys.disabled():
        print("\n" + line)
    assert done == RECOMMENDATIONS, line
    assert not [r for r in why if "429" in r or "rate limit" in r.lower()], why[:5]
    assert now["failed"] == 0, why[:5]
    assert trading["peak_per_window"] <= TRADING_LIMIT
    assert data["peak_per_window"] <= DATA_LIMIT
    assert trading["admitted"] > TRADING_LIMIT  # more than one window's worth: it had to wait
    assert faulted > 0
    assert retried == limited + faulted  # every 429 sent again, none given up on
    assert waits > 0  # the burst was throttled: the limits bound
