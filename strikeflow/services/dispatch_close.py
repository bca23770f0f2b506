"""A bearish stock trade without shorting: close a long position, or refuse before the venue.

A SELL on stock (asked for, or a PUT that fell back to its stock) would open a short when
nothing is held. With ``DispatchPolicy.allow_short`` off (the default, as the scan's
``stock.allow_short``), the venue would refuse it anyway (a cash account: 403 insufficient
qty), so the chain refuses it first, with its reason. When a long position is held, the
trade closes it: the whole position, sold at market, recorded as a CLOSE.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from strikeflow.domain.errors import DispatchRejected
from strikeflow.domain.models import InstrumentType
from strikeflow.domain.records import Action, PositionEffect
from strikeflow.services.dispatch_policy import DispatchContext

STOCK = InstrumentType.STOCK.value


def opens_a_short(ctx: DispatchContext, payload: dict[str, Any], trade: str) -> bool:
    """True for a stock SELL the policy does not let open a short."""
    return trade == STOCK and payload["action"] == Action.SELL.value and not ctx.policy.allow_short


def close_long(ctx: DispatchContext, payload: dict[str, Any], explain: dict) -> dict[str, Any]:
    """The payload selling the held long position of the ticker, or a refusal saying why.
    Risk limits bound new entries, so only the kill switch applies to a close."""
    ticker = payload["ticker"]
    held = sum((p.qty for p in ctx.broker.positions() if p.symbol == ticker), Decimal(0))
    if held <= 0:
        explain["short"] = {"held": str(held), "allow_short": False}
        raise DispatchRejected(
            f"no shorting: SELL {ticker} stock with no long position to close (allow_short is off)",
            explain,
        )
    if ctx.kill_switch.is_on():
        raise DispatchRejected("risk: kill switch on", explain)
    bid = Decimal(payload["stock_quote"]["bid"])
    explain["sizing"] = {
        "describe": f"close the long position: sell {held} {ticker}",
        "quantity": str(held),
        "unit_cost": str(bid),
        "basis": "position",
    }
    return {
        **payload,
        "trade": STOCK,
        "contract": None,
        "quantity": str(held),
        "order_cost": str(held * bid),
        "position_effect": PositionEffect.CLOSE.value,
        "explain": explain,
    }
