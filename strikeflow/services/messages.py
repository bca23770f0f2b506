"""The messages the dispatch steps hand one another: one frozen, typed message per hop.

::

    fetch_chain(recommendation_id)      → ChainFetched
    select_contract(ChainFetched)       → ContractSelected
    snapshot_price(ContractSelected)    → PriceChecked   (or Reselection → fetch_chain)
    size_position(PriceChecked)         → SizedOrder
    submit_order(SizedOrder)            → PlacedOrder
    persist_execution(PlacedOrder)      → ExecutionRecorded

A close travels its own two first steps, then the same last two::

    quote_close(recommendation_id)      → CloseQuoted    the held contract's (or stock's) quote
    size_close(CloseQuoted)             → SizedOrder     what is left of the entry, ``closes`` set

Each is a pydantic model holding domain values (contracts, quotes, orders: the domain's
own frozen dataclasses), so a step reads attributes, never string keys, and the one
codec (``encode``/``decode``: pydantic's JSON mode) writes Decimals as strings (a price
arrives to the cent), datetimes as ISO 8601 and enums as their values.

A message carries only what a later step reads. The selection's report (every
candidate and its reasons, ~11 KB for 80 contracts) is stored by select_contract on the
recommendation, once; the small notes a record keeps (fallback, price checks, sizing,
risk) ride along in ``Notes``.

Every message says its schema ``version``. A message of another version (the untyped payloads
of release 0.1.0 are version 1) is refused on purpose: ``decode`` raises
``IncompatibleMessage`` (never retried), and the step's errback records the recommendation
failed with a reason naming the version. It never crashes a worker.

The keys of the version-1 payload, and where each went:
recommendation_id, ticker, action, instrument, strategy, confidence → ``Ticket``;
client_order_id → derived (``Ticket.client_order_id``); spot, spot_quote →
``underlying`` (spot is its mid); quoted_at → ``quoted_at``; chain → ``chain``;
listed_through → ``listed_through``; trade → ``trade``; contract → ``contract``;
selected_at → gone (nothing read it); reselects → ``reselects``; stock_quote →
``underlying`` of PriceChecked; option_quote → ``option_quote``; quantity, order_cost,
position_effect → SizedOrder's fields; order → ``order``; refusal → ``refusal``;
explain.selection → stored by select_contract (``DispatchStore.record_selection``);
explain.fallback, price_checks, option_sizing, sizing, risk → ``Notes``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue, StrictInt, ValidationError
from pydantic_core import to_jsonable_python

from strikeflow.domain.enums import (
    Action,
    InstrumentType,
    PositionEffect,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import DomainError
from strikeflow.domain.market import OptionQuote, StockQuote
from strikeflow.domain.models import OptionContract
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.working import Purpose
from strikeflow.services.closing_ids import order_id_of

SCHEMA = 2  # 1: the untyped payloads of release 0.1.0
M = TypeVar("M", bound="Message")


class IncompatibleMessage(DomainError):
    """A step's message this release cannot read: another schema, or not its shape."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(Frozen):
    """What every step's message has: the version of its schema."""

    version: int = SCHEMA


class Ticket(Frozen):
    """What the recommendation asked for; every message carries it."""

    recommendation_id: str
    ticker: str
    action: Action
    instrument: InstrumentType  # asked for; ``trade`` is what is traded
    strategy: StrategyType | None
    confidence: float

    @property
    def client_order_id(self) -> str:
        """The one client_order_id of the order (``sf-open-<32 hex>``, a close's
        ``sf-close-<32 hex>``): every retry and every duplicate of submit_order sends it."""
        return order_id_of(self.recommendation_id)


class Fallback(Frozen):
    """Why the stock is traded instead of the option asked for."""

    reason: str
    counts: dict[str, int] | None = None


class PriceCheck(Frozen):
    """A move of the underlying beyond the limit between selection and the price check."""

    moved: str
    action: str = "reselected"
    previous: str | None = None  # the contract selected before


class Sizing(Frozen):
    """How the quantity was reached, as the record keeps it."""

    describe: str
    quantity: StrictInt | Decimal  # contracts or shares sized; a position closed: what was held
    unit_cost: Decimal
    basis: str
    budget: Decimal | None = None
    fraction: Decimal | None = None
    buying_power: Decimal | None = None


class Notes(Frozen):
    """The small parts of the decision the record keeps, gathered step by step."""

    fallback: Fallback | None = None
    price_checks: tuple[PriceCheck, ...] = ()
    option_sizing: str | None = None
    sizing: Sizing | None = None
    risk: dict[str, JsonValue] | None = None

    def record(self) -> dict[str, Any]:
        """The notes as the explain document stores them (absent parts left out)."""
        notes = self.model_dump(mode="json", exclude_none=True)
        return {name: part for name, part in notes.items() if part != []}


class BuyingPower(Frozen):
    """The account's buying power as fetch_chain read it, beside the stock quote, and
    when (the decision clock): size_position sizes by it while it is younger than the
    quotes' bound, instead of asking the venue once more."""

    buying_power: Decimal
    options_buying_power: Decimal
    read_at: datetime


class ChainFetched(Message):
    """The underlying's quote and, for an option, the chain of its right in the
    strategy's DTE window and strike band (``listed_through``: with the window empty,
    the nearest strikes of every expiry up to that date, so the reason can name one)."""

    ticket: Ticket
    underlying: StockQuote
    quoted_at: datetime
    chain: tuple[OptionContract, ...] = ()
    listed_through: date | None = None
    reselects: int = 0
    notes: Notes = Notes()
    account: BuyingPower | None = None


class ContractSelected(Message):
    """What will be traded: the contract chosen, or the stock (``contract`` None)."""

    ticket: Ticket
    underlying: StockQuote
    quoted_at: datetime
    trade: InstrumentType
    contract: OptionContract | None = None
    reselects: int = 0
    notes: Notes = Notes()
    account: BuyingPower | None = None


class Reselection(Message):
    """snapshot_price's decision to select again after the underlying moved: fetch_chain
    starts over with it (the recorded price check in ``notes``)."""

    recommendation_id: str
    reselects: int
    notes: Notes


class PriceChecked(Message):
    """Quotes fresh enough to price the order by."""

    ticket: Ticket
    trade: InstrumentType
    contract: OptionContract | None = None
    underlying: StockQuote
    option_quote: OptionQuote | None = None
    notes: Notes = Notes()
    account: BuyingPower | None = None


class ClosingOf(Frozen):
    """The entry a close sells, as its record and its realized P&L need it: the symbol
    held (an OCC symbol, or the stock), the entry's fill price per share, the shares a
    unit stands for, and the fee charged per contract closed."""

    execution_id: int
    symbol: str
    entry_price: Decimal
    multiplier: int
    fee_per_contract: Decimal = Decimal(0)


class CloseQuoted(Message):
    """A close, quoted: the entry it closes, what is left of it, the quantity asked for
    (None: all of it) and fresh quotes of what is held (an option's own quote, and the
    underlying's)."""

    ticket: Ticket
    closes: ClosingOf
    remaining: Decimal
    requested: Decimal | None = None
    underlying: StockQuote
    option_quote: OptionQuote | None = None
    purpose: Purpose = Purpose.EXIT  # how a worked close is worked (domain.working)
    notes: Notes = Notes()


class SizedOrder(Message):
    """The quantity, checked against the risk limits; a close (``closes`` set, or a
    stock SELL closing a long position) says CLOSE."""

    ticket: Ticket
    trade: InstrumentType
    contract: OptionContract | None = None
    option_quote: OptionQuote | None = None
    quantity: Decimal
    order_cost: Decimal
    position_effect: PositionEffect = PositionEffect.OPEN
    closes: ClosingOf | None = None
    purpose: Purpose = Purpose.ENTRY  # its working policy's, when orders are worked
    notes: Notes = Notes()


class Refusal(Frozen):
    """The venue's no to the submit itself: its HTTP status, code and message."""

    error: str
    status: int | None = None
    code: int | str | None = None
    message: str | None = None


class PlacedOrder(Message):
    """The order as the venue (or the fallback's simulated fill) holds it."""

    sized: SizedOrder
    order: BrokerOrder
    refusal: Refusal | None = None


class ExecutionRecorded(Message):
    """The chain's result: the execution row and the recommendation's terminal state."""

    recommendation_id: str
    client_order_id: str
    execution_id: int | None
    status: RecommendationStatus
    execution_status: str
    execution_mode: str


def encode(message: Message) -> dict[str, Any]:
    """``message`` as the JSON object a task message carries."""
    return message.model_dump(mode="json")


def decode(kind: type[M], data: Any) -> M:
    """``data`` as a ``kind`` message. Another schema version, or an object that is not a
    ``kind``, is ``IncompatibleMessage`` (recorded failed with the reason, never
    retried); anything but a JSON object is a TypeError, as for any argument a task
    cannot take."""
    if isinstance(data, kind):
        return data
    if not isinstance(data, dict):  # not a message of any release: an argument it cannot take
        raise TypeError(f"a {kind.__name__} message is a JSON object, not {type(data).__name__}")
    version = data.get("version", 1)
    if version != SCHEMA:
        raise IncompatibleMessage(
            f"a schema {version} {kind.__name__} message from another release:"
            f" this release reads schema {SCHEMA}"
        )
    try:
        return kind.model_validate(data)
    except ValidationError as wrong:
        first = wrong.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or kind.__name__
        raise IncompatibleMessage(
            f"not a {kind.__name__} message: {where}: {first['msg']}"
        ) from None


def as_json(value: Any) -> Any:
    """A domain document (a selection's report, a refusal's figures) as plain JSON:
    Decimals as strings, dates as ISO 8601, the same codec as the messages."""
    return to_jsonable_python(value)


def recommendation_id_in(data: Any) -> str | None:
    """The recommendation a step's argument is about, whatever its version or shape:
    the id itself, a message's ticket, or a version-1 payload's key."""
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return None
    for holder in (data, data.get("ticket"), (data.get("sized") or {}).get("ticket")):
        if isinstance(holder, dict) and isinstance(holder.get("recommendation_id"), str):
            return holder["recommendation_id"]
    return None
