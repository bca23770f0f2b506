"""``strikeflow fleet``'s own parts without a fleet: where simulated time starts, the env
file a shell sources, the state file, and stopping recorded processes (this test's own
children stand in for the fleet's)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from strikeflow.cli.fleet import keep_out_of_git, next_open_after, one_line, write_env
from strikeflow.devfleet.background import (
    FleetState,
    RecordedProcess,
    start_ticks,
    stop_in_order,
)
from strikeflow.domain.expiry import NEW_YORK

SLEEPER = "import time\nwhile True: time.sleep(0.2)"
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLEEPER


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ((2026, 12, 5, 15, 0), (2026, 12, 7, 9, 30)),  # Saturday: Monday
        ((2026, 12, 7, 8, 0), (2026, 12, 7, 9, 30)),  # Monday before the open: that day
        ((2026, 12, 7, 11, 0), (2026, 12, 8, 9, 30)),  # in the session: the next day's
        ((2026, 12, 7, 15, 45), (2026, 12, 8, 9, 30)),  # past the day-trade cut-off
        ((2026, 12, 24, 20, 0), (2026, 12, 28, 9, 30)),  # Christmas, then the weekend
    ],
)
def test_simulated_time_starts_at_the_next_open(now, start):
    assert next_open_after(datetime(*now, tzinfo=NEW_YORK)) == datetime(*start, tzinfo=NEW_YORK)


def test_the_env_file_exports_quoted_values_for_its_owner_only(tmp_path):
    path = write_env(tmp_path, {"STRIKEFLOW_DATABASE_URL": "postgresql://u:p a$s@h/db"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = subprocess.run(
        ["bash", "-c", f'. "{path}" && printf %s "$STRIKEFLOW_DATABASE_URL"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "postgresql://u:p a$s@h/db"


def test_a_failure_report_becomes_one_line():
    report = (
        "migrate failed\n--- migrate (pid 1, rc 1) /x/migrate.log ---\nTraceback\n  x\n"
        "boom: no db\n"
    )
    assert one_line(report) == "migrate failed: boom: no db"
    assert one_line("emulator: no answer in 60 s") == "emulator: no answer in 60 s"


def test_the_state_file_round_trips_and_a_spoiled_one_reads_as_none(tmp_path):
    state = FleetState(
        processes=[RecordedProcess("beat", "beat", 12, 34, "/l/beat.log")],
        emulator_url="http://127.0.0.1:1",
        venue_start="2026-12-07T09:30:00-05:00",
        env_file=str(tmp_path / "env"),
    )
    state.save(tmp_path)
    assert FleetState.load(tmp_path) == state
    (tmp_path / "fleet.json").write_text('{"processes": [{"pid": "x"}]}')
    assert FleetState.load(tmp_path) is None
    FleetState.forget(tmp_path)
    FleetState.forget(tmp_path)  # twice: nothing to forget is fine
    assert FleetState.load(tmp_path) is None


def spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL
    )


def test_a_recorded_process_is_known_by_its_start_not_its_pid_alone(tmp_path):
    child = spawn(SLEEPER)
    try:
        ours = RecordedProcess.of("worker", "a", child.pid, tmp_path / "a.log")
        assert ours.alive()
        stranger = RecordedProcess("worker", "a", child.pid, ours.started + 1, "a.log")
        assert not stranger.alive()
        stranger.signal(signal.SIGKILL)  # not ours: left alone
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()
    assert start_ticks(child.pid) is None
    assert not ours.alive()


def test_stop_in_order_terminates_and_kills_what_ignores_terminate(tmp_path):
    polite = spawn(SLEEPER)
    stubborn = spawn(STUBBORN)
    children = (polite, stubborn)
    try:
        recorded = [
            RecordedProcess.of("worker", "polite", polite.pid, tmp_path / "p.log"),
            RecordedProcess.of("emulator", "stubborn", stubborn.pid, tmp_path / "s.log"),
        ]
        wait_until_ignoring(stubborn.pid)
        killed = stop_in_order(recorded, deadline_s=1.0)
        assert killed == ["stubborn"]
        assert polite.wait(timeout=10) == -signal.SIGTERM
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
        assert stop_in_order(recorded, deadline_s=1.0) == []  # again: nothing left
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def wait_until_ignoring(pid: int, deadline_s: float = 10.0) -> None:
    """Until the child has installed its SIGTERM handler (its ignored-signals mask)."""
    import time

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        status = Path(f"/proc/{pid}/status").read_text()
        ignored = int(next(x for x in status.splitlines() if x.startswith("SigIgn")).split()[1], 16)
        if ignored & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.02)
    raise AssertionError("the child never ignored SIGTERM")


def test_the_fleet_s_directory_stays_out_of_a_checkout(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    directory = tmp_path / ".strikeflow-fleet"
    keep_out_of_git(directory)
    (directory / "logs").mkdir()
    (directory / "logs" / "beat.log").write_text("beat: Starting\n")
    write_env(directory, {"STRIKEFLOW_CLOCK": "market"})
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout == ""
