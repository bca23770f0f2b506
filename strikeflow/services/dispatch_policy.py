"""What a dispatch step needs: the policy (from settings) and the ports (from bootstrap)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as time_of_day
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, Protocol

from strikeflow.domain.enums import OrderPricing, Right, StrategyType, StrikeMode
from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.liquidity import LiquidityRules
from strikeflow.domain.market import MarketClock, StrikeBand
from strikeflow.domain.orders import OptionPricing, client_order_id
from strikeflow.domain.risk import RiskLimits
from strikeflow.domain.selection import StrikeTarget
from strikeflow.domain.sizing import SizingPolicy
from strikeflow.domain.working import WorkingBook
from strikeflow.services.market_hours import MarketHours
from strikeflow.services.ports import Broker, DispatchStore, KillSwitch, MarketData, SharedCache
from strikeflow.signals.rules_file import default_rules

OffHours = Literal["refuse", "queue"]
OFF_HOURS: tuple[OffHours, ...] = ("refuse", "queue")

DEFAULT_STRIKES: Mapping[StrategyType, StrikeTarget] = MappingProxyType(
    {
        StrategyType.DAY_TRADE: StrikeTarget(StrikeMode.ATM),
        StrategyType.SWING_TRADE: StrikeTarget(StrikeMode.DELTA, delta=0.40),
    }
)


class PolicySettings(Protocol):
    """The settings a policy is made from (``strikeflow.config.Settings`` has them all;
    services never import the configuration itself)."""

    @property
    def risk_max_open_positions(self) -> int: ...
    @property
    def risk_max_daily_realized_loss(self) -> Decimal: ...
    @property
    def risk_max_exposure_per_ticker(self) -> Decimal: ...
    @property
    def risk_day_trade_cutoff(self) -> str | None: ...
    @property
    def risk_max_net_delta(self) -> Decimal: ...
    @property
    def risk_max_net_vega(self) -> Decimal: ...
    @property
    def option_order_pricing(self) -> str: ...
    @property
    def option_spread_fraction(self) -> Decimal: ...
    @property
    def off_hours(self) -> OffHours: ...
    @property
    def close_fee_per_contract(self) -> Decimal: ...


def risk_limits(settings: PolicySettings) -> RiskLimits:
    """The pre-trade limits (STRIKEFLOW_RISK_*; 0 or no cut-off: that limit is off)."""
    cutoff = settings.risk_day_trade_cutoff
    return RiskLimits(
        max_open_positions=settings.risk_max_open_positions or None,
        max_daily_realized_loss=settings.risk_max_daily_realized_loss or None,
        max_exposure_per_ticker=settings.risk_max_exposure_per_ticker or None,
        day_trade_cutoff=None if cutoff is None else time_of_day.fromisoformat(cutoff),
        max_net_delta=settings.risk_max_net_delta or None,
        max_net_vega=settings.risk_max_net_vega or None,
    )


def option_pricing(settings: PolicySettings) -> OptionPricing:
    """How option orders are priced (STRIKEFLOW_OPTION_ORDER_PRICING, ..._SPREAD_FRACTION):
    the policy size_position and submit_order price every option order by."""
    return OptionPricing(
        mode=OrderPricing(settings.option_order_pricing),
        spread_fraction=Decimal(settings.option_spread_fraction),
    )


def _liquidity_without_volume() -> LiquidityRules:
    """Open interest, spread, a bid and a fresh quote; no volume floor.

    Option volume reaches the domain only from a snapshot's ``dailyBar``: Alpaca sends
    one once the contract has traded today, the emulator never does, so a volume floor
    would reject a whole emulated chain (and every contract at the open). Open interest
    and a tight two-sided quote are what the selection relies on instead; a deployment
    that wants a floor sets ``LiquidityRules(min_volume=...)``.
    """
    return LiquidityRules(min_volume=0)


@dataclass(frozen=True)
class DispatchPolicy:
    """How the pipeline decides, with defaults a paper account can run on.

    ``max_price_move`` is the fraction the underlying may move between selection and the
    fresh quote; beyond it an option trade is re-selected (at most ``max_reselects``
    times) and a stock trade rejected. ``stock_fallback`` trades the stock when no
    contract is eligible or when not even one contract fits the budget.
    ``day_trade_strike_band_fraction`` is narrower than ``strike_band_fraction``: a 0-1
    DTE at-the-money pick never looks 10 % away, and every strike fetched costs time.
    ``allow_short`` off: a stock SELL closes a long position or is refused, never
    opening a short (``dispatch_close``).
    ``requote_after_s``: snapshot_price uses the quotes fetch_chain took when it runs
    within this many seconds of them, and fetches new ones otherwise (0: always).
    ``adjusted_contracts``: selection may pick an adjusted contract (the rules file's
    ``options.adjusted_contracts``); off, it trades standard contracts only.
    ``off_hours``: an order dispatched while the market is closed is refused (``refuse``,
    the reason naming the next open) or sent for the venue to hold until the open
    (``queue``); opening and closing trades alike.
    ``working``: how an option entry is worked under ``pricing`` mode ``worked`` (the
    rules file's ``[working]``; the packaged rules' by default).
    ``close_fee_per_contract``: what a close pays per option contract, out of its realized
    P&L (a chain's close and one recovery adopts alike).
    ``chain_spot_margin``: fetch_chain asks for the chain beside the stock quote, drawn
    around the last spot seen for the ticker, wide enough for a spot this fraction away
    (``chain_reads``); 0 asks for it after the quote only.
    """

    strike_band_fraction: Decimal = Decimal("0.10")
    day_trade_strike_band_fraction: Decimal = Decimal("0.04")
    quote_max_age_s: float = 30.0
    requote_after_s: float = 1.0
    max_price_move: Decimal = Decimal("0.02")
    stock_fallback: bool = True
    allow_short: bool = False
    adjusted_contracts: bool = False
    risk: RiskLimits = field(default_factory=RiskLimits)
    sizing: SizingPolicy = field(default_factory=SizingPolicy)
    pricing: OptionPricing = field(default_factory=OptionPricing)
    liquidity: LiquidityRules = field(default_factory=_liquidity_without_volume)
    strikes: Mapping[StrategyType, StrikeTarget] = field(default_factory=lambda: DEFAULT_STRIKES)
    max_reselects: int = 1
    off_hours: OffHours = "refuse"
    working: WorkingBook = field(default_factory=lambda: default_rules().working)
    close_fee_per_contract: Decimal = Decimal(0)
    chain_spot_margin: Decimal = Decimal("0.005")

    def __post_init__(self) -> None:
        for name in ("strike_band_fraction", "day_trade_strike_band_fraction"):
            if not Decimal(0) < getattr(self, name) < Decimal(1):
                raise InvalidPolicy(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if not self.quote_max_age_s > 0:
            raise InvalidPolicy(f"quote_max_age_s must be positive, got {self.quote_max_age_s}")
        if not 0 <= self.requote_after_s <= self.quote_max_age_s:
            raise InvalidPolicy(
                f"requote_after_s must be within [0, quote_max_age_s], got {self.requote_after_s}"
            )
        if not self.max_price_move > 0:
            raise InvalidPolicy(f"max_price_move must be positive, got {self.max_price_move}")
        if self.max_reselects < 0:
            raise InvalidPolicy(f"max_reselects must be >= 0, got {self.max_reselects}")
        if self.off_hours not in OFF_HOURS:
            raise InvalidPolicy(f"off_hours must be refuse or queue, got {self.off_hours!r}")
        if not Decimal(0) <= self.chain_spot_margin < Decimal("0.1"):
            raise InvalidPolicy(
                f"chain_spot_margin must be in [0, 0.1), got {self.chain_spot_margin}"
            )

    @classmethod
    def from_settings(
        cls,
        settings: PolicySettings,
        *,
        allow_short: bool = False,
        adjusted_contracts: bool = False,
        working: WorkingBook | None = None,
    ) -> DispatchPolicy:
        """The policy every dispatch step runs by: the settings' risk limits, option
        order pricing and off-hours rule, shorting and adjusted contracts as the rules
        file allows, the rest at its defaults."""
        return cls(
            risk=risk_limits(settings),
            pricing=option_pricing(settings),
            allow_short=allow_short,
            adjusted_contracts=adjusted_contracts,
            off_hours=settings.off_hours,
            close_fee_per_contract=Decimal(settings.close_fee_per_contract),
            **({} if working is None else {"working": working}),
        )

    def strike_for(self, strategy: StrategyType | None) -> StrikeTarget:
        return self.strikes.get(strategy or StrategyType.DAY_TRADE, StrikeTarget())

    def strikes_to_fetch(
        self, strategy: StrategyType | None, spot: Decimal, right: Right
    ) -> StrikeBand:
        """The strike target's strikes by count, or (a delta target) the strategy's band
        around spot."""
        band = self.strike_for(strategy).strikes_to_fetch(spot, right)
        if band is not None:
            return band
        fraction = self.strike_band_fraction
        if strategy in (None, StrategyType.DAY_TRADE):
            fraction = self.day_trade_strike_band_fraction
        return StrikeBand.around(spot, fraction)


@dataclass
class DispatchContext:
    """The ports one worker process built (bootstrap), plus the policy and a clock.

    ``now`` returns an aware datetime: the wall clock in production, the emulator's or a
    test's clock elsewhere (DTE and quote freshness are judged against it).
    ``hours`` answers whether the market is open, from ``market``'s clock.
    ``shared``: what the fleet shares for a while (the last spot per ticker); None
    shares nothing, and every chain is read after its quote.
    """

    market: MarketData
    broker: Broker
    store: DispatchStore
    kill_switch: KillSwitch
    policy: DispatchPolicy
    now: Callable[[], datetime]
    shared: SharedCache | None = None
    hours: MarketHours = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.hours = MarketHours(self.market)

    def market_clock(self) -> MarketClock:
        """The market's session at ``now`` (a clock read only when it may have changed)."""
        return self.hours.at(self.now())


def client_order_id_for(recommendation_id: str) -> str:
    """The one client_order_id of a recommendation's entry order (``sf-open-<32 hex>``,
    44 characters): every retry and every duplicate of submit_order sends this id."""
    return client_order_id(recommendation_id, "open")
