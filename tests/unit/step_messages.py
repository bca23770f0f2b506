"""Real step messages (``services.messages``) built from small values, for tests that drive
the tasks or the codec without a market: a stock trade of XYZ at 100, or an option one on
a hand-built contract, each message made from the one before as the steps make them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TypeVar

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderType,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.market import OptionQuote, StockQuote
from strikeflow.domain.orders import BrokerOrder
from strikeflow.services.messages import (
    ChainFetched,
    ContractSelected,
    ExecutionRecorded,
    Message,
    Notes,
    PlacedOrder,
    PriceCheck,
    PriceChecked,
    Reselection,
    SizedOrder,
    Ticket,
    decode,
    encode,
)
from tests.unit.factories import NOW, contract

M = TypeVar("M", bound=Message)
STOCK = InstrumentType.STOCK


def through_json(message: M) -> M:
    """``message`` after the trip a task message makes: encoded, JSON, decoded."""
    return decode(type(message), json.loads(json.dumps(encode(message))))


def ticket(rid: str, instrument: InstrumentType = STOCK) -> Ticket:
    strategy = None if instrument is STOCK else StrategyType.DAY_TRADE
    return Ticket(
        recommendation_id=rid,
        ticker="XYZ",
        action=Action.BUY,
        instrument=instrument,
        strategy=strategy,
        confidence=0.5,
    )


def stock_quote(mid: str = "100.00") -> StockQuote:
    half = Decimal("0.05")
    return StockQuote("XYZ", Decimal(mid) - half, Decimal(mid) + half, 100, 100, NOW)


def chain_fetched(
    rid: str, reselection: Reselection | None = None, instrument: InstrumentType = STOCK
) -> ChainFetched:
    """fetch_chain's message; with ``reselection``, its count and notes carried on."""
    option = instrument is not STOCK
    return ChainFetched(
        ticket=ticket(rid, instrument),
        underlying=stock_quote(),
        quoted_at=NOW,
        chain=(contract(100), contract(105)) if option else (),
        reselects=0 if reselection is None else reselection.reselects,
        notes=Notes() if reselection is None else reselection.notes,
    )


def contract_selected(fetched: ChainFetched) -> ContractSelected:
    """What select_contract makes of ``fetched``: its first contract, or the stock."""
    return ContractSelected(
        ticket=fetched.ticket,
        underlying=fetched.underlying,
        quoted_at=fetched.quoted_at,
        trade=fetched.ticket.instrument,
        contract=fetched.chain[0] if fetched.chain else None,
        reselects=fetched.reselects,
        notes=fetched.notes,
    )


def reselection(selected: ContractSelected) -> Reselection:
    """snapshot_price's decision to select again, its price check recorded."""
    check = PriceCheck(moved="XYZ moved 3.00% since selection (100 → 103) > 2.00%")
    checks = (*selected.notes.price_checks, check)
    return Reselection(
        recommendation_id=selected.ticket.recommendation_id,
        reselects=selected.reselects + 1,
        notes=selected.notes.model_copy(update={"price_checks": checks}),
    )


def price_checked(selected: ContractSelected) -> PriceChecked:
    held = selected.contract
    option_quote = None
    if held is not None:
        option_quote = OptionQuote(held.symbol, held.bid, held.ask, 10, 10, NOW)
    return PriceChecked(
        ticket=selected.ticket,
        trade=selected.trade,
        contract=held,
        underlying=stock_quote(),
        option_quote=option_quote,
        notes=selected.notes,
    )


def sized_order(checked: PriceChecked) -> SizedOrder:
    return SizedOrder(
        ticket=checked.ticket,
        trade=checked.trade,
        contract=checked.contract,
        option_quote=checked.option_quote,
        quantity=Decimal(3),
        order_cost=Decimal("300.15"),
        notes=checked.notes,
    )


def placed_order(sized: SizedOrder, mode: ExecutionMode = ExecutionMode.PAPER) -> PlacedOrder:
    """The venue's accepted order for ``sized``, under its client_order_id."""
    symbol = sized.ticket.ticker if sized.contract is None else sized.contract.symbol
    order = BrokerOrder(
        id=f"venue-{sized.ticket.recommendation_id}",
        client_order_id=sized.ticket.client_order_id,
        symbol=symbol,
        side=sized.ticket.action,
        qty=sized.quantity,
        order_type=OrderType.MARKET,
        status=ExecutionStatus.ACCEPTED,
        broker_status="accepted",
        broker=BrokerName.ALPACA,
        execution_mode=mode,
        submitted_at=NOW,
    )
    return PlacedOrder(sized=sized, order=order)


def execution_recorded(placed: PlacedOrder, execution_id: int = 1) -> ExecutionRecorded:
    """persist_execution's result for ``placed``: what its order says."""
    order = placed.order
    return ExecutionRecorded(
        recommendation_id=placed.sized.ticket.recommendation_id,
        client_order_id=order.client_order_id,
        execution_id=execution_id,
        status=RecommendationStatus.EXECUTED,
        execution_status=order.status.value,
        execution_mode=order.execution_mode.value,
    )


def every_message(rid: str, instrument: InstrumentType = InstrumentType.CALL) -> list[Message]:
    """One message of each kind a step reads or returns, for one recommendation."""
    fetched = chain_fetched(rid, instrument=instrument)
    selected = contract_selected(fetched)
    checked = price_checked(selected)
    sized = sized_order(checked)
    placed = placed_order(sized)
    again = reselection(selected)
    return [fetched, selected, again, checked, sized, placed, execution_recorded(placed)]
