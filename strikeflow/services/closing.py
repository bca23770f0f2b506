"""Asking for a close: a CLOSE recommendation per entry, and its chain, at most one in flight.

Every close, whoever asks (``strikeflow close`` at a shell, the ``strikeflow.close``
task, an exit rule that fired), is stored as a recommendation (action SELL on the held
instrument, source ``manual_close`` or ``exit``) with the id
``close-<entry execution id>-<n>`` (``services.closing_ids``), then sent through the
closing chain (``tasks.chains.chain_for_close``) and marked dispatched, in the order
every sender keeps (``chain_sending.send_and_mark``).

At most one close of an entry is in flight: while a close recommendation of the entry is
pending or dispatched, a close order of it may still fill at the venue, or another close
(a bearish stock signal, ``dispatch_close``) has claimed part of it (``domain.claims``),
another request sends nothing and names the one in flight. Two requests at the same moment
compute the same id; the insert keeps one, and only its writer sends. A partial close
leaves the rest for the next request (``n`` + 1).

Arguments are checked before anything is stored: an unknown execution, an execution
that is not an entry still held, a symbol with nothing held, a quantity that is not a
positive number (a whole number of contracts) or more than is left of the entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from strikeflow.domain.claims import CloseClaims
from strikeflow.domain.enums import (
    Action,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
)
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.exits import ExitDecision
from strikeflow.domain.position_book import quantity_text
from strikeflow.domain.records import Execution, Recommendation, shown, utcnow
from strikeflow.services.chain_sending import send_and_mark
from strikeflow.services.closing_ids import CLOSE_ID, close_ids_prefix, close_recommendation_id
from strikeflow.services.closing_ports import CloseRequests, EntryReads
from strikeflow.services.closing_size import claims_of, held, in_flight, remaining
from strikeflow.services.closing_steps import QUANTITY_FEATURE

EXECUTION_ID = re.compile(r"[1-9][0-9]{0,18}")
SYMBOL = re.compile(r"[A-Z][A-Z0-9.\-/]{0,20}")
MAX_QUANTITY = Decimal(10) ** 9


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """What one request did for one entry: the close it stored and sent, or the close
    already in flight it found (``sent`` False)."""

    entry_execution_id: int
    recommendation_id: str
    sent: bool
    quantity: Decimal | None
    remaining: Decimal
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_execution_id": self.entry_execution_id,
            "recommendation_id": self.recommendation_id,
            "sent": self.sent,
            "quantity": None if self.quantity is None else quantity_text(self.quantity),
            "remaining": quantity_text(self.remaining),
            "why": self.why,
        }


def close_target(value: object) -> int | str:
    """An execution id (digits) or a symbol (a ticker or an OCC symbol, any case)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.isascii():
        raise InvalidRecord("target", f"must be an execution id or a symbol, got {shown(value)}")
    text = value.strip()
    if EXECUTION_ID.fullmatch(text):
        return int(text)
    if SYMBOL.fullmatch(text.upper()):
        return text.upper()
    raise InvalidRecord("target", f"is neither an execution id nor a symbol: {shown(value)}")


def close_quantity_argument(value: object) -> Decimal | None:
    """A quantity to close (None: all that is held): a positive finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        raise InvalidRecord("qty", f"must be a positive number, got {shown(value)}")
    try:
        qty = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidRecord("qty", f"must be a positive number, got {shown(value)}") from None
    if not qty.is_finite() or qty <= 0 or qty >= MAX_QUANTITY:
        raise InvalidRecord("qty", f"must be a positive number, got {shown(value)}")
    return qty


def request_close(
    entries: EntryReads,
    requests: CloseRequests,
    send_chain: Callable[[str], Any],
    target: object,
    qty: object = None,
    *,
    source: RecommendationSource = RecommendationSource.MANUAL_CLOSE,
    reason: str | None = None,
    now: datetime | None = None,
) -> list[CloseRequested]:
    """Close ``target``: one execution (its id), or every entry held on a symbol. With
    ``qty``, that much of the one entry named (a symbol holding several entries needs
    its execution id)."""
    goal = close_target(target)
    asked = close_quantity_argument(qty)
    held_now = _entries(entries, goal)
    if asked is not None:
        if len(held_now) > 1:
            ids = ", ".join(str(e.id) for e, _ in held_now[:5])
            raise InvalidRecord(
                "qty", f"{goal} holds {len(held_now)} entries ({ids}): name one execution id"
            )
        entry, claims = held_now[0]
        _check_quantity(entry, claims, asked)
    return [
        open_close(
            entries, requests, send_chain, entry, asked, source=source, reason=reason, now=now
        )
        for entry, _ in held_now
    ]


def request_exit(
    entries: EntryReads,
    requests: CloseRequests,
    send_chain: Callable[[str], Any],
    entry_execution_id: int,
    decision: ExitDecision,
    now: datetime | None = None,
) -> CloseRequested:
    """An exit rule fired on an entry: its close (everything left), carrying the rule,
    its reason and the figures that fired it; nothing sent while one is in flight."""
    entry = _entry(entries, entry_execution_id)
    features = {
        "exit": {
            "rule": decision.rule.value,
            "reason": decision.reason,
            "figures": dict(decision.figures),
            "urgency": decision.urgency.value,
        }
    }
    return open_close(
        entries,
        requests,
        send_chain,
        entry,
        None,
        source=RecommendationSource.EXIT,
        reason=decision.reason,
        features=features,
        now=now,
    )


def open_close(
    entries: EntryReads,
    requests: CloseRequests,
    send_chain: Callable[[str], Any],
    entry: Execution,
    qty: Decimal | None,
    *,
    source: RecommendationSource,
    reason: str | None = None,
    features: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> CloseRequested:
    """Store the entry's next close and send it, unless one is in flight."""
    assert entry.id is not None
    closes = entries.closes_of(entry.id)
    claims = claims_of(entries, entry)
    left = claims.unclaimed
    siblings = requests.starting_with(close_ids_prefix(entry.id))
    active = [r.id for r in siblings if not r.status.terminal]
    active += [c.recommendation_id for c in in_flight(closes)]
    active += [rid for rid in claims.claimants if rid not in active]
    if active:
        return CloseRequested(entry.id, active[0], False, qty, left, "a close is in flight")
    numbers = [int(m.group(2)) for r in siblings if (m := CLOSE_ID.fullmatch(r.id))]
    rid = close_recommendation_id(entry.id, max(numbers, default=0) + 1)
    # created_at: when the close was decided, on the decision's clock (an exit minute is
    # the market's; ``manage_positions`` compares it with the next minutes). updated_at:
    # when the record was touched, on the records' own clock, the wall's: a close whose
    # sender died before sending it is found stale by recovery and the stuck sweep, which
    # age records by the wall, even when the market runs in simulated time.
    touched = utcnow()
    at = now or touched
    stored, created = requests.insert(
        Recommendation(
            id=rid,
            ticker=entry.ticker,
            action=Action.SELL,
            instrument_type=entry.instrument_type,
            strategy_type=entry.strategy_type,
            confidence=1.0,
            source=source,
            features={
                "closes_execution_id": entry.id,
                **({} if qty is None else {QUANTITY_FEATURE: str(qty)}),
                **dict(features or {}),
            },
            reason=reason or f"close execution {entry.id}",
            created_at=at,
            updated_at=touched,
        )
    )
    if not created:  # another request computed the same id first: it sends
        return CloseRequested(entry.id, stored.id, False, qty, left, "a close is in flight")
    send_and_mark(requests, send_chain, rid)
    return CloseRequested(entry.id, rid, True, qty, left, "sent")


def _entries(entries: EntryReads, goal: int | str) -> list[tuple[Execution, CloseClaims]]:
    """The entries ``goal`` names that still hold something, each with what its closes
    claim of it (a close asks for at most what is unclaimed)."""
    if isinstance(goal, int):
        entry = _entry(entries, goal)
        return [(entry, claims_of(entries, entry))]
    found = []
    for entry in entries.open_entries(goal):
        assert entry.id is not None
        if remaining(entry, entries.closes_of(entry.id)) > 0:
            found.append((entry, claims_of(entries, entry)))
    if not found:
        raise InvalidRecord("target", f"nothing is held on {goal}")
    return found


def _entry(entries: EntryReads, execution_id: int) -> Execution:
    entry = entries.execution_by_id(execution_id)
    if entry is None:
        raise InvalidRecord("target", f"no execution {execution_id}")
    if entry.position_effect is not PositionEffect.OPEN:
        raise InvalidRecord("target", f"execution {execution_id} is a close, not an entry")
    if held(entry) <= 0:
        raise InvalidRecord("target", f"execution {execution_id} filled nothing: nothing held")
    if remaining(entry, entries.closes_of(execution_id)) <= 0:
        raise InvalidRecord("target", f"execution {execution_id} is closed already")
    return entry


def _check_quantity(entry: Execution, claims: CloseClaims, qty: Decimal) -> None:
    if entry.instrument_type is not InstrumentType.STOCK and qty != qty.to_integral_value():
        raise InvalidRecord("qty", f"options close in whole contracts, got {qty}")
    left = claims.unclaimed
    if qty > left:
        closing = claims.open_orders + claims.decided
        being = f" ({quantity_text(closing)} being closed)" if closing > 0 else ""
        raise InvalidRecord(
            "qty",
            f"{quantity_text(qty)} is more than the {quantity_text(left)} left"
            f" of execution {entry.id}{being}",
        )
