"""The emulator's order vocabulary: refusals, orders, positions, and the validation of a ticket.

Everything here is pure: a submitted order's fields are checked against Alpaca's rules that
need no account state (shape, types, option-only rules, price increments) and turned into an
``OrderTicket``; the stateful rules (duplicates, buying power, quantity held) live in the venue.

Refusals carry Alpaca's HTTP status and error code (docs/emulator.md lists them):
422 with 40010001 for a request that fails validation (a bad qty, side, type or
time_in_force, a limit price not above zero, an unknown or inactive asset) and, as on
Alpaca, for a duplicate client_order_id too: the two share the code and differ by the
message ("client_order_id must be unique"), which is how a client tells them apart.
40310000 forbidden by the account (buying power, quantity held, options approval),
40410000 not found, 42210000 an order Alpaca understands but will not take (options
time_in_force, sub-penny prices, cancel of a closed order).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.occ import OccSymbol, parse_occ

INVALID = 40010001  # Alpaca's code for validation errors, a duplicate client_order_id among them
DUPLICATE = INVALID
DUPLICATE_MESSAGE = "client_order_id must be unique"
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000

OPTION_MULTIPLIER = Decimal(100)
STOCK_EXCHANGE = "NASDAQ"  # an AssetExchange enum value; options use "" as Alpaca does
MAX_CLIENT_ORDER_ID = 128
MAX_QTY_PLACES = 9
MAX_DIGITS = 40  # no number taken needs more digits, either side of the point
OPEN_STATUSES = frozenset(
    {"accepted", "new", "pending_new", "partially_filled", "pending_cancel", "done_for_day"}
)
SIDES = ("buy", "sell")
TYPES = ("market", "limit")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
STOCK_TIME_IN_FORCE = ("day", "gtc")
INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")

_TICKER = re.compile(r"[A-Z]{1,5}(?:[./][A-Z]{1,2})?")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SHOWN = 40


class VenueError(Exception):
    """A refusal, rendered by the HTTP layer as ``{"code": code, "message": message, **extra}``."""

    def __init__(
        self, status: int, code: int, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})


def invalid(message: str) -> VenueError:
    """A request that fails validation: 422 with Alpaca's 40010001 and what is wrong."""
    return VenueError(422, INVALID, message)


def duplicate() -> VenueError:
    return VenueError(422, DUPLICATE, DUPLICATE_MESSAGE)


def unprocessable(message: str) -> VenueError:
    return VenueError(422, UNPROCESSABLE, message)


def forbidden(message: str, extra: dict[str, Any] | None = None) -> VenueError:
    return VenueError(403, FORBIDDEN, message, extra)


def not_found(what: str) -> VenueError:
    return VenueError(404, NOT_FOUND, f"{what} not found")


@lru_cache(maxsize=4096)
def rfc3339(moment: datetime) -> str:
    """Cached: a chain's snapshots share a handful of instants (the clock's now)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stable_uuid(kind: str, n: int) -> str:
    """The n-th id of a kind: shaped like a uuid4, derived from a counter, so runs repeat."""
    digest = hashlib.sha256(f"strikeflow-sim:{kind}:{n}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def asset_id(symbol: str) -> str:
    """A stable UUID per asset (uuid5 of ``strikeflow-sim:asset:<symbol>``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"strikeflow-sim:asset:{symbol}"))


def tidy(value: Decimal) -> Decimal:
    """Trailing zeros dropped (``1.0`` → ``1``, ``2.150`` → ``2.15``), never exponent form."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text)


def price_of(value: float) -> Decimal:
    """A quote's float price as the Decimal it prints as (``2.15`` → ``Decimal("2.15")``)."""
    return tidy(Decimal(repr(float(value))))


@dataclass(slots=True)
class Order:
    """One order, with every field the Alpaca order JSON carries (times are aware datetimes)."""

    id: str
    client_order_id: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime
    symbol: str
    asset_id: str
    asset_class: str  # "us_equity" | "us_option"
    qty: Decimal
    side: str
    type: str
    order_type: str
    time_in_force: str
    status: str
    limit_price: Decimal | None = None
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    expires_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    order_class: str = "simple"
    extended_hours: bool = False
    position_intent: str | None = None
    notional: Decimal | None = None
    stop_price: Decimal | None = None
    legs: list[Order] | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Position:
    """A long position marked at the quote's mid (or at cost when there is no usable quote).

    ``lastday_price`` is its mark at the previous session's close (``venue_day``), and the
    intraday figures count from it; ``asset_marginable`` is the asset's, not the
    account's: the stocks are, options are not (long options are paid in full)."""

    asset_id: str
    symbol: str
    exchange: str
    asset_class: str
    asset_marginable: bool
    avg_entry_price: Decimal
    qty: Decimal
    qty_available: Decimal
    side: str
    cost_basis: Decimal
    market_value: Decimal
    current_price: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal
    unrealized_intraday_pl: Decimal
    unrealized_intraday_plpc: Decimal
    lastday_price: Decimal
    change_today: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    """The paper account as /v2/account shows it; money fields render as strings.

    A cash account that trades no crypto and charges no fees: margin, day-trading and
    fee figures are zero, ``crypto_status`` INACTIVE. ``last_equity`` is the equity at
    the previous session's close, ``balance_asof`` that session's date (``venue_day``).
    """

    id: str
    account_number: str
    status: str
    currency: str
    cash: Decimal
    buying_power: Decimal
    regt_buying_power: Decimal
    daytrading_buying_power: Decimal
    non_marginable_buying_power: Decimal
    options_buying_power: Decimal
    equity: Decimal
    portfolio_value: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    multiplier: str
    options_approved_level: int
    options_trading_level: int
    pattern_day_trader: bool
    trading_blocked: bool
    transfers_blocked: bool
    account_blocked: bool
    shorting_enabled: bool
    trade_suspended_by_user: bool
    daytrade_count: int
    created_at: datetime
    effective_buying_power: Decimal
    last_equity: Decimal
    position_market_value: Decimal
    balance_asof: date
    bod_dtbp: int = 0  # a JSON number, as Alpaca sends it
    accrued_fees: Decimal = Decimal(0)
    last_maintenance_margin: Decimal = Decimal(0)
    sma: Decimal = Decimal(0)
    intraday_adjustments: Decimal = Decimal(0)
    pending_reg_taf_fees: Decimal = Decimal(0)
    crypto_status: str = "INACTIVE"
    crypto_tier: int = 0
    admin_configurations: dict[str, Any] = field(default_factory=dict)
    user_configurations: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """A submitted order that passed every check needing no account state."""

    symbol: str
    option: OccSymbol | None
    qty: Decimal
    side: str
    type: str
    time_in_force: str
    limit_price: Decimal | None
    client_order_id: str | None
    position_intent: str | None
    extended_hours: bool

    @property
    def asset_class(self) -> str:
        return "us_equity" if self.option is None else "us_option"

    @property
    def multiplier(self) -> Decimal:
        return Decimal(1) if self.option is None else OPTION_MULTIPLIER


def shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def check_client_order_id(client_order_id: object) -> str | None:
    if client_order_id is None:
        return None
    if not isinstance(client_order_id, str) or not 1 <= len(client_order_id) <= MAX_CLIENT_ORDER_ID:
        raise invalid(f"client_order_id must be 1 to {MAX_CLIENT_ORDER_ID} characters")
    return client_order_id


def to_number(value: object, name: str) -> Decimal:
    """A finite Decimal from an int, float, Decimal or plain decimal string; 422 otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise invalid(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(f"{name} must be a finite number")
    if isinstance(value, str) and (len(value) > 40 or _PLAIN_NUMBER.fullmatch(value) is None):
        raise invalid(f"{name} must be a number")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise invalid(f"{name} must be a number") from None
    if not number.is_finite():
        raise invalid(f"{name} must be a finite number")
    # Bounded so that order arithmetic never overflows and no refusal quotes a huge number.
    if number and not -MAX_DIGITS <= number.adjusted() < MAX_DIGITS:
        raise invalid(f"{name} is out of range (1e-{MAX_DIGITS} to 1e{MAX_DIGITS})")
    return number


def to_qty(value: object, *, whole: bool) -> Decimal:
    qty = to_number(value, "qty")
    if qty <= 0:
        raise invalid("qty must be > 0")
    qty = tidy(qty)
    places = -int(qty.as_tuple().exponent)
    if whole and places > 0:
        raise invalid("qty must be integer")
    if places > MAX_QTY_PLACES:
        raise invalid(f"qty must have at most {MAX_QTY_PLACES} decimal places")
    return qty


def classify(symbol: object) -> OccSymbol | None:
    """The parsed contract for an OCC symbol, None for a stock ticker; 422 for anything else."""
    if not isinstance(symbol, str) or not symbol:
        raise invalid("symbol is required")
    if _TICKER.fullmatch(symbol):
        return None
    try:
        return parse_occ(symbol)
    except InvalidOccSymbol as bad:
        if any(c.isdigit() for c in symbol):
            raise invalid(str(bad)) from None
        raise invalid(f"asset {shown(symbol)} not found") from None


def make_ticket(
    symbol: object,
    qty: object,
    side: object,
    type: object,
    time_in_force: object,
    limit_price: object,
    client_order_id: str | None,
    position_intent: object,
    extended_hours: object,
) -> OrderTicket:
    """Every rule that needs no account state, in the order a reader would check them."""
    if side not in SIDES:
        raise invalid(f"invalid side {shown(side)}: expected buy or sell")
    if type not in TYPES:
        raise invalid(f"invalid order type {shown(type)}: the emulator takes market or limit")
    if time_in_force not in TIME_IN_FORCE:
        raise invalid(f"invalid time_in_force {shown(time_in_force)}")
    if not isinstance(extended_hours, bool):
        raise invalid("extended_hours must be a boolean")
    option = classify(symbol)
    limit = _limit_price(type, limit_price, option is not None)
    intent = _intent(position_intent, side)
    if option is None:
        _stock_rules(time_in_force, type, extended_hours)
    else:
        _option_rules(time_in_force, extended_hours)
    return OrderTicket(
        symbol=str(symbol),
        option=option,
        qty=to_qty(qty, whole=option is not None),
        side=str(side),
        type=str(type),
        time_in_force=str(time_in_force),
        limit_price=limit,
        client_order_id=client_order_id,
        position_intent=intent,
        extended_hours=extended_hours,
    )


def _limit_price(order_type: object, limit_price: object, is_option: bool) -> Decimal | None:
    if order_type == "market":
        if limit_price is not None:
            raise invalid("limit_price must not be given for a market order")
        return None
    if limit_price is None:
        raise invalid("limit_price is required for a limit order")
    price = to_number(limit_price, "limit_price")
    if price <= 0:
        raise invalid("limit_price must be > 0")
    price = tidy(price)
    allowed = 2 if is_option or price >= 1 else 4
    if -int(price.as_tuple().exponent) > allowed:
        raise unprocessable(
            f"invalid limit_price {price}. sub-penny increment does not fulfill "
            "minimum pricing criteria"
        )
    return price


def _intent(position_intent: object, side: object) -> str | None:
    if position_intent is None:
        return None
    if position_intent not in INTENTS:
        raise invalid(f"invalid position_intent {shown(position_intent)}")
    if not str(position_intent).startswith(f"{side}_"):
        raise invalid(f"position_intent {position_intent} does not match side {side}")
    return str(position_intent)


def _stock_rules(time_in_force: object, order_type: object, extended_hours: bool) -> None:
    if time_in_force not in STOCK_TIME_IN_FORCE:
        raise unprocessable(f"time_in_force {time_in_force} is not supported (day or gtc)")
    if extended_hours and (order_type != "limit" or time_in_force != "day"):
        raise unprocessable("extended hours order must be DAY limit orders")


def _option_rules(time_in_force: object, extended_hours: bool) -> None:
    if time_in_force != "day":
        raise unprocessable(f"options orders must be time_in_force day, not {time_in_force}")
    if extended_hours:
        raise unprocessable("extended hours are not supported for options orders")


def fill_price(order: Order, bid: Decimal, ask: Decimal) -> Decimal | None:
    """Alpaca paper's price for this order against this quote, or None if it does not cross.

    Market buys take the ask and market sells the bid; a limit buy fills when the ask is at
    or below the limit, at the better of the two (min(limit, ask)); a limit sell fills when
    the bid is at or above it, at max(limit, bid). A missing side (price <= 0) never fills.
    """
    if order.side == "buy":
        if ask <= 0:
            return None
        if order.limit_price is None:
            return ask
        return min(order.limit_price, ask) if ask <= order.limit_price else None
    if bid <= 0:
        return None
    if order.limit_price is None:
        return bid
    return max(order.limit_price, bid) if bid >= order.limit_price else None
