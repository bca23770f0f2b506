"""Every enumeration of the domain, in one place: what a value may be, spelled as it is
stored, sent to the venue and shown.

The records keep these as text (``recommendations.status``, ``dispatch_executions.
instrument_type``...), the messages between steps as their values, and Alpaca's and OCC's
spellings are kept where they are the venue's (``Right`` is ``C``/``P``, as in OCC symbols).
"""

from __future__ import annotations

from enum import StrEnum


class Right(StrEnum):
    """An option's right, spelled as in OCC symbols."""

    CALL = "C"
    PUT = "P"


class InstrumentType(StrEnum):
    STOCK = "STOCK"
    CALL = "CALL"
    PUT = "PUT"

    @property
    def right(self) -> Right | None:
        return {InstrumentType.CALL: Right.CALL, InstrumentType.PUT: Right.PUT}.get(self)


class StrategyType(StrEnum):
    DAY_TRADE = "day_trade"
    SWING_TRADE = "swing_trade"


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class RecommendationSource(StrEnum):
    SCAN = "scan"
    MANUAL = "manual"
    API = "api"
    EXIT = "exit"  # an exit rule fired on a held position: a close
    MANUAL_CLOSE = "manual_close"  # a close asked for at a shell or by a task
    # What the venue did on its own, read from its account activities (venue_events):
    # a close it made (expiry, exercise, cash settlement, liquidation), and the shares an
    # exercise delivered. Recorded already settled; never sent as an order.
    VENUE = "venue"
    EXERCISE = "exercise"

    @property
    def closes(self) -> bool:
        """True for the sources whose recommendations close a held entry."""
        return self in (RecommendationSource.EXIT, RecommendationSource.MANUAL_CLOSE)


class RecommendationStatus(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    EXECUTED = "executed"
    FELL_BACK = "fell_back"
    REJECTED = "rejected"
    FAILED = "failed"
    # Accepted by the venue, then ended (expired, canceled, rejected later) with nothing
    # filled: the one state a terminal one (executed, fell_back) may still become, when
    # the venue's final word on the order arrives after the recommendation was settled.
    UNFILLED = "unfilled"

    @property
    def terminal(self) -> bool:
        return self not in (RecommendationStatus.PENDING, RecommendationStatus.DISPATCHED)


class ExecutionStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    FAILED = "failed"
    # Replaced at the venue by another order (``PATCH /v2/orders/{id}``): final for this
    # order, whose quantity and fills the replacing one carries on.
    REPLACED = "replaced"


class ExecutionMode(StrEnum):
    PAPER = "PAPER"
    LIVE = "LIVE"
    SIMULATED = "SIMULATED"


class BrokerName(StrEnum):
    ALPACA = "alpaca"
    SIMULATED = "simulated"


class PositionEffect(StrEnum):
    OPEN = "OPEN"
    CLOSE = "CLOSE"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderPricing(StrEnum):
    """How an option order's limit is set from the quote."""

    MARKETABLE_LIMIT = "marketable_limit"  # buy at mid + fraction x spread (ask by default)
    LIMIT_AT_MID = "limit_at_mid"
    MARKET = "market"
    # An option entry worked in steps from near the mid toward the far side, each step a
    # replace of the resting order (``domain.working``, ``services.working_orders``).
    WORKED = "worked"


class BarTimeframe(StrEnum):
    MINUTE = "1Min"
    HOUR = "1Hour"
    DAY = "1Day"


class RiskBreach(StrEnum):
    KILL_SWITCH = "kill_switch"
    MAX_OPEN_POSITIONS = "max_open_positions"
    MAX_DAILY_LOSS = "max_daily_loss"
    MAX_TICKER_EXPOSURE = "max_ticker_exposure"
    DAY_TRADE_CUTOFF = "day_trade_cutoff"
    MAX_NET_DELTA = "max_net_delta"
    MAX_NET_VEGA = "max_net_vega"


class StrikeMode(StrEnum):
    ATM = "atm"
    OTM = "otm"
    ITM = "itm"
    DELTA = "delta"


class ExitRule(StrEnum):
    """Which exit rule closed (or would close) a held position, in order of precedence."""

    EXPIRY = "expiry"
    TIME_OF_DAY = "time_of_day"
    STOP_LOSS = "stop_loss"
    UNDERLYING_STOP = "underlying_stop"
    TRAILING_STOP = "trailing_stop"
    TAKE_PROFIT = "take_profit"
    THETA = "theta"
    MAX_HOLDING = "max_holding"


class ExitUrgency(StrEnum):
    """How hard a closing order must try: urgent ones must be done before the venue closes."""

    ORDINARY = "ordinary"
    URGENT = "urgent"
