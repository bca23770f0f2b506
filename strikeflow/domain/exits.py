"""Whether to close a held position now, and why: a pure decision from one fresh quote.

``decide_exit`` tries the rules of ``ExitRules`` in a fixed precedence and returns the
first that fires, or None:

1. ``expiry``: an option's days to expiry (New York) at most ``close_at_dte``;
2. ``time_of_day``: New York time at or past ``time_exit``, or a later day than entry;
3. ``stop_loss``: the exit price at least ``stop_loss_pct`` below the entry price;
4. ``underlying_stop``: the underlying ``underlying_stop_pct`` against the option;
5. ``trailing_stop``: the mark ``trailing_stop_pct`` below its high-water mark, once armed;
6. ``take_profit``: the exit price at least ``take_profit_pct`` above the entry price;
7. ``theta``: a day's decay at least ``theta_max_pct`` of the mark;
8. ``max_holding``: held at least ``max_holding_hours``.

The clock's rules (1, 2 and 8) need no quote and fire whatever the quote; the others
judge prices, so a missing, stale (older than ``max_quote_age_s``) or crossed quote
decides nothing. The protective rules come before the take profit: when one quote
satisfies both (a trailing stop can fire while the bid is still above the target), the
decision names the rule that protects what is left; the whole position closes either way.

Gains and losses are judged on the price the position can be sold at, the bid (every
position here is long: strikeflow buys options to open and holds shares long). The mid
would count half the spread as profit that no sell order receives: a take profit would
fire on a price that is not there, and a stop would fire late. The trailing stop compares
the mark with the mark's own high-water mark, like with like, so a wide spread alone does
not trip it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from strikeflow.domain.enums import ExitRule, ExitUrgency, Right
from strikeflow.domain.exit_position import (
    ExitQuote,
    HeldPosition,
    money_text,
    realized_pnl,
    update_high_water,
)
from strikeflow.domain.exit_rules import ExitRules
from strikeflow.domain.expiry import NEW_YORK, require_aware, trading_date

__all__ = [
    "RULE_LABELS",
    "URGENT_FROM",
    "ExitDecision",
    "ExitQuote",
    "HeldPosition",
    "decide_exit",
    "quote_problem",
    "realized_pnl",
    "update_high_water",
]

# A clock exit decided from this New York time on must be done before the close: the
# closing order may cross the spread rather than wait for a better price.
URGENT_FROM = time(15, 0)

RULE_LABELS: dict[ExitRule, str] = {
    ExitRule.EXPIRY: "expiry",
    ExitRule.TIME_OF_DAY: "time of day",
    ExitRule.STOP_LOSS: "stop loss",
    ExitRule.UNDERLYING_STOP: "underlying stop",
    ExitRule.TRAILING_STOP: "trailing stop",
    ExitRule.TAKE_PROFIT: "take profit",
    ExitRule.THETA: "theta",
    ExitRule.MAX_HOLDING: "max holding",
}

Figures = dict[str, float | int | str]
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """Close the position: which rule, why in words with the figures, and how urgently."""

    rule: ExitRule
    reason: str
    figures: Figures = field(default_factory=dict)
    urgency: ExitUrgency = ExitUrgency.ORDINARY


def decide_exit(
    position: HeldPosition, quote: ExitQuote | None, rules: ExitRules, now: datetime
) -> ExitDecision | None:
    """The first exit rule that fires for ``position`` at ``now``, or None (keep it)."""
    now = require_aware(now)
    fired = _expiry(position, rules, now) or _time_of_day(position, rules, now)
    if fired is None and quote is not None and quote_problem(quote, rules, now) is None:
        for check in (_stop_loss, _underlying_stop, _trailing_stop, _take_profit, _theta):
            fired = check(position, quote, rules)
            if fired is not None:
                break
    fired = fired or _max_holding(position, rules, now)
    if fired is None:
        return None
    rule, detail, figures = fired
    return ExitDecision(
        rule=rule,
        reason=f"{RULE_LABELS[rule]}: {detail}",
        figures=figures,
        urgency=_urgency(position, rule, now),
    )


def quote_problem(quote: ExitQuote | None, rules: ExitRules, now: datetime) -> str | None:
    """Why ``quote`` may not judge prices (missing, stale, crossed), or None if it may."""
    if quote is None:
        return "no quote"
    if quote.quote_time is None:
        return "quote has no time"
    age = (require_aware(now) - quote.quote_time).total_seconds()
    if age > rules.max_quote_age_s:
        return f"quote is {age:.0f}s old, limit {rules.max_quote_age_s:g}s"
    if quote.bid is not None and quote.ask is not None and quote.bid > quote.ask:
        return f"quote is crossed: bid {money_text(quote.bid)} > ask {money_text(quote.ask)}"
    return None


Fired = tuple[ExitRule, str, Figures] | None


def _expiry(p: HeldPosition, rules: ExitRules, now: datetime) -> Fired:
    if not p.is_option or rules.close_at_dte is None or p.expiration is None:
        return None
    dte = (p.expiration - trading_date(now)).days
    if dte > rules.close_at_dte:
        return None
    detail = f"{dte} DTE (expires {p.expiration:%a %Y-%m-%d}), close at DTE <= {rules.close_at_dte}"
    return ExitRule.EXPIRY, detail, {"dte": dte, "close_at_dte": rules.close_at_dte}


def _time_of_day(p: HeldPosition, rules: ExitRules, now: datetime) -> Fired:
    if rules.time_exit is None:
        return None
    local = now.astimezone(NEW_YORK)
    opened = trading_date(p.entry_time)
    figures: Figures = {"now": f"{local:%H:%M}", "time_exit": f"{rules.time_exit:%H:%M}"}
    if local.date() > opened:
        detail = (
            f"held since {opened}, past the day it was opened (flat by {rules.time_exit:%H:%M} ET)"
        )
        return ExitRule.TIME_OF_DAY, detail, figures | {"opened": str(opened)}
    if local.time() >= rules.time_exit:
        detail = f"{local:%H:%M} ET is at or past {rules.time_exit:%H:%M} ET, flat by then"
        return ExitRule.TIME_OF_DAY, detail, figures
    return None


def _stop_loss(p: HeldPosition, q: ExitQuote, rules: ExitRules) -> Fired:
    if rules.stop_loss_pct is None or q.bid is None:
        return None
    change = _pct_change(q.bid, p.entry_price)
    limit = -_dec(rules.stop_loss_pct)
    if change > limit:
        return None
    detail = (
        f"bid {money_text(q.bid)} is {change:+.1f}% of {_basis(p)}, limit -{rules.stop_loss_pct:g}%"
    )
    return ExitRule.STOP_LOSS, detail, _pnl_figures(p, q.bid, change, limit)


def _underlying_stop(p: HeldPosition, q: ExitQuote, rules: ExitRules) -> Fired:
    limit = rules.underlying_stop_pct
    if not p.is_option or limit is None or q.spot is None or p.entry_spot is None:
        return None
    move = _pct_change(q.spot, p.entry_spot)
    against = -move if p.right is Right.CALL else move
    if against < _dec(limit):
        return None
    sign, kind = ("-", "call") if p.right is Right.CALL else ("+", "put")
    detail = (
        f"{p.underlying} {money_text(q.spot)} is {move:+.1f}%"
        f" from {money_text(p.entry_spot)} at entry,"
        f" limit {sign}{limit:g}% for a {kind}"
    )
    figures: Figures = {
        "spot": float(q.spot),
        "entry_spot": float(p.entry_spot),
        "move_pct": _round(move),
        "limit_pct": float(f"{sign}{limit}"),
    }
    return ExitRule.UNDERLYING_STOP, detail, figures


def _trailing_stop(p: HeldPosition, q: ExitQuote, rules: ExitRules) -> Fired:
    if rules.trailing_stop_pct is None or q.mark is None:
        return None
    peak = max(p.peak, q.mark)
    gain = _pct_change(peak, p.entry_price)
    if gain < _dec(rules.trailing_arm_pct):
        return None
    drop = (peak - q.mark) / peak * HUNDRED
    if drop < _dec(rules.trailing_stop_pct):
        return None
    detail = (
        f"mark {money_text(q.mark)} is {drop:.1f}% below the high {money_text(peak)}"
        f" ({gain:+.1f}% of {_basis(p)}, armed from +{rules.trailing_arm_pct:g}%),"
        f" limit {rules.trailing_stop_pct:g}%"
    )
    figures: Figures = {
        "mark": float(q.mark),
        "high_water": float(peak),
        "entry_price": float(p.entry_price),
        "drop_pct": _round(drop),
        "limit_pct": float(rules.trailing_stop_pct),
        "arm_pct": float(rules.trailing_arm_pct),
    }
    return ExitRule.TRAILING_STOP, detail, figures


def _take_profit(p: HeldPosition, q: ExitQuote, rules: ExitRules) -> Fired:
    if rules.take_profit_pct is None or q.bid is None:
        return None
    change = _pct_change(q.bid, p.entry_price)
    target = _dec(rules.take_profit_pct)
    if change < target:
        return None
    detail = (
        f"bid {money_text(q.bid)} is {change:+.1f}% of {_basis(p)},"
        f" target +{rules.take_profit_pct:g}%"
    )
    return ExitRule.TAKE_PROFIT, detail, _pnl_figures(p, q.bid, change, target)


def _theta(p: HeldPosition, q: ExitQuote, rules: ExitRules) -> Fired:
    limit = rules.theta_max_pct
    if not p.is_option or limit is None or q.theta is None or q.mark is None or q.mark <= 0:
        return None
    decay = abs(_dec(q.theta))
    share = decay / q.mark * HUNDRED
    if share < _dec(limit):
        return None
    detail = (
        f"decay {decay:.4g} a day is {share:.1f}% of the mark {money_text(q.mark)},"
        f" limit {limit:g}%"
    )
    figures: Figures = {
        "theta": float(q.theta),
        "mark": float(q.mark),
        "decay_pct": _round(share),
        "limit_pct": float(limit),
    }
    return ExitRule.THETA, detail, figures


def _max_holding(p: HeldPosition, rules: ExitRules, now: datetime) -> Fired:
    if rules.max_holding_hours is None:
        return None
    held = now - p.entry_time
    if held < timedelta(hours=rules.max_holding_hours):
        return None
    hours = held.total_seconds() / 3600
    detail = (
        f"held {hours:.1f} h since {p.entry_time:%Y-%m-%d %H:%M %Z},"
        f" limit {rules.max_holding_hours:g} h"
    )
    return (
        ExitRule.MAX_HOLDING,
        detail,
        {"held_hours": round(hours, 2), "limit_hours": rules.max_holding_hours},
    )


def _urgency(p: HeldPosition, rule: ExitRule, now: datetime) -> ExitUrgency:
    """Urgent: any exit on (or after) an option's expiry day, and a clock exit near the close."""
    if p.is_option and p.expiration is not None and p.expiration <= trading_date(now):
        return ExitUrgency.URGENT
    clock = rule in (ExitRule.EXPIRY, ExitRule.TIME_OF_DAY)
    if clock and now.astimezone(NEW_YORK).time() >= URGENT_FROM:
        return ExitUrgency.URGENT
    return ExitUrgency.ORDINARY


def _pnl_figures(p: HeldPosition, price: Decimal, change: Decimal, limit: Decimal) -> Figures:
    return {
        "bid": float(price),
        "entry_price": float(p.entry_price),
        "pnl_pct": _round(change),
        "limit_pct": float(limit),
    }


def _basis(p: HeldPosition) -> str:
    return f"{'premium' if p.is_option else 'entry price'} {money_text(p.entry_price)}"


def _pct_change(price: Decimal, base: Decimal) -> Decimal:
    return (price - base) / base * HUNDRED


def _dec(value: float) -> Decimal:
    """A rules-file figure as the Decimal it reads as (35.0 is 35, not 34.99999...)."""
    return Decimal(repr(value))


def _round(value: Decimal) -> float:
    return float(round(value, 4))
