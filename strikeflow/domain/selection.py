"""Contract selection: from a chain, the one contract a strategy should trade, and why.

Every candidate of the requested right is either chosen or rejected with its reasons;
that record becomes the execution's explain_json, so a trade can always be explained.
Rules run as array operations over the columnar chain: a 5,000-contract chain costs
a few milliseconds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np

from strikeflow.domain.chain import OptionChain, occ_root
from strikeflow.domain.enums import Right, StrategyType, StrikeMode
from strikeflow.domain.errors import InvalidPolicy, NoEligibleContract
from strikeflow.domain.expiry import days_to_expiry, require_aware
from strikeflow.domain.ineligible import why_none_eligible
from strikeflow.domain.liquidity import LiquidityRules, liquidity_flags
from strikeflow.domain.market import StrikeBand
from strikeflow.domain.model_greeks import MarketRates, model_greeks
from strikeflow.domain.models import Greeks, OptionContract
from strikeflow.domain.rejection import Reason, reasons_in
from strikeflow.domain.venue_rules import zero_dte_closed, zero_dte_refusal


@dataclass(frozen=True, slots=True)
class DteWindow:
    """Inclusive range of calendar days to expiry, counted from today in New York."""

    min_days: int
    max_days: int

    def __post_init__(self) -> None:
        if not 0 <= self.min_days <= self.max_days:
            raise InvalidPolicy(
                f"DTE window needs 0 <= min <= max, got {self.min_days}-{self.max_days}"
            )

    def __str__(self) -> str:
        return f"{self.min_days}–{self.max_days} DTE"


STRATEGY_WINDOWS = {
    StrategyType.DAY_TRADE: DteWindow(0, 1),
    StrategyType.SWING_TRADE: DteWindow(7, 30),
}


@dataclass(frozen=True, slots=True)
class StrikeTarget:
    """Which strike to trade.

    ATM: the listed strike nearest spot. OTM/ITM: ``strikes`` listed strikes beyond
    spot, or, when ``percent`` is set, the strike nearest spot × (1 ± percent).
    DELTA: any contract whose |delta| is within ``delta_tolerance`` of ``delta``.
    """

    mode: StrikeMode = StrikeMode.ATM
    strikes: int = 1
    percent: float | None = None
    delta: float = 0.40
    delta_tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.mode in (StrikeMode.OTM, StrikeMode.ITM):
            if self.percent is None and self.strikes < 1:
                raise InvalidPolicy(
                    f"{self.mode} by strikes needs strikes >= 1, got {self.strikes}"
                )
            if self.percent is not None and not 0 < self.percent < 1:
                raise InvalidPolicy(f"{self.mode} percent must be in (0, 1), got {self.percent}")
        if self.mode is StrikeMode.DELTA and not (
            0 < self.delta < 1 and 0 <= self.delta_tolerance < 1
        ):
            raise InvalidPolicy(
                f"target |delta| must be in (0, 1) with tolerance in [0, 1),"
                f" got {self.delta}±{self.delta_tolerance}"
            )

    def strikes_to_fetch(self, spot: Decimal, right: Right) -> StrikeBand | None:
        """The listed strikes this target can pick, per expiration, as a band by count
        (``StrikeBand.nearest``), each with a neighbour more so the explain shows what
        was around it: ATM the two nearest spot on each side, n OTM or ITM the n + 1
        nearest, a percent target the two nearest its price. None for a delta target,
        which only a range of prices can bound."""
        if self.mode is StrikeMode.DELTA:
            return None
        if self.mode is StrikeMode.ATM:
            return StrikeBand.nearest(spot, 2)
        if self.percent is None:
            return StrikeBand.nearest(spot, self.strikes + 1)
        step = Decimal(str(self.percent))
        above = self.aims_above(right)
        return StrikeBand.nearest(spot * (1 + step) if above else spot * (1 - step), 2)

    def aims_above(self, right: Right) -> bool:
        """Whether an OTM or ITM target lies above spot: OTM calls and ITM puts do."""
        return (self.mode is StrikeMode.OTM) == (right is Right.CALL)

    def __str__(self) -> str:
        if self.mode is StrikeMode.ATM:
            return "ATM"
        if self.mode is StrikeMode.DELTA:
            return f"|delta| {self.delta:.2f}±{self.delta_tolerance:.2f}"
        side = self.mode.value.upper()
        if self.percent is not None:
            return f"{self.percent:.1%} {side}"
        return f"{self.strikes} strike{'s' if self.strikes > 1 else ''} {side}"


@dataclass(frozen=True, slots=True)
class SelectionPolicy:
    """What to look for: a right, an expiry window, a strike target, liquidity rules.

    ``standard_only`` turns down adjusted contracts (a multiplier other than 100, or a
    root that is not the underlying's, as after a split or a merger): they deliver a
    basket, not 100 shares, so neither the strike target nor the premium means what it
    does for a standard contract. A deployment that wants them sets it False (the rules
    file's ``options.adjusted_contracts``); the entry row then keeps the contract's
    multiplier, which its close's P&L, the book and the Greek limits use.
    """

    right: Right
    window: DteWindow
    strike: StrikeTarget = field(default_factory=StrikeTarget)
    liquidity: LiquidityRules = field(default_factory=LiquidityRules)
    rates: MarketRates = field(default_factory=MarketRates)
    standard_only: bool = True

    @classmethod
    def for_strategy(
        cls, strategy: StrategyType, right: Right, **overrides: Any
    ) -> SelectionPolicy:
        return cls(right=Right(right), window=STRATEGY_WINDOWS[StrategyType(strategy)], **overrides)

    def to_json(self) -> dict[str, Any]:
        rules = self.liquidity
        return {
            "right": self.right.value,
            "window": [self.window.min_days, self.window.max_days],
            "strike": str(self.strike),
            "liquidity": {
                "min_volume": rules.min_volume,
                "min_open_interest": rules.min_open_interest,
                "max_spread_pct": rules.max_spread_pct,
                "require_bid": rules.require_bid,
                "max_quote_age_s": rules.max_quote_age_s,
            },
            "standard_only": self.standard_only,
        }


@dataclass(frozen=True, slots=True)
class Rejection:
    contract: OptionContract
    reasons: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CandidateReport:
    """Every candidate of the requested right, with the rules each one failed.

    Messages are rendered on demand: building thousands of strings is the slow part,
    and the hot path only needs the flags.
    """

    policy: SelectionPolicy
    spot: float
    now: datetime
    candidates: OptionChain
    flags: np.ndarray
    dte: np.ndarray
    target_strike: np.ndarray
    abs_delta: np.ndarray

    @property
    def rejected_count(self) -> int:
        return int(np.count_nonzero(self.flags))

    def rejections(self) -> list[Rejection]:
        contracts = self.candidates.contracts
        return [Rejection(contracts[i], tuple(self.messages(i))) for i in self._rejected]

    def messages(self, i: int) -> list[str]:
        """Why candidate ``i`` was rejected, with its own figures; empty if eligible."""
        i = int(i)
        return [self._describe(r, i) for r in reasons_in(self._flag_values[i])]

    def labels(self, i: int) -> list[str]:
        """The short names of the rules candidate ``i`` failed ('spread > 10%')."""
        return [self._label(r) for r in reasons_in(self._flag_values[int(i)])]

    def counts(self, among: np.ndarray | None = None) -> dict[str, int]:
        """Rejections per primary reason (the first rule each one failed), largest first;
        ``among``, a mask over the candidates, counts only those it selects."""
        flags = self._flag_values
        rows = self._rejected
        if among is not None:
            rows = [i for i in rows if among[i]]
        primary = Counter(self._label(reasons_in(flags[i])[0]) for i in rows)
        return dict(primary.most_common())

    def to_json(self) -> dict[str, Any]:
        """The report as explain_json stores it: one pass over the rejected candidates
        (each one's reasons found once, for its messages and its primary count)."""
        contracts, flags = self.candidates.contracts, self._flag_values
        primary: Counter[str] = Counter()
        rejected = []
        for i in self._rejected:
            reasons = reasons_in(flags[i])
            primary[self._label(reasons[0])] += 1
            messages = [self._describe(r, i) for r in reasons]
            rejected.append({"symbol": contracts[i].symbol, "reasons": messages})
        return {
            "policy": self.policy.to_json(),
            "spot": self.spot,
            "at": self.now.isoformat(),
            "candidates": len(self.candidates),
            "rejected_counts": dict(primary.most_common()),
            "rejected": rejected,
        }

    @cached_property
    def _flag_values(self) -> list[int]:
        return self.flags.tolist()

    @cached_property
    def _rejected(self) -> list[int]:
        return np.flatnonzero(self.flags).tolist()

    @cached_property
    def _now_ts(self) -> float:
        return self.now.timestamp()

    @cached_property
    def _label_of(self) -> dict[Reason, str]:
        return {}

    def _label(self, reason: Reason) -> str:
        label = self._label_of.get(reason)
        if label is None:
            label = self._label_of[reason] = self._render_label(reason)
        return label

    def _render_label(self, reason: Reason) -> str:
        policy = self.policy
        if reason is Reason.OUTSIDE_WINDOW:
            return f"outside {policy.window}"
        if reason is Reason.ADJUSTED:
            return "non-standard contract"
        if reason is Reason.ZERO_DTE_CLOSED:
            return "0DTE orders closed at the venue"
        if reason is Reason.OFF_TARGET_STRIKE:
            return f"off target ({policy.strike})"
        if reason is Reason.DELTA_OFF_TARGET:
            return f"outside {policy.strike}"
        if reason is Reason.DELTA_UNKNOWN:
            return "delta unknown"
        return policy.liquidity.label(reason)

    def _describe(self, reason: Reason, i: int) -> str:
        policy = self.policy
        c = self.candidates.contracts[i]
        if reason is Reason.OUTSIDE_WINDOW:
            dte = int(self.dte[i])
            when = "expired" if dte < 0 else f"expires in {dte} day(s)"
            return f"{when}, outside {policy.window}"
        if reason is Reason.ADJUSTED:
            terms = f"multiplier {c.multiplier}, root {occ_root(c.symbol)}"
            return f"non-standard contract ({terms}): adjusted deliverable"
        if reason is Reason.ZERO_DTE_CLOSED:
            return zero_dte_refusal(c.underlying, self.now)
        if reason is Reason.OFF_TARGET_STRIKE:
            target = self.target_strike[i]
            if math.isnan(target):
                return f"no strike {policy.strike} of spot {self.spot:g} listed for {c.expiration}"
            goal = f"the strike {policy.strike} of spot {self.spot:g}"
            return f"strike {c.strike} is not {target:g}, {goal}"
        if reason is Reason.DELTA_OFF_TARGET:
            return f"|delta| {self.abs_delta[i]:.3f} outside {policy.strike}"
        if reason is Reason.DELTA_UNKNOWN:
            return "delta unknown: no Greeks quoted and no implied vol in the mid price"
        return policy.liquidity.describe(reason, self.candidates, i, self._now_ts)


@dataclass(frozen=True, eq=False)
class Selection:
    """The chosen contract (Greeks filled in) and the report on every other candidate."""

    chosen: OptionContract
    greeks_source: str
    report: CandidateReport

    @property
    def rejected(self) -> list[Rejection]:
        return self.report.rejections()

    def explain(self) -> dict[str, Any]:
        c = self.chosen
        chosen = {
            "symbol": c.symbol,
            "strike": str(c.strike),
            "expiration": c.expiration.isoformat(),
            "bid": str(c.bid),
            "ask": str(c.ask),
            "volume": c.volume,
            "open_interest": c.open_interest,
            "implied_vol": c.implied_vol,
            "delta": c.greeks.delta if c.greeks else None,
            "greeks_source": self.greeks_source,
        }
        return {"chosen": chosen, **self.report.to_json()}


def select_contract(
    chain: OptionChain,
    spot: float,
    now: datetime,
    policy: SelectionPolicy,
    *,
    underlying: str = "",
    listed_through: date | None = None,
) -> Selection:
    """The contract to trade under ``policy``, or ``NoEligibleContract`` with the counts
    and the reason in words (``ineligible.why_none_eligible``: ``underlying`` names the
    ticker, else the chain's own; ``listed_through`` is how far the chain was asked about).

    A contract expiring today is turned down once the venue takes no more orders in it
    (``venue_rules``: 15:15 ET, 15:30 for broad-based ETFs), so a later expiry in the
    window is chosen instead. Among eligible contracts: the nearest expiration in the
    window wins, then the tighter spread (as a fraction of mid), then the |delta|
    nearest target, then the strike.
    """
    if not (isinstance(spot, int | float) and math.isfinite(spot) and spot > 0):
        raise InvalidPolicy(f"spot must be a positive finite number, got {spot!r}")
    require_aware(now)
    report = _evaluate(chain, float(spot), now, policy)
    eligible = np.flatnonzero(report.flags == 0)
    if eligible.size == 0:
        name = underlying or (chain.contracts[0].underlying if len(chain) else "")
        raise NoEligibleContract(
            report.counts(),
            len(report.candidates),
            explain=report.to_json(),
            reason=why_none_eligible(report, name, listed_through),
        )
    cands = report.candidates
    spread = cands.spread_pct[eligible]
    delta_gap = np.abs(report.abs_delta[eligible] - policy.strike.delta)
    if policy.strike.mode is not StrikeMode.DELTA:
        delta_gap = np.zeros_like(spread)
    keys = (cands.strike[eligible], delta_gap, spread, cands.expiration[eligible].astype(np.int64))
    best = int(eligible[np.lexsort(keys)[0]])
    chosen, source = _with_greeks(cands.contracts[best], spot, now, policy)
    return Selection(chosen=chosen, greeks_source=source, report=report)


def _evaluate(
    chain: OptionChain, spot: float, now: datetime, policy: SelectionPolicy
) -> CandidateReport:
    cands = chain.take(chain.is_call == (policy.right is Right.CALL))
    dte = days_to_expiry(cands.expiration, now)
    flags = liquidity_flags(cands, policy.liquidity, now.timestamp())
    in_window = (dte >= policy.window.min_days) & (dte <= policy.window.max_days)
    flags[~in_window] |= Reason.OUTSIDE_WINDOW
    admissible = cands.standard if policy.standard_only else np.ones(len(cands), bool)
    flags[~admissible] |= Reason.ADJUSTED
    closed = _past_venue_cutoff(cands, dte, in_window, now)
    flags[closed] |= Reason.ZERO_DTE_CLOSED
    # The rules that pick among contracts look only at those still tradable: a closed
    # 0DTE expiry must neither set the target strike nor crowd the delta band.
    in_window = in_window & ~closed

    target = np.full(len(cands), np.nan)
    abs_delta = np.abs(cands.delta)
    if policy.strike.mode is StrikeMode.DELTA:
        abs_delta = _fill_missing_delta(cands, abs_delta, in_window, spot, now, policy)
        unknown = np.isnan(abs_delta)
        flags[in_window & unknown] |= Reason.DELTA_UNKNOWN
        off = np.abs(abs_delta - policy.strike.delta) > policy.strike.delta_tolerance
        flags[in_window & ~unknown & off] |= Reason.DELTA_OFF_TARGET
    else:
        target = _target_strikes(cands, in_window & admissible, spot, policy)
        off = ~np.isclose(cands.strike, target, rtol=0, atol=1e-9)
        flags[in_window & admissible & off] |= Reason.OFF_TARGET_STRIKE
    return CandidateReport(policy, spot, now, cands, flags, dte, target, abs_delta)


def _past_venue_cutoff(
    cands: OptionChain, dte: np.ndarray, in_window: np.ndarray, now: datetime
) -> np.ndarray:
    """Contracts in the window that expire today and that the venue no longer takes
    orders in at ``now`` (``venue_rules.zero_dte_closed``), judged once per underlying."""
    closed = np.zeros(len(cands), dtype=np.bool_)
    rows = np.flatnonzero(in_window & (dte == 0))
    past: dict[str, bool] = {}
    for i in rows.tolist():
        contract = cands.contracts[i]
        shut = past.get(contract.underlying)
        if shut is None:
            shut = past[contract.underlying] = zero_dte_closed(
                contract.underlying, contract.expiration, now
            )
        closed[i] = shut
    return closed


def _target_strikes(
    cands: OptionChain, listed: np.ndarray, spot: float, policy: SelectionPolicy
) -> np.ndarray:
    """Per candidate, the target strike of its expiration (NaN where none is listed)."""
    target = np.full(len(cands), np.nan)
    for expiry in np.unique(cands.expiration[listed]):
        rows = cands.expiration == expiry
        strikes = np.unique(cands.strike[rows & listed])
        target[rows] = _target_strike(strikes, spot, policy.strike, policy.right)
    return target


def _target_strike(strikes: np.ndarray, spot: float, goal: StrikeTarget, right: Right) -> float:
    """The strike ``goal`` picks from ascending ``strikes``; NaN if the listing runs out."""
    if goal.mode is StrikeMode.ATM or goal.percent is not None:
        price = spot
        if goal.percent is not None:
            above = goal.aims_above(right)
            price = spot * (1 + goal.percent) if above else spot * (1 - goal.percent)
        return float(strikes[np.argmin(np.abs(strikes - price))])
    beyond = strikes[strikes > spot] if goal.aims_above(right) else strikes[strikes < spot][::-1]
    return float(beyond[goal.strikes - 1]) if len(beyond) >= goal.strikes else math.nan


def _fill_missing_delta(
    cands: OptionChain,
    abs_delta: np.ndarray,
    in_window: np.ndarray,
    spot: float,
    now: datetime,
    policy: SelectionPolicy,
) -> np.ndarray:
    missing = np.flatnonzero(in_window & np.isnan(abs_delta))
    if missing.size == 0:
        return abs_delta
    sub = cands.take(missing)
    _, greeks = model_greeks(sub, spot, now, policy.rates)
    filled = abs_delta.copy()
    filled[missing] = np.abs(greeks.delta)
    return filled


def _with_greeks(
    contract: OptionContract, spot: float, now: datetime, policy: SelectionPolicy
) -> tuple[OptionContract, str]:
    """The contract with implied vol and Greeks, computed from its mid where not quoted."""
    if contract.greeks is not None and contract.implied_vol is not None:
        return contract, "venue"
    iv, greeks = model_greeks(OptionChain.from_contracts([contract]), spot, now, policy.rates)
    implied_vol = float(iv[0]) if math.isfinite(iv[0]) else None
    computed = None
    if np.isfinite(greeks.delta[0]):
        computed = Greeks(*(float(g[0]) for g in greeks))
    source = "model from quoted IV" if contract.implied_vol is not None else "model from mid"
    if contract.greeks is not None:
        return replace(contract, implied_vol=implied_vol), "venue Greeks, IV from mid"
    return replace(contract, implied_vol=implied_vol, greeks=computed), source
