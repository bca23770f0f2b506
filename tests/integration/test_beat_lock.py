"""Beat through a Redis restart: it waits, takes its lock again and schedules again, and
of two beats only one ever sends.

Each test has its own redis-server without persistence (a restart loses the lock and
the schedule's entries, the harder case) and real ``celery beat`` processes of the app,
sending a scan every second (``STRIKEFLOW_SCAN_EVERY_S=1``) to a broker nobody consumes:
the beat's log says what it sent. ``TEST_REDIS_OUTAGE_S`` sets the outage (3 s
by default; 60 for the long run).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from strikeflow.devfleet.processes import LoggedProcess
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.workers import Fleet, FleetConfig, RedisDbs

SENT = "Sending due task scan"
OUTAGE_S = float(os.environ.get("TEST_REDIS_OUTAGE_S", "3"))
DEADLINE_S = 40.0
POLL_S = 0.1


class Beat:
    """One beat process and its log, read from an offset."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.process: LoggedProcess = fleet.start_beat(env={"STRIKEFLOW_SCAN_EVERY_S": "1"})

    def log(self) -> str:
        return self.process.log.read_text(errors="replace")

    def sent_since(self, offset: int) -> int:
        return self.log()[offset:].count(SENT)

    def mark(self) -> int:
        return len(self.log())


def wait_for(done: Callable[[], bool], what: str, beats: list[Beat]) -> None:
    end = time.monotonic() + DEADLINE_S + OUTAGE_S
    while not done():
        dead = [b for b in beats if not b.process.alive()]
        if dead:
            raise AssertionError(dead[0].process.report(f"beat died waiting for {what}"))
        if time.monotonic() > end:
            tails = "\n".join(b.process.report("beat") for b in beats)
            raise AssertionError(f"not within {DEADLINE_S} s: {what}\n{tails}")
        time.sleep(POLL_S)


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[tuple[RedisServer, Callable[[str], Beat]]]:
    """The test's redis-server, and a factory of beats on it (each in a fleet of its own,
    for its own log); everything stopped on the way out."""
    with contextlib.ExitStack() as stack:
        server = RedisServer(tmp_path / "redis.log").start()
        stack.callback(server.stop)

        def beat(name: str) -> Beat:
            config = FleetConfig(
                database_url=f"sqlite:///{tmp_path / 'unused.db'}",
                emulator_url=None,
                redis=RedisDbs(broker=0, backend=1, app=2, port=server.port),
                log_dir=tmp_path / name,
            )
            fleet = stack.enter_context(Fleet(config))
            return Beat(fleet)

        yield server, beat


def restart(server: RedisServer) -> None:
    server.stop()
    threading.Event().wait(OUTAGE_S)  # the outage's length, not a synchronisation
    server.start()


def test_beat_rides_out_a_redis_restart_and_schedules_again(beats):
    server, beat = beats
    first = beat("first")
    wait_for(lambda: first.sent_since(0) >= 2, "scans sent", [first])

    before = first.mark()
    restart(server)
    wait_for(lambda: "beat: Retook lock" in first.log()[before:], "the lock retaken", [first])
    retaken = first.log().index("beat: Retook lock", before)
    wait_for(lambda: first.sent_since(retaken) >= 3, "scans sent again", [first])
    assert first.process.alive()
    assert "Traceback" not in first.log()[before:]


def test_of_two_beats_one_sends_before_and_after_a_redis_restart(beats):
    server, beat = beats
    first = beat("first")
    wait_for(lambda: first.sent_since(0) >= 2, "the first beat sending", [first])
    second = beat("second")
    start = first.mark()
    wait_for(lambda: first.sent_since(start) >= 3, "the first beat sending on", [first, second])
    assert second.sent_since(0) == 0  # standing by

    marks = (first.mark(), second.mark())
    restart(server)
    wait_for(
        lambda: first.sent_since(marks[0]) + second.sent_since(marks[1]) >= 5,
        "scans sent after the restart",
        [first, second],
    )
    later = (first.mark(), second.mark())
    wait_for(
        lambda: first.sent_since(later[0]) + second.sent_since(later[1]) >= 5,
        "scans sent on",
        [first, second],
    )
    after = sorted((first.sent_since(marks[0]), second.sent_since(marks[1])))
    assert after[0] == 0, after  # one beat sent everything; the other stood by
    assert first.process.alive()
    assert second.process.alive()
