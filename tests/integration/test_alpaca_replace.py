"""The Alpaca adapter's replace (``OrderReplacing``) against the emulator, through alpaca-py:
the venue's new order, the old one ``replaced`` and naming it; a replace of a closed order
is ``OrderNotReplaceable``; a replace sent again under its client_order_id is the order
it made, not a second one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strikeflow.domain.enums import Action, ExecutionStatus, OrderType
from strikeflow.domain.orders import OrderIntent, OrderNotReplaceable, worked_client_order_id
from strikeflow.services.ports import OrderReplacing
from tests.integration.test_alpaca_adapter import adapter, liquid_call  # noqa: F401

D = Decimal


@pytest.fixture
def resting(adapter):  # noqa: F811
    """A one-contract buy resting well below the bid."""
    call = liquid_call(adapter)
    limit = max(D("0.01"), (call.bid / 2).quantize(D("0.01")))
    intent = OrderIntent(
        "sf-open-replace-test", call.symbol, Action.BUY, D(1), OrderType.LIMIT, limit
    )
    return adapter.submit(intent)


def test_a_replace_is_a_new_order_and_the_old_one_ends_replaced(adapter, resting):  # noqa: F811
    assert isinstance(adapter, OrderReplacing)
    cid = worked_client_order_id(resting.client_order_id, 1)
    new = adapter.replace_order(resting.id, D(1), resting.limit_price + D("0.01"), cid)
    assert (new.client_order_id, new.replaces) == (cid, resting.id)
    assert new.id != resting.id
    assert new.is_open
    assert new.limit_price == resting.limit_price + D("0.01")
    old = adapter.order_by_client_id(resting.client_order_id)
    assert (old.status, old.broker_status, old.replaced_by) == (
        ExecutionStatus.REPLACED,
        "replaced",
        new.id,
    )
    assert not old.is_open

    again = adapter.replace_order(resting.id, D(1), resting.limit_price + D("0.01"), cid)
    assert again.id == new.id  # the duplicate's lookup: the order it made

    with pytest.raises(OrderNotReplaceable):
        adapter.replace_order(resting.id, D(1), resting.limit_price, cid + "0")
