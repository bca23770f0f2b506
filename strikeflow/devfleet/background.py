"""A fleet left running in the background: what ``strikeflow fleet up`` started, written
to a state file so that a later ``status`` or ``down`` (another process, which cannot
wait on them) finds them again.

Each process is recorded with its pid and its start time as the kernel counts it, so a
pid the system has since given to another program is never taken for ours, let alone
signalled. Every process leads its own session (devfleet's LoggedProcess), so a signal
to its group reaches its children too (a worker's pool).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "fleet.json"
POLL_S = 0.1
# The order ``down`` stops them in: no new work first, the venue last (a worker's warm
# shutdown may still be finishing an order with it).
STOP_ORDER = ("beat", "flower", "worker", "emulator")


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot; /proc/PID/stat field 22), or None
    when no such process runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass(frozen=True)
class RecordedProcess:
    """One background process: its role (``STOP_ORDER``), name, pid, start and log."""

    role: str
    name: str
    pid: int
    started: int | None
    log: str

    @classmethod
    def of(cls, role: str, name: str, pid: int, log: Path) -> RecordedProcess:
        return cls(role, name, pid, start_ticks(pid), str(log))

    def alive(self) -> bool:
        if self.started is None:  # no /proc here: the pid alone
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return start_ticks(self.pid) == self.started

    def signal(self, sig: signal.Signals) -> None:
        """``sig`` to its process group, only while the process is still the one recorded."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)


@dataclass
class FleetState:
    """What ``up`` started and what a shell needs to reach it."""

    processes: list[RecordedProcess]
    emulator_url: str
    venue_start: str
    env_file: str
    flower_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def save(self, directory: Path) -> Path:
        """Written whole or not at all (a temporary file renamed over the old one)."""
        path = directory / STATE_FILE
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(asdict(self), indent=2))
        os.replace(scratch, path)
        return path

    @classmethod
    def load(cls, directory: Path) -> FleetState | None:
        """The recorded fleet, or None when there is none (or the file is unreadable:
        then nothing can be found to stop, and ``up`` may start afresh)."""
        try:
            data = json.loads((directory / STATE_FILE).read_text())
            data["processes"] = [RecordedProcess(**p) for p in data["processes"]]
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    @staticmethod
    def forget(directory: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            (directory / STATE_FILE).unlink()

    def alive(self) -> list[RecordedProcess]:
        return [p for p in self.processes if p.alive()]


def stop_in_order(processes: Iterable[RecordedProcess], deadline_s: float) -> list[str]:
    """Stop them role by role (``STOP_ORDER``): SIGTERM to every one of a role (a worker's
    warm shutdown), wait for all of them, SIGKILL the group of any still running after
    ``deadline_s``. Returns the names that had to be killed."""
    chosen = list(processes)
    killed: list[str] = []
    for role in STOP_ORDER:
        group = [p for p in chosen if p.role == role and p.alive()]
        for process in group:
            process.signal(signal.SIGTERM)
        end = time.monotonic() + deadline_s
        while any(p.alive() for p in group) and time.monotonic() < end:
            time.sleep(POLL_S)  # another program's processes: polled, not awaited
        for process in group:
            if process.alive():
                process.signal(signal.SIGKILL)
                killed.append(process.name)
            else:  # gone just now: its group may keep a stray child (a pool process)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
    return killed
