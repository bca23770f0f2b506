"""A redis-server of one's own on a free port, for runs that need more db numbers than
they own on the shared Redis or must not touch it at all. Without persistence by default;
``appendonly=True`` keeps an append-only file (fsync on every write) beside the log, so a
restart on the same port comes back with every key, as a production broker would."""

from __future__ import annotations

from pathlib import Path

from strikeflow.devfleet.emulator import free_port
from strikeflow.devfleet.processes import LoggedProcess

START_DEADLINE_S = 20.0


class RedisServer:
    def __init__(
        self, log: Path, port: int = 0, executable: str = "redis-server", appendonly: bool = False
    ) -> None:
        self.log, self.port, self.executable = log, port or free_port(), executable
        self.appendonly = appendonly
        self.process: LoggedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, deadline_s: float = START_DEADLINE_S) -> RedisServer:
        import redis

        command = [
            self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--maxmemory-policy", "noeviction", *self._persistence(),
        ]  # fmt: skip
        self.process = LoggedProcess("redis-server", command, self.log)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            self.process.wait_until(answers, "PONG", deadline_s)
        finally:
            client.close()
        return self

    def _persistence(self) -> list[str]:
        if not self.appendonly:
            return ["--appendonly", "no"]
        data = self.log.parent / f"redis-{self.port}"
        data.mkdir(parents=True, exist_ok=True)
        return ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
