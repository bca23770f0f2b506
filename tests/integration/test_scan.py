"""Scans end to end: a real worker subprocess on the local Redis (the db numbers of this
test process), real PostgreSQL, alpaca-py against the emulator in simulated time, and
real ``celery beat`` processes with redbeat.

The rules file here makes every moving ticker a day trade (the thresholds near 0), so a
minute of the emulator's market deterministically yields options (SPY and QQQ list
daily expirations) and stock fallbacks (AAPL and MSFT list Fridays only: no 0–1 DTE
contract on a Monday). Everything waits by polling with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.workers.beat import REDBEAT_LOCK_KEY
from tests.integration.conftest import empty_tables, worker_dbs
from tests.integration.emulator import KEY, SECRET, poll

MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
SUNDAY = datetime(2037, 11, 15, 12, 0, tzinfo=NEW_YORK)
DBS = worker_dbs()
WATCHLIST = "SPY,QQQ,AAPL,MSFT"
EASY_RULES = """
[day_trade]
min_confidence = 0.0
min_volume_ratio = 0.0
min_abs_momentum = 0.0001
[stock]
min_confidence = 0.0
"""
WORKER = WorkerSpec(
    "sf-scan-it", ("signals", "marketdata", "dispatch", "orders", "persistence"), concurrency=2
)
DEADLINE_S = 60.0
TERMINAL = {"executed", "fell_back", "rejected", "failed"}


class ScanRig:
    def __init__(self, fleet: Fleet, emulator: InProcessEmulator, url: str, logs: Path) -> None:
        self.fleet, self.emulator, self.url, self.logs = fleet, emulator, url, logs
        self.app_redis = redis.Redis(host=DBS.host, port=DBS.port, db=DBS.app)

    def reset(self, start: datetime) -> None:
        self.emulator.restart(emulator_options(start))
        empty_tables(self.url)
        self.app_redis.flushdb()  # claims, cooldowns, redbeat: the app's db only

    def scan(self, at: datetime | None = None) -> dict:
        kwargs = {} if at is None else {"at": at.isoformat()}
        result = self.fleet.app.send_task("strikeflow.scan", kwargs=kwargs)
        return result.get(timeout=DEADLINE_S)

    def statuses(self) -> dict[str, str]:
        with engine_for(self.url).connect() as conn:
            rows = conn.execute(text("SELECT id, status FROM recommendations"))
            return dict(rows.all())

    def reasons(self) -> dict[str, tuple[str, str, str | None]]:
        with engine_for(self.url).connect() as conn:
            query = "SELECT id, instrument_type, action, status_reason FROM recommendations"
            return {r[0]: tuple(r[1:]) for r in conn.execute(text(query))}

    def trends(self) -> list[float]:
        """The trend_return each stored recommendation was computed with."""
        recommendations = RecommendationRepository(engine_for(self.url))
        return [recommendations.get(rid).features["trend_return"] for rid in self.statuses()]

    def claims(self) -> list[bytes]:
        return sorted(self.app_redis.scan_iter("strikeflow:scan:*"))

    def poll(self, fetch, ready, deadline_s: float = DEADLINE_S):
        try:
            return poll(fetch, ready, deadline_s)
        except AssertionError as late:
            raise AssertionError(self.fleet.report(str(late)[:2_000])) from None


def emulator_options(start: datetime) -> EmulatorOptions:
    return EmulatorOptions(seed=42, start=start, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0)


@pytest.fixture(scope="module")
def rig(postgres_url, tmp_path_factory) -> Iterator[ScanRig]:
    DBS.flush()
    logs = tmp_path_factory.mktemp("scan-logs")
    rules = logs / "easy_rules.toml"
    rules.write_text(EASY_RULES)
    emulator = InProcessEmulator(emulator_options(MONDAY))
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=logs,
        api_key=KEY,
        secret_key=SECRET,
        env={
            "STRIKEFLOW_WATCHLIST": WATCHLIST,
            "STRIKEFLOW_RULES_FILE": str(rules),
            "STRIKEFLOW_RETRY_DEADLINE_S": "2",
        },
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([WORKER])
        yield ScanRig(fleet, emulator, postgres_url, logs)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


def test_the_same_minute_twice_gives_one_set_whose_chains_all_end(rig):
    rig.reset(MONDAY)
    first = rig.scan(MONDAY)
    again = rig.scan(MONDAY.replace(second=30))

    assert first["skipped"] is None
    assert first["minute"] == "2037-11-16T15:45:00+00:00"
    assert len(first["recommendations"]) >= 2, first
    assert first["sent"] == first["recommendations"]
    assert "already scanned" in again["skipped"]
    assert again["recommendations"] == again["sent"] == []
    assert len(rig.claims()) == 1

    ids = set(first["recommendations"]) | {s["recommendation_id"] for s in first["skipped_signals"]}
    statuses = rig.poll(rig.statuses, lambda rows: set(rows.values()) <= TERMINAL)
    assert set(statuses) == ids  # one set: nothing from the second scan
    detail = rig.reasons()
    executed = [r for r in first["recommendations"] if statuses[r] in ("executed", "fell_back")]
    assert any(detail[r][0] in ("CALL", "PUT") for r in executed), detail
    for rid in first["recommendations"]:
        if detail[rid][1] == "BUY":  # a bearish fallback to stock may be refused: a short
            assert statuses[rid] in ("executed", "fell_back"), detail[rid]
        elif statuses[rid] == "rejected":
            assert detail[rid][2], detail[rid]  # with its reason
    for skip in first["skipped_signals"]:
        assert statuses[skip["recommendation_id"]] == "rejected"
    # the emulator serves no daily bars: the trend came from past sessions' minute bars
    assert all(trend != 0.0 for trend in rig.trends())


def test_a_closed_market_means_no_scan(rig):
    rig.reset(SUNDAY)
    result = rig.scan(SUNDAY)
    assert result["skipped"].startswith("market closed")
    assert result["recommendations"] == result["sent"] == []
    assert rig.statuses() == {}
    assert rig.claims() == []


class Beat:
    """``celery -A strikeflow.workers.app beat`` as a subprocess with its own log."""

    def __init__(self, rig: ScanRig, name: str, every_s: float) -> None:
        self.log = rig.logs / f"beat-{name}.log"
        env = rig.fleet.env_for(WorkerSpec(name, env={"STRIKEFLOW_SCAN_EVERY_S": str(every_s)}))
        command = [
            sys.executable, "-m", "celery", "-A", "strikeflow.workers.app", "beat",
            "-l", "INFO", "--pidfile", str(rig.logs / f"beat-{name}.pid"),
        ]  # fmt: skip
        self._handle = self.log.open("ab")
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=rig.logs,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def sent(self) -> int:
        return self.text().count("Sending due task scan")

    def stop(self) -> None:
        """SIGTERM (a warm shutdown: redbeat releases its lock), then SIGKILL its group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._handle.close()


def test_beat_with_redbeat_fires_scans_and_a_second_beat_waits_for_the_lock(rig):
    start = MONDAY.replace(hour=11, minute=15)
    rig.reset(start)
    first = Beat(rig, "sf-beat-a", every_s=0.5)
    second = None
    try:
        # The scan fires: the worker claims the emulator's minute (its clock is the
        # venue's, STRIKEFLOW_CLOCK=market) and stores what it found.
        rig.poll(lambda: (first.sent(), rig.claims()), lambda seen: seen[0] >= 1 and seen[1])
        rig.poll(rig.statuses, bool)
        assert rig.app_redis.exists(REDBEAT_LOCK_KEY)

        second = Beat(rig, "sf-beat-b", every_s=0.5)
        # Up to redbeat's lock: "Starting..." is logged just before beat_init, where it
        # waits. While the first holds the lock, the second never sends.
        rig.poll(second.text, lambda text: "beat: Starting..." in text)
        already = first.sent()
        rig.poll(first.sent, lambda n: n >= already + 6)
        assert second.process.poll() is None, second.text()
        assert second.sent() == 0, second.text()

        # A warm shutdown releases the lock; the standby takes over and sends.
        first.stop()
        rig.poll(second.sent, lambda n: n >= 1, deadline_s=DEADLINE_S)
        claims = rig.claims()
        assert len(claims) == 1  # every scan was for the venue's one minute: claimed once
    finally:
        first.stop()
        if second is not None:
            second.stop()
