"""One subprocess of the fleet with its log file: started in its own session (so a stop
reaches its children too), stopped with SIGTERM then SIGKILL of the whole group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

STOP_DEADLINE_S = 15.0
LOG_TAIL_CHARS = 4_000
POLL_S = 0.05


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the process leads its own session: pgid == pid


class LoggedProcess:
    """A subprocess writing stdout and stderr to ``log`` (appended, never truncated)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.command, self.log = name, list(command), log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[bytes] | None = log.open("ab")
        self._swept = False  # its group SIGKILLed once: never again (the pid may be reused)
        self.process = subprocess.Popen(
            self.command,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """SIGTERM (a warm shutdown), then SIGKILL to its process group; once."""
        if self._swept:
            return self.process.returncode
        if self.alive():
            signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=deadline_s)
        self._sweep()  # stray children, if any
        if self.alive():
            self.process.wait(timeout=deadline_s)
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process and its children at once (a crash, for chaos runs)."""
        if not self._swept:
            self._sweep()
            self.process.wait(timeout=STOP_DEADLINE_S)
        self._close_log()

    def _sweep(self) -> None:
        signal_group(self.pid, signal.SIGKILL)
        self._swept = True

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:]

    def wait_until(self, ready: Callable[[], bool], what: str, deadline_s: float) -> None:
        """Poll ``ready`` until it holds; fail with the log's tail if the process exits
        or the deadline passes first."""
        end = time.monotonic() + deadline_s
        while not ready():
            if not self.alive():
                raise RuntimeError(self.report(f"{self.name} exited before {what}"))
            if time.monotonic() > end:
                raise RuntimeError(self.report(f"{self.name}: no {what} in {deadline_s} s"))
            time.sleep(POLL_S)

    def wait_for_log(self, text: str, deadline_s: float) -> None:
        self.wait_until(lambda: text in self.tail(1_000_000), repr(text), deadline_s)

    def report(self, headline: str) -> str:
        rc = self.process.poll()
        return (
            f"{headline}\n--- {self.name} (pid {self.pid}, rc {rc}) {self.log} ---\n{self.tail()}"
        )

    def _close_log(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
