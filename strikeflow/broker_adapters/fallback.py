"""The fallback policy: a simulated execution standing in for an unreachable venue, in
paper trading, if the policy says so; never for a refusal, never for live trading.

``STRIKEFLOW_ON_BROKER_FAILURE=simulate|reject``. A simulated result carries
``execution_mode=SIMULATED`` and the failure it stands in for, in ``simulated_reason``
(``BrokerOrder.explain()`` puts both in the execution's explain_json).

Fall back only once the real broker's retries are spent: after ``BrokerUnavailable``
an earlier attempt may still have placed the order, and the simulated record cannot
know. So the caller (submit_order's task) retries the real broker itself, asks it once
more for the order (``dispatch_steps.fall_back``), and hands the final failure here only
when the venue says it holds none or cannot be asked.

An ``OrderRejected`` is the venue's answer, not its absence: the order it refused
(insufficient buying power, an inactive asset, a bad price) would be refused again, so
a simulated fill in its place would record a trade that cannot happen. It is raised,
whatever the policy, and the recommendation ends rejected with the venue's words.
"""

from __future__ import annotations

from enum import StrEnum

from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.errors import BrokerError, BrokerUnavailable
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.services.ports import Broker


class FailurePolicy(StrEnum):
    SIMULATE = "simulate"
    REJECT = "reject"


class FallbackBroker:
    """What stands in for ``primary`` (the real broker) when submit_order gives up on it:
    not a ``Broker`` itself, only ``fall_back``."""

    def __init__(
        self,
        primary: Broker,
        simulated: SimulatedBroker,
        policy: FailurePolicy | str = FailurePolicy.SIMULATE,
        live: bool = False,
    ) -> None:
        self.primary = primary
        self.simulated = simulated
        self.policy = FailurePolicy(policy)
        self.live = live

    @property
    def simulates(self) -> bool:
        return self.policy is FailurePolicy.SIMULATE and not self.live

    def __repr__(self) -> str:
        return f"FallbackBroker({self.primary!r}, policy={self.policy.value}, live={self.live})"

    def fall_back(self, intent: OrderIntent, failure: BrokerError) -> BrokerOrder:
        """The simulated execution standing in for an unreachable venue (``failure`` a
        ``BrokerUnavailable``, paper trading, policy simulate); otherwise ``failure``
        itself, raised: a refusal, the reject policy, or a live account."""
        if not (self.simulates and isinstance(failure, BrokerUnavailable)):
            raise failure
        return self.simulated.submit(intent, reason=f"broker unavailable: {failure}")
