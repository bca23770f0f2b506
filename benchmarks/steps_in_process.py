"""The pipeline's six step bodies run one after another in this process, without Celery.

bench_pipeline meters one batch of them per run next to the fleet's batches: the CPU the
steps themselves cost (this process), and what they ask of the venue (the emulator) and
the database (its backends). Set against the bare chain's whole cost, it says how much of
a chain is the work the bare chain does not do, and so how much room the throughput
target leaves for Celery's own per-step costs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from strikeflow.bootstrap import Runtime, build_runtime
from strikeflow.config import Settings
from strikeflow.services import dispatch as steps


def run_steps(runtime: Runtime, recommendation_id: str) -> dict[str, Any]:
    """fetch_chain → select_contract → snapshot_price → size_position → submit_order →
    persist_execution for one recommendation, as the chain's tasks call them."""
    ctx = runtime.context
    payload = steps.fetch_chain(ctx, recommendation_id)
    for step in (steps.select_contract, steps.snapshot_price, steps.size_position):
        payload = step(ctx, payload)
    return steps.persist_execution(ctx, steps.submit_order(ctx, payload))


class InProcessSteps:
    """A Runtime on the fleet's settings (built on first use) and the CPU its runs took."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = build_runtime(self._settings)
        return self._runtime

    def run(self, recommendation_ids: Iterable[str]) -> dict[str, int]:
        """Every recommendation through the steps; how they ended, by status."""
        ended: dict[str, int] = {}
        for rid in recommendation_ids:
            status = run_steps(self.runtime, rid)["status"]
            ended[status] = ended.get(status, 0) + 1
        return ended


@contextmanager
def own_cpu(spent: dict[str, float], name: str = "steps") -> Iterator[None]:
    """Adds this process's CPU seconds over the block to ``spent[name]``."""
    before = time.process_time()
    try:
        yield
    finally:
        spent[name] = spent.get(name, 0.0) + time.process_time() - before
