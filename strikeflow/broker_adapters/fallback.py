"""The fallback policy as a Broker: the real broker first, a simulated execution when it
is down or refuses, if the policy says so, and never for live trading.

``STRIKEFLOW_ON_BROKER_FAILURE=simulate|reject``. A simulated result carries
``execution_mode=SIMULATED`` and the failure it stands in for, in ``simulated_reason``
(``BrokerOrder.explain()`` puts both in the execution's explain_json).

Fall back only once the real broker's retries are spent: after ``BrokerUnavailable``
an earlier attempt may still have placed the order, and the simulated record cannot
know. Callers that retry (the dispatcher's task) should retry ``primary`` and hand the
final failure to ``fall_back``; ``submit`` does both at once, for one-shot callers.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from strikeflow.broker_adapters.simulated import SimulatedBroker
from strikeflow.domain.errors import BrokerError, BrokerUnavailable
from strikeflow.domain.orders import AccountSnapshot, BrokerOrder, OrderIntent, PositionSnapshot
from strikeflow.services.ports import Broker


class FailurePolicy(StrEnum):
    SIMULATE = "simulate"
    REJECT = "reject"


class FallbackBroker:
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

    def submit(self, intent: OrderIntent) -> BrokerOrder:
        try:
            return self.primary.submit(intent)
        except BrokerError as failure:
            return self.fall_back(intent, failure)

    def fall_back(self, intent: OrderIntent, failure: BrokerError) -> BrokerOrder:
        """The simulated execution standing in for ``failure``, or ``failure`` itself when
        the policy is reject or the account is live."""
        if not self.simulates:
            raise failure
        kind = "unavailable" if isinstance(failure, BrokerUnavailable) else "rejected"
        return self.simulated.submit(intent, reason=f"broker {kind}: {failure}")

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        found = self.simulated.order_by_client_id(client_order_id)
        return found if found is not None else self.primary.order_by_client_id(client_order_id)

    def account(self) -> AccountSnapshot:
        return self.primary.account()

    def positions(self) -> list[PositionSnapshot]:
        return self.primary.positions()

    def close_position(self, symbol: str, qty: Decimal | None = None) -> BrokerOrder:
        if self.simulated.holds(symbol):
            return self.simulated.close_position(symbol, qty)
        return self.primary.close_position(symbol, qty)

    def cancel(self, order_id: str) -> None:
        if self.simulated.knows(order_id):
            self.simulated.cancel(order_id)
        else:
            self.primary.cancel(order_id)
