"""Run the emulator: in-process on an ephemeral port (tests, the demo) or as a service."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

STARTUP_DEADLINE_S = 15.0


class EmulatorServer:
    """A uvicorn server in a background thread; ``url`` is known once ``start`` returns."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="emulator", daemon=True)
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start (is the port free?)")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_DEADLINE_S)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
