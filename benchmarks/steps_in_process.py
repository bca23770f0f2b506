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

from strikeflow.bootstrap import Runtime, build_runtime
from strikeflow.config import Settings
from strikeflow.services import dispatch_steps as steps
from strikeflow.services import outcomes
from strikeflow.services.messages import ExecutionRecorded, PlacedOrder, Reselection


def place(runtime: Runtime, recommendation_id: str) -> PlacedOrder:
    """fetch_chain → select_contract → snapshot_price → size_position → submit_order for
    one recommendation, as the chain's tasks call them (a price move that asks for a
    re-selection runs the first three again, as snapshot_price's task does). The
    messages are handed on as objects: the codec is Celery's share."""
    ctx = runtime.context
    reselection: Reselection | None = None
    while True:
        fetched = steps.fetch_chain(ctx, recommendation_id, reselection)
        checked = steps.snapshot_price(ctx, steps.select_contract(ctx, fetched))
        if not isinstance(checked, Reselection):
            break
        reselection = checked
    return steps.submit_order(ctx, steps.size_position(ctx, checked))


def run_steps(runtime: Runtime, recommendation_id: str) -> ExecutionRecorded:
    """``place``, then persist_execution: the six step bodies of one chain."""
    return outcomes.persist_execution(runtime.context, place(runtime, recommendation_id))


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
            status = run_steps(self.runtime, rid).status.value
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
