"""Hypothesis strategies of the dispatch messages (``services.messages``): prices at any
scale, moments in any UTC offset, every optional part present or absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderType,
    PositionEffect,
    RecommendationStatus,
    Right,
    StrategyType,
)
from strikeflow.domain.market import OptionQuote, StockQuote
from strikeflow.domain.models import Greeks
from strikeflow.domain.orders import BrokerOrder
from strikeflow.services.messages import (
    ChainFetched,
    ContractSelected,
    ExecutionRecorded,
    Fallback,
    Notes,
    PlacedOrder,
    PriceCheck,
    PriceChecked,
    Refusal,
    Reselection,
    SizedOrder,
    Sizing,
    Ticket,
)
from tests.unit.factories import contract

# Fixed UTC offsets, as the venue's timestamps carry: a zoneinfo moment in a DST fold
# compares unequal to the same instant in another zone (PEP 495), whatever the codec does.
MONEY = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e6"), places=4) | st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("1e6"), allow_nan=False, allow_infinity=False
)
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=-4))]),
)
WORDS = st.text(max_size=40)
SYMBOLS = st.from_regex(r"[A-Z]{1,5}", fullmatch=True)
SIZES = st.integers(0, 1_000_000)
RATIOS = st.floats(min_value=0, max_value=5, allow_nan=False)
GREEKS = st.none() | st.builds(
    Greeks,
    *(st.floats(min_value=-10, max_value=10, allow_nan=False) for _ in range(5)),
)
TICKETS = st.builds(
    Ticket,
    recommendation_id=WORDS,
    ticker=SYMBOLS,
    action=st.sampled_from(Action),
    instrument=st.sampled_from(InstrumentType),
    strategy=st.none() | st.sampled_from(StrategyType),
    confidence=st.floats(min_value=0, max_value=1),
)
STOCK_QUOTES = st.builds(StockQuote, SYMBOLS, MONEY, MONEY, SIZES, SIZES, MOMENTS)
OPTION_QUOTES = st.builds(
    OptionQuote,
    symbol=WORDS,
    bid=MONEY,
    ask=MONEY,
    bid_size=SIZES,
    ask_size=SIZES,
    time=MOMENTS,
    last=st.none() | MONEY,
    implied_vol=st.none() | RATIOS,
    greeks=GREEKS,
    volume=st.none() | SIZES,
)
CONTRACTS = st.builds(
    contract,
    strike=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999.999"), places=3).map(
        str
    ),
    dte=st.integers(0, 800),
    right=st.sampled_from(Right),
    underlying=SYMBOLS,
    bid=MONEY.map(str),
    ask=MONEY.map(str),
    volume=SIZES,
    open_interest=SIZES,
    delta=st.none() | st.floats(min_value=-1, max_value=1),
    implied_vol=st.none() | RATIOS,
    quote_age_s=st.floats(min_value=0, max_value=1e5),
    multiplier=st.sampled_from([10, 100, 1000]),
    now=MOMENTS,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=3),
    max_leaves=8,
)
NOTES = st.builds(
    Notes,
    fallback=st.none()
    | st.builds(Fallback, reason=WORDS, counts=st.none() | st.dictionaries(WORDS, SIZES)),
    price_checks=st.lists(
        st.builds(PriceCheck, moved=WORDS, action=WORDS, previous=st.none() | WORDS), max_size=2
    ).map(tuple),
    option_sizing=st.none() | WORDS,
    sizing=st.none()
    | st.builds(
        Sizing,
        describe=WORDS,
        quantity=SIZES | MONEY,
        unit_cost=MONEY,
        basis=WORDS,
        budget=st.none() | MONEY,
        fraction=st.none() | MONEY,
        buying_power=st.none() | MONEY,
    ),
    risk=st.none() | st.dictionaries(WORDS, JSON_VALUES, max_size=4),
)
OPTIONAL_CONTRACTS = st.none() | CONTRACTS
SIZED_ORDERS = st.builds(
    SizedOrder,
    ticket=TICKETS,
    trade=st.sampled_from(InstrumentType),
    contract=OPTIONAL_CONTRACTS,
    option_quote=st.none() | OPTION_QUOTES,
    quantity=MONEY,
    order_cost=MONEY,
    position_effect=st.sampled_from(PositionEffect),
    notes=NOTES,
)
BROKER_ORDERS = st.builds(
    BrokerOrder,
    id=WORDS,
    client_order_id=WORDS,
    symbol=WORDS,
    side=st.sampled_from(Action),
    qty=MONEY,
    order_type=st.sampled_from(OrderType),
    status=st.sampled_from(ExecutionStatus),
    broker_status=WORDS,
    broker=st.sampled_from(BrokerName),
    execution_mode=st.sampled_from(ExecutionMode),
    limit_price=st.none() | MONEY,
    filled_qty=MONEY,
    filled_avg_price=st.none() | MONEY,
    submitted_at=st.none() | MOMENTS,
    filled_at=st.none() | MOMENTS,
    position_intent=st.none() | WORDS,
    simulated_reason=st.none() | WORDS,
)
MESSAGES = st.one_of(
    st.builds(
        ChainFetched,
        ticket=TICKETS,
        underlying=STOCK_QUOTES,
        quoted_at=MOMENTS,
        chain=st.lists(CONTRACTS, max_size=4).map(tuple),
        listed_through=st.none() | st.dates(),
        reselects=st.integers(0, 3),
        notes=NOTES,
    ),
    st.builds(
        ContractSelected,
        ticket=TICKETS,
        underlying=STOCK_QUOTES,
        quoted_at=MOMENTS,
        trade=st.sampled_from(InstrumentType),
        contract=OPTIONAL_CONTRACTS,
        reselects=st.integers(0, 3),
        notes=NOTES,
    ),
    st.builds(Reselection, recommendation_id=WORDS, reselects=st.integers(0, 3), notes=NOTES),
    st.builds(
        PriceChecked,
        ticket=TICKETS,
        trade=st.sampled_from(InstrumentType),
        contract=OPTIONAL_CONTRACTS,
        underlying=STOCK_QUOTES,
        option_quote=st.none() | OPTION_QUOTES,
        notes=NOTES,
    ),
    SIZED_ORDERS,
    st.builds(
        PlacedOrder,
        sized=SIZED_ORDERS,
        order=BROKER_ORDERS,
        refusal=st.none()
        | st.builds(
            Refusal,
            error=WORDS,
            status=st.none() | st.integers(100, 599),
            code=st.none() | st.integers() | WORDS,
            message=st.none() | WORDS,
        ),
    ),
    st.builds(
        ExecutionRecorded,
        recommendation_id=WORDS,
        client_order_id=WORDS,
        execution_id=st.none() | st.integers(1, 2**31),
        status=st.sampled_from(RecommendationStatus),
        execution_status=WORDS,
        execution_mode=WORDS,
    ),
)
